-- The audit trail: append-only, hash-chained. Each entry's hash covers its
-- content and the previous entry's hash, so changing, deleting or
-- reordering an entry breaks the chain from there on (`npm run audit --
-- verify`). The trigger refuses UPDATE, DELETE and TRUNCATE for every
-- database role the application uses; signed checkpoints in object storage
-- catch a rewrite by someone who can bypass the trigger.
CREATE TABLE audit_log (
  seq         bigint PRIMARY KEY CHECK (seq > 0),
  at          timestamptz NOT NULL,
  actor       text NOT NULL,
  actor_role  text,
  action      text NOT NULL,
  subject     text,
  flagged     boolean NOT NULL DEFAULT false,
  details     jsonb NOT NULL,
  prev_hash   text NOT NULL,
  hash        text NOT NULL UNIQUE
);
CREATE INDEX audit_log_subject_idx ON audit_log (subject, seq);
CREATE INDEX audit_log_flagged_idx ON audit_log (seq) WHERE flagged;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Everyone admitted to a visit, so that nobody who took part in it
-- approves the playback of its recording.
CREATE TABLE room_attendance (
  room_id          text NOT NULL REFERENCES consultation_rooms (room_id),
  user_id          text NOT NULL,
  role             text NOT NULL,
  first_admitted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (room_id, user_id)
);

-- What playback approval needs to know about a recording without opening
-- it: the department it belongs to and its sensitive categories.
ALTER TABLE recordings ADD COLUMN department text;
ALTER TABLE recordings ADD COLUMN categories jsonb NOT NULL DEFAULT '[]';

-- A request to play one recording back (or a break-glass access). The tiers
-- and grant terms are a snapshot of the policy when the request was made:
-- a later policy change never changes it.
CREATE TABLE playback_requests (
  request_id       text PRIMARY KEY,
  recording_id     text NOT NULL REFERENCES recordings (recording_id),
  kind             text NOT NULL CHECK (kind IN ('approval', 'break_glass')),
  requester_id     text NOT NULL,
  requester_role   text NOT NULL,
  requester_name   text,
  purpose          text NOT NULL,
  case_reference   text NOT NULL,
  department       text,
  categories       jsonb NOT NULL,
  tiers            jsonb NOT NULL,
  policy_hash      text NOT NULL,
  grant_hours      numeric NOT NULL,
  max_plays        integer NOT NULL CHECK (max_plays > 0),
  status           text NOT NULL CHECK (status IN ('pending', 'granted', 'denied', 'expired', 'revoked')),
  created_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  decided_at       timestamptz,
  grant_expires_at timestamptz,
  plays_used       integer NOT NULL DEFAULT 0 CHECK (plays_used >= 0),
  ended_by         text,
  end_reason       text,
  review_tier      jsonb,
  review_due_at    timestamptz,
  reviewed_by      text,
  reviewed_at      timestamptz,
  review_outcome   text CHECK (review_outcome IN ('justified', 'unjustified')),
  review_comment   text,
  CHECK (plays_used <= max_plays)
);
CREATE INDEX playback_requests_status_idx ON playback_requests (status, expires_at);
CREATE INDEX playback_requests_recording_idx ON playback_requests (recording_id);

-- One decision per tier, in tier order; each signed by the server's key
-- over its canonical content.
CREATE TABLE approval_decisions (
  request_id          text NOT NULL REFERENCES playback_requests (request_id),
  tier_index          integer NOT NULL CHECK (tier_index >= 0),
  tier_id             text NOT NULL,
  decision            text NOT NULL CHECK (decision IN ('approve', 'deny')),
  approver_id         text NOT NULL,
  approver_name       text,
  approver_position   text NOT NULL,
  approver_department text,
  comment             text NOT NULL,
  decided_at          timestamptz NOT NULL,
  signature_key_id    text NOT NULL,
  signature           text NOT NULL,
  PRIMARY KEY (request_id, tier_index),
  UNIQUE (request_id, approver_id)
);
