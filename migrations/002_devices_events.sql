-- Device sessions behind every token, one-time set-password tokens, events with their sessions,
-- speakers and attendees.

-- One row per sign-in. A token names its device; revoking the device kills the token at once.
CREATE TABLE devices (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  user_agent    text NOT NULL DEFAULT '',
  ip            text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz
);
CREATE INDEX devices_user_idx ON devices (user_id, created_at DESC);

-- Imported accounts have no password until their one-time token is used. Only its SHA-256 is kept.
CREATE TABLE password_tokens (
  digest      bytea PRIMARY KEY,
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz
);
CREATE INDEX password_tokens_user_idx ON password_tokens (user_id);

CREATE INDEX users_created_idx ON users (created_at DESC, id DESC);

CREATE TABLE events (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  title           text NOT NULL,
  description     text NOT NULL DEFAULT '',
  starts_at       timestamptz NOT NULL,
  ends_at         timestamptz NOT NULL,
  timezone        text NOT NULL DEFAULT 'UTC',
  status          text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
  visibility      text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'unlisted', 'private')),
  attendee_limit  integer CHECK (attendee_limit IS NULL OR attendee_limit > 0),
  -- kept beside the limit so a join is one conditional UPDATE on this row (the row lock serialises joins)
  attendee_count  integer NOT NULL DEFAULT 0 CHECK (attendee_count >= 0),
  branding        jsonb NOT NULL DEFAULT '{}',
  created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_at > starts_at),
  CHECK (attendee_limit IS NULL OR attendee_count <= attendee_limit)
);
CREATE INDEX events_starts_idx ON events (starts_at, id);
CREATE INDEX events_ends_idx ON events (ends_at, id);

CREATE TABLE event_attendees (
  event_id   uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  joined_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, user_id)
);
CREATE INDEX event_attendees_user_idx ON event_attendees (user_id);

CREATE TABLE event_sessions (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id     uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  title        text NOT NULL,
  description  text NOT NULL DEFAULT '',
  starts_at    timestamptz NOT NULL,
  ends_at      timestamptz NOT NULL,
  stream_id    uuid REFERENCES streams (id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_at > starts_at)
);
CREATE INDEX event_sessions_event_idx ON event_sessions (event_id, starts_at, id);
CREATE INDEX event_sessions_stream_idx ON event_sessions (stream_id) WHERE stream_id IS NOT NULL;

CREATE TABLE session_speakers (
  session_id  uuid NOT NULL REFERENCES event_sessions (id) ON DELETE CASCADE,
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  position    integer NOT NULL DEFAULT 0,
  PRIMARY KEY (session_id, user_id)
);
CREATE INDEX session_speakers_user_idx ON session_speakers (user_id);
