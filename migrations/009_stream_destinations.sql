-- Relay destinations (issue 12): where a live stream is also sent (YouTube, Twitch, any RTMP(S)
-- server). The destination's stream key is write-only: stored encrypted (AES-256-GCM, the key
-- named by key_id from RELAY_KEYS; the destination's id is the additional data, so a ciphertext
-- copied onto another row does not decrypt), never returned. key_hint is its last 4 characters.
-- The status columns are written by the relay (worker) and read by the API, /metrics and /ws.
CREATE TABLE stream_destinations (
  id              uuid PRIMARY KEY,
  stream_id       uuid NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  name            text NOT NULL,
  url             text NOT NULL,           -- rtmp:// or rtmps://, never with the key
  key_ciphertext  bytea NOT NULL,          -- ciphertext followed by the 16-byte GCM tag
  key_nonce       bytea NOT NULL,          -- 12 bytes, random per encryption
  key_id          text NOT NULL,           -- which RELAY_KEYS entry encrypted it
  key_hint        text NOT NULL,
  enabled         boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  -- written by the relay
  status          text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'connecting', 'live', 'retrying', 'failed')),
  bytes_sent      bigint NOT NULL DEFAULT 0,
  bitrate_kbps    double precision,
  connected_at    timestamptz,
  retries         integer NOT NULL DEFAULT 0,
  last_error      text,                    -- in words, never a secret
  status_updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stream_destinations_stream_idx ON stream_destinations (stream_id, created_at, id);
-- key rotation re-encrypts the rows of the keys that are no longer first
CREATE INDEX stream_destinations_key_idx ON stream_destinations (key_id);
