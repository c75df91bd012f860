-- Viewer analytics, rolled up from Redis once a minute by src/analytics/rollup.ts. Every row is
-- written with "set", never "add": rolling the same minute up again changes nothing, so a
-- roll-up that crashed half-way is simply run again.

-- Seconds (as ms) each viewer watched a session in one minute; a row means "seen that minute".
CREATE TABLE viewer_minutes (
  session_id  uuid NOT NULL REFERENCES event_sessions (id) ON DELETE CASCADE,
  minute      timestamptz NOT NULL,
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  watch_ms    integer NOT NULL CHECK (watch_ms BETWEEN 0 AND 60000),
  PRIMARY KEY (session_id, minute, user_id)
);
CREATE INDEX viewer_minutes_user_idx ON viewer_minutes (user_id, session_id);

-- Per session and minute: distinct viewers seen, and the most watching at once (sampled as
-- records arrive, see the README's "Viewer analytics").
CREATE TABLE session_minutes (
  session_id    uuid NOT NULL REFERENCES event_sessions (id) ON DELETE CASCADE,
  minute        timestamptz NOT NULL,
  viewers       integer NOT NULL CHECK (viewers >= 0),
  peak_viewers  integer NOT NULL CHECK (peak_viewers >= 0),
  peak_at       timestamptz,
  PRIMARY KEY (session_id, minute)
);

-- The same peak across all of an event's sessions (parallel tracks count a person once).
CREATE TABLE event_minutes (
  event_id      uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  minute        timestamptz NOT NULL,
  peak_viewers  integer NOT NULL CHECK (peak_viewers >= 0),
  peak_at       timestamptz,
  PRIMARY KEY (event_id, minute)
);

-- HLS requests served per rendition ('master' for the master playlist) and minute.
CREATE TABLE rendition_minutes (
  session_id  uuid NOT NULL REFERENCES event_sessions (id) ON DELETE CASCADE,
  minute      timestamptz NOT NULL,
  rendition   text NOT NULL,
  segments    integer NOT NULL CHECK (segments >= 0),
  bytes       bigint NOT NULL CHECK (bytes >= 0),
  PRIMARY KEY (session_id, minute, rendition)
);

-- What the transcoder managed during each publish (the worker records it with its progress).
ALTER TABLE publish_sessions
  ADD COLUMN speed_min   numeric(7, 3),
  ADD COLUMN speed_avg   numeric(7, 3),
  ADD COLUMN fps_min     numeric(7, 3),
  ADD COLUMN progress_samples integer NOT NULL DEFAULT 0,
  ADD COLUMN speed_samples integer NOT NULL DEFAULT 0; -- speed_avg is the mean over these
