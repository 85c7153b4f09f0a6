/**
 * The registry of public keys the server signs or encrypts with (see
 * migration 0001). Registering is idempotent: the same key registers once.
 */
import crypto from 'node:crypto';
import type { Queryable } from '../db/Database.ts';

export type KeyPurpose = 'token-signing' | 'tls' | 'recording-kek' | 'manifest-signing' | 'institution-ca';

export interface RegisteredKey {
  keyId: string;
  purpose: KeyPurpose;
  algorithm: string;
  fingerprintSha256: string;
  createdAt: Date;
  retiredAt: Date | null;
}

export class KeyRegistry {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** Records a public key; returns true when it was not known before. */
  async register(key: { keyId: string; purpose: KeyPurpose; algorithm: string; publicKeyPem: string }): Promise<boolean> {
    const der = crypto.createPublicKey(key.publicKeyPem).export({ type: 'spki', format: 'der' });
    const fingerprint = crypto.createHash('sha256').update(der).digest('hex');
    const result = await this.#db.query(
      `INSERT INTO key_registry (key_id, purpose, algorithm, public_key_pem, fingerprint_sha256)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (fingerprint_sha256) DO NOTHING`,
      [key.keyId, key.purpose, key.algorithm, key.publicKeyPem, fingerprint],
    );
    return result.rowCount > 0;
  }

  /** The PEM public key registered under `keyId` for `purpose`, or null. */
  async publicKey(keyId: string, purpose: KeyPurpose): Promise<string | null> {
    const r = await this.#db.query<{ public_key_pem: string }>('SELECT public_key_pem FROM key_registry WHERE key_id = $1 AND purpose = $2', [
      keyId,
      purpose,
    ]);
    return r.rows[0]?.public_key_pem ?? null;
  }

  /** Every key registered for `purpose`, retired ones included, with its PEM as stored. */
  async all(purpose: KeyPurpose): Promise<Array<{ keyId: string; publicKeyPem: string }>> {
    const r = await this.#db.query<{ key_id: string; public_key_pem: string }>('SELECT key_id, public_key_pem FROM key_registry WHERE purpose = $1 ORDER BY created_at', [purpose]);
    return r.rows.map((x) => ({ keyId: x.key_id, publicKeyPem: x.public_key_pem }));
  }

  async active(purpose: KeyPurpose): Promise<RegisteredKey[]> {
    const result = await this.#db.query<{
      key_id: string;
      purpose: KeyPurpose;
      algorithm: string;
      fingerprint_sha256: string;
      created_at: Date;
      retired_at: Date | null;
    }>(
      `SELECT key_id, purpose, algorithm, fingerprint_sha256, created_at, retired_at
       FROM key_registry WHERE purpose = $1 AND retired_at IS NULL ORDER BY created_at`,
      [purpose],
    );
    return result.rows.map((r) => ({
      keyId: r.key_id,
      purpose: r.purpose,
      algorithm: r.algorithm,
      fingerprintSha256: r.fingerprint_sha256,
      createdAt: new Date(r.created_at),
      retiredAt: r.retired_at ? new Date(r.retired_at) : null,
    }));
  }
}
