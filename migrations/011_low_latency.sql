-- Low-latency mode (issue 14): a stream's switch, read by the ingest as a publish starts (a change
-- applies to the next publish), and the mode each publish actually runs in.
ALTER TABLE streams ADD COLUMN low_latency boolean NOT NULL DEFAULT false;
ALTER TABLE publish_sessions ADD COLUMN low_latency boolean NOT NULL DEFAULT false;
-- what the ingest measured of a low-latency publisher (null when not measured: standard mode)
ALTER TABLE publish_sessions ADD COLUMN keyframe_interval_seconds real;
ALTER TABLE publish_sessions ADD COLUMN b_frames boolean;
