-- Scale-out (issue 8): a recording runs on one node at a time. When that node
-- is lost, the recording continues on the node its room moves to, as a new
-- series of the same recording; segments that were sealed on the lost node
-- but never reached object storage are declared lost, so the manifest names
-- the gap instead of failing verification.

-- The node running the recording now (NULL: a single-node deployment, or no
-- node since its node was lost).
ALTER TABLE recordings ADD COLUMN node_id text;
CREATE INDEX recordings_running_node_idx ON recordings (node_id) WHERE status = 'recording';

-- Which series a track belongs to (1 unless the recording moved).
ALTER TABLE recording_tracks ADD COLUMN series integer NOT NULL DEFAULT 1 CHECK (series > 0);

CREATE TABLE recording_series (
  recording_id     text NOT NULL REFERENCES recordings (recording_id),
  series           integer NOT NULL CHECK (series > 0),
  node_id          text NOT NULL,
  started_at       timestamptz NOT NULL DEFAULT now(),
  -- When its node stopped recording (the last sealed segment, for a lost node;
  -- the hand-over, for a node that shut down and passed it on).
  ended_at         timestamptz,
  end_reason       text CHECK (end_reason IN ('node_lost', 'handed_over')),
  PRIMARY KEY (recording_id, series)
);

CREATE TABLE recording_lost_segments (
  recording_id     text NOT NULL,
  seq              integer NOT NULL,
  reason           text NOT NULL CHECK (reason IN ('node_lost')),
  -- The node that found it missing.
  noted_by         text NOT NULL,
  noted_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (recording_id, seq),
  FOREIGN KEY (recording_id, seq) REFERENCES recording_segments (recording_id, seq)
);
