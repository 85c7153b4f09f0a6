-- Consultation rooms as the server knows them: when each was first opened
-- and whether (and by whom) the visit was ended. An ended visit cannot be
-- re-entered.
CREATE TABLE consultation_rooms (
  room_id        text PRIMARY KEY,
  opened_at      timestamptz NOT NULL DEFAULT now(),
  ended_at       timestamptz,
  ended_by       text,
  end_reason     text CHECK (end_reason IN ('visit_ended'))
);

-- Chat kept with the visit, in the order participants saw it (seq), so it
-- can become part of the consultation record. Identifiers and role only:
-- the display name is what the sender's token said at the time.
CREATE TABLE room_chat_messages (
  room_id        text NOT NULL REFERENCES consultation_rooms (room_id),
  seq            integer NOT NULL CHECK (seq > 0),
  sender_user_id text NOT NULL,
  sender_role    text NOT NULL,
  sender_name    text,
  body           text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 2000),
  sent_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (room_id, seq)
);
