-- Delivery of what committed, in one order per session (issue 10).
--
-- A chat message takes the next number of its session (`seq`: 1, 2, 3, … with no gaps among
-- committed messages) from session_chat.last_seq, in the send's transaction, under the session's
-- chat row lock. Clients order by it and resync with history (?after=) when a number is missing.
ALTER TABLE session_chat ADD COLUMN last_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE chat_messages ADD COLUMN seq bigint;
UPDATE chat_messages m SET seq = n.seq
FROM (SELECT id, row_number() OVER (PARTITION BY session_id ORDER BY id) AS seq FROM chat_messages) n
WHERE n.id = m.id;
INSERT INTO session_chat (session_id) SELECT DISTINCT session_id FROM chat_messages ON CONFLICT DO NOTHING;
UPDATE session_chat c SET last_seq = coalesce((SELECT max(seq) FROM chat_messages m WHERE m.session_id = c.session_id), 0);
ALTER TABLE chat_messages ALTER COLUMN seq SET NOT NULL;
CREATE UNIQUE INDEX chat_messages_seq_key ON chat_messages (session_id, seq);
-- A row written without a seq (not by the chat service: fixtures, imports) takes the session's
-- next number the same way, under the same row lock.
CREATE FUNCTION chat_messages_assign_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO session_chat (session_id, last_seq, message_count) VALUES (NEW.session_id, 1, 1)
  ON CONFLICT (session_id) DO UPDATE SET last_seq = session_chat.last_seq + 1, message_count = session_chat.message_count + 1
  RETURNING last_seq INTO NEW.seq;
  RETURN NEW;
END $$;
CREATE TRIGGER chat_messages_seq BEFORE INSERT ON chat_messages FOR EACH ROW WHEN (NEW.seq IS NULL) EXECUTE FUNCTION chat_messages_assign_seq();
-- slow mode: a sender's latest message in the session (it used to live in Redis)
CREATE INDEX chat_messages_sender_idx ON chat_messages (session_id, user_id, id DESC);

-- The outbox: every frame of a session room that reports a change (chat, polls, questions) is
-- written here in the change's transaction and published on Redis only after COMMIT, by
-- whichever API node drains the session (one at a time: an advisory lock per session), oldest
-- first. A frame whose transaction rolled back never existed; a committed one waits here until
-- some node has published it (Redis down, a node killed between commit and publish).
CREATE TABLE realtime_outbox (
  id          bigserial PRIMARY KEY,
  session_id  uuid NOT NULL REFERENCES event_sessions (id) ON DELETE CASCADE,
  data        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX realtime_outbox_session_idx ON realtime_outbox (session_id, id);
