/**
 * Reading and writing key material on disk. Private keys are written with
 * mode 0600 (atomically, so a crash never leaves half a key) and refused at
 * read time when group or others can read them.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

export class KeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyFileError';
  }
}

/** Creates a directory readable by the owner only (0700). */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

/** Writes a file with mode 0600 via a temporary file and rename. */
export function writePrivateFile(file: string, contents: string | Buffer): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${crypto.randomUUID()}.tmp`);
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeFileSync(fd, contents);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/**
 * Reads a private key file, refusing one that group or others may read:
 * a leaked token-signing or TLS key lets anyone impersonate the hospital.
 */
export function readPrivateKeyFile(file: string, what: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw new KeyFileError(`${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new KeyFileError(
      `${what}: ${file} is readable by group or others (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 on it`,
    );
  }
  return fs.readFileSync(file, 'utf8');
}

export function readPublicFile(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new KeyFileError(`${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** SHA-256 of a public key's DER (SubjectPublicKeyInfo), hex: a stable key id. */
export function publicKeyFingerprint(publicKeyPem: string): string {
  const der = crypto.createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(der).digest('hex');
}

/** A random 32-byte secret kept in `dir/name` (0600), created on first use. */
export function readOrCreateSecret(dir: string, name: string): Buffer {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) {
    ensurePrivateDir(dir);
    writePrivateFile(file, crypto.randomBytes(32).toString('hex'));
  }
  const hex = readPrivateKeyFile(file, name).trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new KeyFileError(`${file} must hold 64 hex digits`);
  return Buffer.from(hex, 'hex');
}
