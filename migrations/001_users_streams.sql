-- Users (enough for the admin to sign in), streams and their publish sessions.

CREATE TABLE users (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email         text NOT NULL,
  name          text NOT NULL,
  password_hash text,
  role          text NOT NULL DEFAULT 'attendee' CHECK (role IN ('admin', 'moderator', 'speaker', 'attendee')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE streams (
  id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  title                       text NOT NULL,
  -- SHA-256 of the stream key; the key itself is never stored.
  key_digest                  bytea NOT NULL UNIQUE,
  playback_id                 text NOT NULL UNIQUE,
  profile                     text NOT NULL DEFAULT 'default',
  enabled                     boolean NOT NULL DEFAULT true,
  status                      text NOT NULL DEFAULT 'offline' CHECK (status IN ('offline', 'starting', 'live', 'failed')),
  status_reason               text,
  current_publish_session_id  uuid,
  renditions                  jsonb NOT NULL DEFAULT '[]',
  progress                    jsonb,
  created_by                  uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE publish_sessions (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  stream_id           uuid NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  ingest_id           text NOT NULL,
  remote_address      text,
  started_at          timestamptz NOT NULL DEFAULT now(),
  -- the ingest touches this while the publisher is connected; a stale value frees the stream
  last_seen_at        timestamptz NOT NULL DEFAULT now(),
  live_at             timestamptz,
  ended_at            timestamptz,
  end_reason          text,
  video_codec         text,
  audio_codec         text,
  width               integer,
  height              integer,
  fps                 numeric(7, 3),
  video_bitrate_kbps  integer,
  audio_bitrate_kbps  integer,
  worker_id           text,
  transcode_starts    integer NOT NULL DEFAULT 0
);
CREATE INDEX publish_sessions_stream_idx ON publish_sessions (stream_id, started_at DESC);

ALTER TABLE streams ADD CONSTRAINT streams_current_publish_session_fk
  FOREIGN KEY (current_publish_session_id) REFERENCES publish_sessions (id) ON DELETE SET NULL;

-- What a broadcaster is told about their publish (refusals, codec problems, restarts).
CREATE TABLE publish_session_log (
  id                  bigserial PRIMARY KEY,
  publish_session_id  uuid NOT NULL REFERENCES publish_sessions (id) ON DELETE CASCADE,
  at                  timestamptz NOT NULL DEFAULT now(),
  level               text NOT NULL CHECK (level IN ('info', 'warn', 'error')),
  message             text NOT NULL
);
CREATE INDEX publish_session_log_session_idx ON publish_session_log (publish_session_id, id);

-- At most one open publish session per stream: the database settles two racing publishers.
CREATE UNIQUE INDEX publish_sessions_one_open_per_stream ON publish_sessions (stream_id) WHERE ended_at IS NULL;
