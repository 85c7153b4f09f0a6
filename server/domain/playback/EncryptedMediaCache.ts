/**
 * The playable file of a grant, kept encrypted at rest while it is being
 * watched: AES-256-CTR under a key that exists only in this process's
 * memory (so any byte range can be decrypted on its own, and the file is
 * noise once the process is gone). The plaintext it is made from is
 * deleted as soon as it has been encrypted.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';

const BLOCK = 16;

export class EncryptedMediaCache {
  readonly file: string;
  readonly size: number;
  readonly #key: Buffer;
  readonly #iv: Buffer;
  #closed = false;

  private constructor(file: string, size: number, key: Buffer, iv: Buffer) {
    this.file = file;
    this.size = size;
    this.#key = key;
    this.#iv = iv;
  }

  /** Encrypts `plaintextFile` into `file` and deletes the plaintext (also on failure). */
  static async seal(plaintextFile: string, file: string): Promise<EncryptedMediaCache> {
    const key = crypto.randomBytes(32);
    const iv = crypto.randomBytes(16);
    try {
      const size = fs.statSync(plaintextFile).size;
      await pipeline(fs.createReadStream(plaintextFile), crypto.createCipheriv('aes-256-ctr', key, iv), fs.createWriteStream(file, { mode: 0o600 }));
      return new EncryptedMediaCache(file, size, key, iv);
    } catch (err) {
      fs.rmSync(file, { force: true });
      throw err;
    } finally {
      fs.rmSync(plaintextFile, { force: true });
    }
  }

  /** Plaintext bytes `start`…`end` (inclusive). */
  read(start: number, end: number): Readable {
    if (this.#closed) throw new Error('the media cache was closed');
    const blockStart = Math.floor(start / BLOCK) * BLOCK;
    const decipher = crypto.createDecipheriv('aes-256-ctr', this.#key, counterAt(this.#iv, blockStart / BLOCK));
    let skip = start - blockStart;
    const source = fs.createReadStream(this.file, { start: blockStart, end, highWaterMark: 64 * 1024 });
    const trim = new Transform({
      transform(chunk: Buffer, _enc, done) {
        const plain = decipher.update(chunk);
        if (skip > 0) {
          const cut = Math.min(skip, plain.length);
          skip -= cut;
          done(null, plain.subarray(cut));
        } else done(null, plain);
      },
    });
    source.on('error', (err) => trim.destroy(err));
    trim.on('close', () => source.destroy());
    return source.pipe(trim);
  }

  /** Deletes the file and forgets the key. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#key.fill(0);
    fs.rmSync(this.file, { force: true });
  }
}

/** The CTR counter block `blocks` blocks after `iv` (128-bit big-endian addition). */
function counterAt(iv: Buffer, blocks: number): Buffer {
  const out = Buffer.from(iv);
  let carry = BigInt(blocks);
  for (let i = 15; i >= 0 && carry > 0n; i -= 1) {
    const sum = BigInt(out[i]!) + (carry & 0xffn);
    out[i] = Number(sum & 0xffn);
    carry = (carry >> 8n) + (sum >> 8n);
  }
  return out;
}
