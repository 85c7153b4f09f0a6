-- The directory: institutions with their approved departments (诊疗科目),
-- practitioners and their real-name verification, cooperation agreements.
CREATE TABLE institutions (
  institution_id   text PRIMARY KEY,
  name             text NOT NULL,
  level            text NOT NULL CHECK (level IN ('village_clinic', 'county_hospital', 'tertiary_hospital')),
  departments      jsonb NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now()
);

-- Each institution's certificate authority. Its private key is sealed
-- (AES-256-GCM) under a data key wrapped by the hospital's KEK.
CREATE TABLE institution_cas (
  institution_id   text PRIMARY KEY REFERENCES institutions (institution_id),
  certificate_pem  text NOT NULL,
  sealed_key       bytea NOT NULL,
  kek_id           text NOT NULL,
  kek_algorithm    text NOT NULL,
  wrapped_key      bytea NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE practitioners (
  practitioner_id  text PRIMARY KEY,
  name             text NOT NULL,
  licence_number   text NOT NULL UNIQUE,
  institution_id   text NOT NULL REFERENCES institutions (institution_id),
  department       text NOT NULL,
  profession       text NOT NULL CHECK (profession IN ('village_doctor', 'physician', 'specialist', 'pharmacist')),
  status           text NOT NULL CHECK (status IN ('pending', 'verified', 'suspended')),
  -- Identity document: type, last four characters and a salted hash; never the number itself.
  id_document      jsonb,
  verified_by      text,
  verified_at      timestamptz,
  suspended_by     text,
  suspended_at     timestamptz,
  suspend_reason   text,
  certificate_pem  text,
  certificate_serial text,
  sealed_key       bytea,
  kek_id           text,
  kek_algorithm    text,
  wrapped_key      bytea,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX practitioners_institution_idx ON practitioners (institution_id);

CREATE TABLE cooperation_agreements (
  agreement_id     text PRIMARY KEY,
  inviting_institution_id text NOT NULL REFERENCES institutions (institution_id),
  invited_institution_id  text NOT NULL REFERENCES institutions (institution_id),
  departments      jsonb NOT NULL,
  valid_from       timestamptz NOT NULL,
  valid_until      timestamptz NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (inviting_institution_id <> invited_institution_id),
  CHECK (valid_until > valid_from)
);

-- Consultations (会诊): one row per request, with its state. The patient's
-- identifiers are kept here, inside the hospital's database; views before
-- acceptance leave them out.
CREATE TABLE consultations (
  consultation_id  text PRIMARY KEY,
  parent_id        text REFERENCES consultations (consultation_id),
  status           text NOT NULL CHECK (status IN ('draft', 'requested', 'accepted', 'scheduled', 'in_progress', 'completed', 'terminated', 'cancelled')),
  requesting_institution_id text NOT NULL REFERENCES institutions (institution_id),
  requester_id     text NOT NULL REFERENCES practitioners (practitioner_id),
  invited_institution_id text NOT NULL REFERENCES institutions (institution_id),
  agreement_id     text REFERENCES cooperation_agreements (agreement_id),
  department       text NOT NULL,
  patient          jsonb NOT NULL,
  patient_key      text NOT NULL,
  summary          jsonb NOT NULL,
  consent          jsonb,
  expert_id        text REFERENCES practitioners (practitioner_id),
  accepted_by      text,
  accepted_at      timestamptz,
  slot_start       timestamptz,
  slot_end         timestamptz,
  room_id          text NOT NULL,
  follow_up_confirmed_by text,
  follow_up_confirmed_at timestamptz,
  termination      jsonb,
  cancellation     jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  requested_at     timestamptz,
  ended_at         timestamptz,
  retain_until     timestamptz
);
CREATE INDEX consultations_patient_idx ON consultations (patient_key, created_at);
CREATE INDEX consultations_invited_idx ON consultations (invited_institution_id, status);
CREATE INDEX consultations_room_idx ON consultations (room_id);

-- Prior diagnosis documents, sealed (AES-256-GCM) in object storage under a
-- per-document key wrapped by the hospital's KEK.
CREATE TABLE consultation_documents (
  document_id      text PRIMARY KEY,
  consultation_id  text NOT NULL REFERENCES consultations (consultation_id),
  kind             text NOT NULL CHECK (kind IN ('outpatient_record', 'inpatient_record', 'discharge_summary', 'diagnosis_certificate')),
  file_name        text NOT NULL,
  content_type     text NOT NULL,
  bytes            integer NOT NULL,
  sha256           text NOT NULL,
  object_key       text NOT NULL,
  kek_id           text NOT NULL,
  kek_algorithm    text NOT NULL,
  wrapped_key      bytea NOT NULL,
  uploaded_by      text NOT NULL,
  uploaded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consultation_documents_idx ON consultation_documents (consultation_id);

-- The expert's opinion (会诊意见), signed with the expert's certificate.
CREATE TABLE consultation_opinions (
  consultation_id  text PRIMARY KEY REFERENCES consultations (consultation_id),
  expert_id        text NOT NULL REFERENCES practitioners (practitioner_id),
  body             jsonb NOT NULL,
  signed_at        timestamptz NOT NULL,
  signature        text NOT NULL,
  certificate_pem  text NOT NULL
);

-- Prescriptions: created only by the practitioner in person in the visit,
-- released only after a pharmacist's review.
CREATE TABLE prescriptions (
  prescription_id  text PRIMARY KEY,
  consultation_id  text NOT NULL REFERENCES consultations (consultation_id),
  prescriber_id    text NOT NULL REFERENCES practitioners (practitioner_id),
  items            jsonb NOT NULL,
  status           text NOT NULL CHECK (status IN ('pending_review', 'approved', 'rejected')),
  created_in       jsonb NOT NULL,
  signature        text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  reviewed_by      text REFERENCES practitioners (practitioner_id),
  reviewed_at      timestamptz,
  review_comment   text,
  CHECK (reviewed_by IS NULL OR reviewed_by <> prescriber_id)
);
CREATE INDEX prescriptions_consultation_idx ON prescriptions (consultation_id);

-- The supervision platform's outbox: written in the same transaction as the
-- event it reports, delivered by a dispatcher with retries; dead-lettered
-- after too many attempts.
CREATE TABLE supervision_outbox (
  event_id         text PRIMARY KEY,
  topic            text NOT NULL,
  payload          jsonb NOT NULL,
  status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz
);
CREATE INDEX supervision_outbox_due_idx ON supervision_outbox (next_attempt_at) WHERE status = 'pending';
