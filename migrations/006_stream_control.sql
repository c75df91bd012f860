-- Streams you can control (issue 11): `POST /api/streams/:id/stop` drops the publisher and
-- refuses the stream's publishes until this moment (STOP_COOLOFF_SECONDS after the stop).
ALTER TABLE streams ADD COLUMN stopped_until timestamptz;
