/**
 * Key encryption keys (KEKs): the hospital's keys that wrap each
 * recording's own data key. Behind a small interface so that an HSM or a
 * hospital key service can take its place; the default keeps RSA-3072 key
 * pairs as files (0600) and wraps with RSA-OAEP-SHA256 through node-forge.
 *
 * Rotation: add a new key file and make it active; older keys stay to
 * unwrap older recordings. Each wrapped key records the key id it needs.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';
import { ensurePrivateDir, publicKeyFingerprint, readPrivateKeyFile, writePrivateFile, KeyFileError } from './keyFiles.ts';

export const KEY_WRAP_ALGORITHM = 'RSA-OAEP-256' as const;

export interface WrappedKey {
  keyId: string;
  algorithm: typeof KEY_WRAP_ALGORITHM;
  wrapped: Buffer;
}

export interface KeyEncryptionService {
  /** The key new recordings are wrapped with. */
  readonly activeKeyId: string;
  wrap(dataKey: Buffer): Promise<WrappedKey>;
  unwrap(key: WrappedKey): Promise<Buffer>;
  /** Public keys by id, to register them (key registry). */
  publicKeys(): Array<{ keyId: string; publicKeyPem: string }>;
}

const FILE_PATTERN = /^recording-kek-([0-9a-f]{16})\.key\.pem$/;

interface LoadedKey {
  keyId: string;
  privateKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
  publicKeyPem: string;
  createdMs: number;
}

export class LocalRsaKeyService implements KeyEncryptionService {
  readonly activeKeyId: string;
  readonly #keys: Map<string, LoadedKey>;

  private constructor(keys: Map<string, LoadedKey>, activeKeyId: string) {
    this.#keys = keys;
    this.activeKeyId = activeKeyId;
  }

  /**
   * Loads every `recording-kek-<id>.key.pem` in `dir`. With `generate`, a
   * first key is created when there is none. The active key is `activeKeyId`
   * when given, else the newest file.
   */
  static load(dir: string, options: { generate: boolean; activeKeyId?: string }): LocalRsaKeyService {
    const keys = new Map<string, LoadedKey>();
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => FILE_PATTERN.test(f)) : [];
    if (files.length === 0) {
      if (!options.generate) throw new KeyFileError(`no recording key-encryption key (recording-kek-*.key.pem) in ${dir}`);
      ensurePrivateDir(dir);
      const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 3072 });
      const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const keyId = publicKeyFingerprint(publicPem).slice(0, 16);
      writePrivateFile(path.join(dir, `recording-kek-${keyId}.key.pem`), privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      files.push(`recording-kek-${keyId}.key.pem`);
    }
    for (const file of files) {
      const full = path.join(dir, file);
      const pem = readPrivateKeyFile(full, 'recording key-encryption key');
      const nodeKey = crypto.createPrivateKey(pem);
      if (nodeKey.asymmetricKeyType !== 'rsa' || (nodeKey.asymmetricKeyDetails?.modulusLength ?? 0) < 3072) {
        throw new KeyFileError(`${full}: a recording key-encryption key must be RSA of at least 3072 bits`);
      }
      const publicKeyPem = crypto.createPublicKey(nodeKey).export({ type: 'spki', format: 'pem' }).toString();
      const keyId = publicKeyFingerprint(publicKeyPem).slice(0, 16);
      if (`recording-kek-${keyId}.key.pem` !== file) throw new KeyFileError(`${full}: file name does not match its key id ${keyId}`);
      // forge reads PKCS#1; convert through node:crypto.
      const pkcs1 = nodeKey.export({ type: 'pkcs1', format: 'pem' }).toString();
      const privateKey = forge.pki.privateKeyFromPem(pkcs1) as forge.pki.rsa.PrivateKey;
      const publicKey = forge.pki.publicKeyFromPem(publicKeyPem) as forge.pki.rsa.PublicKey;
      keys.set(keyId, { keyId, privateKey, publicKey, publicKeyPem, createdMs: fs.statSync(full).mtimeMs });
    }
    const newest = [...keys.values()].sort((a, b) => b.createdMs - a.createdMs)[0];
    const activeKeyId = options.activeKeyId ?? newest?.keyId;
    if (!activeKeyId || !keys.has(activeKeyId)) {
      throw new KeyFileError(`the active recording key ${options.activeKeyId ?? '?'} is not among the keys in ${dir}`);
    }
    return new LocalRsaKeyService(keys, activeKeyId);
  }

  async wrap(dataKey: Buffer): Promise<WrappedKey> {
    const key = this.#keys.get(this.activeKeyId) as LoadedKey;
    const wrapped = key.publicKey.encrypt(forge.util.binary.raw.encode(new Uint8Array(dataKey)), 'RSA-OAEP', {
      md: forge.md.sha256.create(),
      mgf1: { md: forge.md.sha256.create() },
    });
    return { keyId: key.keyId, algorithm: KEY_WRAP_ALGORITHM, wrapped: Buffer.from(wrapped, 'binary') };
  }

  async unwrap(wrapped: WrappedKey): Promise<Buffer> {
    if (wrapped.algorithm !== KEY_WRAP_ALGORITHM) throw new Error(`unsupported key wrapping ${wrapped.algorithm}`);
    const key = this.#keys.get(wrapped.keyId);
    if (!key) throw new Error(`recording key ${wrapped.keyId} is not available on this server`);
    const raw = key.privateKey.decrypt(wrapped.wrapped.toString('binary'), 'RSA-OAEP', {
      md: forge.md.sha256.create(),
      mgf1: { md: forge.md.sha256.create() },
    });
    return Buffer.from(raw, 'binary');
  }

  publicKeys(): Array<{ keyId: string; publicKeyPem: string }> {
    return [...this.#keys.values()].map((k) => ({ keyId: k.keyId, publicKeyPem: k.publicKeyPem }));
  }
}
