-- Recordings (issue 11): a broadcast's segments kept beyond the live window, one recording per
-- (publish, session) — a recording is split at session boundaries, so it belongs to exactly one
-- session (or none: a broadcast outside every session's window). Files live under
-- RECORDINGS_DIR/<id>/; this table is what the API and the finalise/retention jobs know of them.
ALTER TABLE streams ADD COLUMN record boolean;  -- null: the configured default (RECORD_BY_DEFAULT)

CREATE TABLE recordings (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- kept when the stream is deleted: the recording belongs to its session's event
  stream_id           uuid REFERENCES streams (id) ON DELETE SET NULL,
  session_id          uuid REFERENCES event_sessions (id) ON DELETE SET NULL,
  publish_session_id  uuid REFERENCES publish_sessions (id) ON DELETE SET NULL,
  status              text NOT NULL DEFAULT 'recording' CHECK (status IN ('recording', 'finalising', 'ready', 'failed')),
  started_at          timestamptz NOT NULL DEFAULT now(),
  ended_at            timestamptz,
  duration_seconds    double precision,
  size_bytes          bigint NOT NULL DEFAULT 0,
  -- the ladder's renditions the recording keeps (name, width, height, bandwidth, codecs, frameRate)
  renditions          jsonb NOT NULL DEFAULT '[]',
  -- why it failed or stopped early (a line the broadcaster may read; never a secret)
  status_reason       text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recordings_stream_idx ON recordings (stream_id, started_at DESC, id);
CREATE INDEX recordings_session_idx ON recordings (session_id, started_at DESC, id);
CREATE INDEX recordings_publish_idx ON recordings (publish_session_id);
CREATE INDEX recordings_status_idx ON recordings (status, ended_at);
