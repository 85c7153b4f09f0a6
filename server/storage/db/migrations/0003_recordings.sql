-- Consent to record, given for one visit (room) by or for its patient.
-- Withdrawal is recorded, never deleted: the record shows who agreed to
-- what text, when, how, and when they changed their mind.
CREATE TABLE recording_consents (
  consent_id       text PRIMARY KEY,
  room_id          text NOT NULL REFERENCES consultation_rooms (room_id),
  patient_user_id  text NOT NULL,
  method           text NOT NULL CHECK (method IN ('in_app', 'verbal_witnessed', 'written')),
  recorded_by      text NOT NULL,
  text_version     text NOT NULL,
  consented_at     timestamptz NOT NULL DEFAULT now(),
  withdrawn_at     timestamptz,
  withdrawn_by     text
);
CREATE INDEX recording_consents_active_idx ON recording_consents (room_id) WHERE withdrawn_at IS NULL;

-- One recording of a visit. Media is in object storage, sealed with the
-- recording's data key; the wrapped key is in recording_keys (destroying
-- that row makes the media unreadable for good).
CREATE TABLE recordings (
  recording_id     text PRIMARY KEY,
  room_id          text NOT NULL REFERENCES consultation_rooms (room_id),
  consent_id       text NOT NULL REFERENCES recording_consents (consent_id),
  status           text NOT NULL CHECK (status IN ('recording', 'finalizing', 'complete', 'interrupted', 'destroyed')),
  stop_reason      text,
  started_by       text NOT NULL,
  started_at       timestamptz NOT NULL DEFAULT now(),
  ended_at         timestamptz,
  segment_seconds  integer NOT NULL,
  retention_years  numeric NOT NULL,
  retain_until     timestamptz NOT NULL,
  legal_hold       boolean NOT NULL DEFAULT false,
  chain_head       text NOT NULL,
  next_seq         integer NOT NULL DEFAULT 1,
  manifest_key     text,
  destroyed_at     timestamptz
);
CREATE INDEX recordings_status_idx ON recordings (status);
CREATE INDEX recordings_retention_idx ON recordings (retain_until) WHERE status IN ('complete', 'interrupted');

CREATE TABLE recording_keys (
  recording_id     text PRIMARY KEY REFERENCES recordings (recording_id),
  key_id           text NOT NULL,
  algorithm        text NOT NULL,
  wrapped_key      bytea NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE recording_tracks (
  recording_id     text NOT NULL REFERENCES recordings (recording_id),
  track_id         text NOT NULL,
  user_id          text NOT NULL,
  role             text NOT NULL,
  source           text NOT NULL,
  kind             text NOT NULL,
  codec            text NOT NULL,
  container        text NOT NULL,
  start_offset_ms  integer NOT NULL,
  end_offset_ms    integer,
  PRIMARY KEY (recording_id, track_id)
);

-- Sealed segments in sealing order (seq), hash-chained. A segment is first
-- spooled (ciphertext on local disk), then uploaded.
CREATE TABLE recording_segments (
  recording_id     text NOT NULL REFERENCES recordings (recording_id),
  seq              integer NOT NULL CHECK (seq > 0),
  track_id         text NOT NULL,
  idx              integer NOT NULL CHECK (idx >= 0),
  object_key       text NOT NULL,
  bytes            integer NOT NULL,
  sha256           text NOT NULL,
  chain            text NOT NULL,
  duration_ms      integer NOT NULL,
  state            text NOT NULL CHECK (state IN ('spooled', 'uploaded')),
  sealed_at        timestamptz NOT NULL DEFAULT now(),
  uploaded_at      timestamptz,
  PRIMARY KEY (recording_id, seq),
  UNIQUE (recording_id, track_id, idx)
);
CREATE INDEX recording_segments_pending_idx ON recording_segments (sealed_at) WHERE state = 'spooled';
