-- At most one running recording per visit, whatever the timing of two
-- start requests (the service checks too; this is the last word).
CREATE UNIQUE INDEX recordings_one_running_idx ON recordings (room_id) WHERE status = 'recording';

-- Segments of a track that were lost before they could be sealed (for
-- example the spool disk was full). The manifest declares them, so that a
-- gap in a track is either declared here or detected as tampering.
CREATE TABLE recording_gaps (
  recording_id     text NOT NULL REFERENCES recordings (recording_id),
  track_id         text NOT NULL,
  idx              integer NOT NULL CHECK (idx >= 0),
  reason           text NOT NULL,
  noted_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (recording_id, track_id, idx)
);
