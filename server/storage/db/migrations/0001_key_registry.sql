-- Public keys and certificates the server uses or has used, so that
-- signatures, tokens and wrapped recording keys stay verifiable after a
-- rotation. Private keys never enter the database.
CREATE TABLE key_registry (
  key_id              text PRIMARY KEY,
  purpose             text NOT NULL
                      CHECK (purpose IN ('token-signing', 'tls', 'recording-kek', 'manifest-signing', 'institution-ca')),
  algorithm           text NOT NULL,
  public_key_pem      text NOT NULL,
  fingerprint_sha256  text NOT NULL UNIQUE,
  created_at          timestamptz NOT NULL DEFAULT now(),
  retired_at          timestamptz
);

CREATE INDEX key_registry_purpose_idx ON key_registry (purpose) WHERE retired_at IS NULL;
