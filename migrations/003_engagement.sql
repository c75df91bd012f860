-- Live engagement per event session: chat (with settings, pins, deletions), mutes and bans per
-- event, polls with one vote per user, questions with one upvote per user.

-- One row per session that has chat: its settings, and the lock that orders its messages.
-- A send takes this row (UPDATE … RETURNING), inserts the message and publishes it before
-- committing, so ids, Redis order and commit order agree within a session.
CREATE TABLE session_chat (
  session_id          uuid PRIMARY KEY REFERENCES event_sessions (id) ON DELETE CASCADE,
  enabled             boolean NOT NULL DEFAULT true,
  slow_mode_seconds   integer NOT NULL DEFAULT 0 CHECK (slow_mode_seconds BETWEEN 0 AND 3600),
  attendees_only      boolean NOT NULL DEFAULT false,
  message_count       bigint NOT NULL DEFAULT 0,
  updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE chat_messages (
  id             bigserial PRIMARY KEY,
  session_id     uuid NOT NULL REFERENCES event_sessions (id) ON DELETE CASCADE,
  user_id        uuid REFERENCES users (id) ON DELETE SET NULL,
  text           text NOT NULL,
  client_msg_id  text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  pinned_at      timestamptz,
  pinned_by      uuid REFERENCES users (id) ON DELETE SET NULL,
  deleted_at     timestamptz,
  deleted_by     uuid REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX chat_messages_session_idx ON chat_messages (session_id, id);
-- a client re-sending after a reconnect gets its first message back, not a second one
CREATE UNIQUE INDEX chat_messages_client_msg_key ON chat_messages (session_id, user_id, client_msg_id) WHERE client_msg_id IS NOT NULL;
CREATE INDEX chat_messages_pinned_idx ON chat_messages (session_id) WHERE pinned_at IS NOT NULL AND deleted_at IS NULL;

-- Moderation per event: a mute stops chat and questions, a ban also shuts the event's rooms.
CREATE TABLE event_restrictions (
  event_id    uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('mute', 'ban')),
  until       timestamptz,
  reason      text NOT NULL DEFAULT '',
  created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, user_id, kind)
);

CREATE TABLE polls (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id  uuid NOT NULL REFERENCES event_sessions (id) ON DELETE CASCADE,
  question    text NOT NULL,
  created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  closed_at   timestamptz
);
CREATE INDEX polls_session_idx ON polls (session_id, created_at, id);

CREATE TABLE poll_options (
  id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  poll_id   uuid NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
  position  integer NOT NULL,
  text      text NOT NULL,
  UNIQUE (poll_id, position)
);

-- One vote per user per poll; changing it moves the row to another option.
CREATE TABLE poll_votes (
  poll_id    uuid NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  option_id  uuid NOT NULL REFERENCES poll_options (id) ON DELETE CASCADE,
  voted_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (poll_id, user_id)
);
CREATE INDEX poll_votes_option_idx ON poll_votes (poll_id, option_id);

CREATE TABLE questions (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id   uuid NOT NULL REFERENCES event_sessions (id) ON DELETE CASCADE,
  user_id      uuid REFERENCES users (id) ON DELETE SET NULL,
  text         text NOT NULL,
  upvotes      integer NOT NULL DEFAULT 0 CHECK (upvotes >= 0),
  created_at   timestamptz NOT NULL DEFAULT now(),
  answered_at  timestamptz,
  answered_by  uuid REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX questions_session_idx ON questions (session_id, created_at, id);

-- One upvote per user per question.
CREATE TABLE question_upvotes (
  question_id  uuid NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (question_id, user_id)
);
