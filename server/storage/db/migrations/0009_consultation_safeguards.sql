-- Consultation safeguards after review.
--
-- 1. A consultation's version: bumped by every change to it, its documents,
--    opinions and prescriptions (ConsultationRepository does it in the same
--    statement or transaction), so a page can ask "has anything changed?"
--    without reading — and auditing a view of — the patient's record.
ALTER TABLE consultations ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE consultations ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX consultations_parent_idx ON consultations (parent_id) WHERE parent_id IS NOT NULL;

-- 2. Opinions are immutable versions: an amendment is a new signed version
--    that supersedes the previous one, which stays. Each version records the
--    institution whose CA issued the signing certificate and that CA's
--    certificate fingerprint (SHA-256 of the DER), so a later move of the
--    expert to another institution does not change what it verifies against.
ALTER TABLE consultation_opinions DROP CONSTRAINT consultation_opinions_pkey;
ALTER TABLE consultation_opinions ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE consultation_opinions ADD COLUMN body_format text NOT NULL DEFAULT 'huizhen-consultation-opinion/1';
ALTER TABLE consultation_opinions ADD COLUMN issuer_institution_id text REFERENCES institutions (institution_id);
ALTER TABLE consultation_opinions ADD COLUMN issuer_ca_sha256 text;
ALTER TABLE consultation_opinions ADD PRIMARY KEY (consultation_id, version);
UPDATE consultation_opinions o SET
  issuer_institution_id = p.institution_id,
  issuer_ca_sha256 = encode(sha256(decode(regexp_replace(regexp_replace(ca.certificate_pem, '-----[A-Z ]+-----', '', 'g'), '\s', '', 'g'), 'base64')), 'hex')
FROM practitioners p JOIN institution_cas ca ON ca.institution_id = p.institution_id
WHERE p.practitioner_id = o.expert_id;
ALTER TABLE consultation_opinions ALTER COLUMN issuer_institution_id SET NOT NULL;
ALTER TABLE consultation_opinions ALTER COLUMN issuer_ca_sha256 SET NOT NULL;
ALTER TABLE consultation_opinions ALTER COLUMN version DROP DEFAULT;
ALTER TABLE consultation_opinions ALTER COLUMN body_format DROP DEFAULT;

-- 3. The supervision outbox is claimed before delivery: a dispatcher takes
--    due events with a lease (FOR UPDATE SKIP LOCKED), and only the holder
--    of the claim may mark an event delivered or failed, so two server
--    processes never deliver the same event twice.
ALTER TABLE supervision_outbox ADD COLUMN claimed_by text;
ALTER TABLE supervision_outbox ADD COLUMN claimed_until timestamptz;
