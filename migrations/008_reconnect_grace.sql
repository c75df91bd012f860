-- Reconnects viewers never notice (issue 11): a publisher that drops and comes back with the same
-- key within RECONNECT_GRACE_SECONDS continues the same publish session (and the same playlists).
-- While it is away the stream is `reconnecting`.
ALTER TABLE streams DROP CONSTRAINT streams_status_check;
ALTER TABLE streams ADD CONSTRAINT streams_status_check
  CHECK (status IN ('offline', 'starting', 'live', 'reconnecting', 'failed'));

-- which connection of the publisher holds the publish now: 1 for the first, one more for each
-- reconnect or takeover; the ingest's calls name theirs, so a superseded connection's late end
-- (or heartbeat) can never end or touch the publish its successor continues
ALTER TABLE publish_sessions ADD COLUMN connection integer NOT NULL DEFAULT 1;
-- set while the publisher is away (the stream `reconnecting`): the publish ends at this moment
-- unless a publisher with the key comes back first (the database's clock, for every role alike)
ALTER TABLE publish_sessions ADD COLUMN reconnect_deadline timestamptz;
-- what a worker needs to pull the current connection: {pullUrl, source} (the job's payload
-- holds the first connection's; a reconnect may land on another ingest, or a new resolution)
ALTER TABLE publish_sessions ADD COLUMN feed jsonb;
