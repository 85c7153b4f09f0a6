import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { EncryptedMediaCache } from '../../server/domain/playback/EncryptedMediaCache.ts';
import { RangeNotSatisfiableError, parseRange } from '../../server/domain/playback/PlaybackService.ts';
import { tempDir } from '../support/server.ts';

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('playback media cache (encrypted at rest, any range decrypts on its own)', () => {
  it('keeps only ciphertext, deletes the plaintext, and returns exact bytes for ranges at any offset', async () => {
    const dir = tempDir();
    const plain = crypto.randomBytes(300_001);
    plain.write('webm OpusHead V_VP8', 1000);
    const plainFile = path.join(dir, 'plain.webm');
    fs.writeFileSync(plainFile, plain);
    const cache = await EncryptedMediaCache.seal(plainFile, path.join(dir, 'cache.bin'));
    expect(fs.existsSync(plainFile), 'plaintext deleted').to.equal(false);
    const stored = fs.readFileSync(cache.file);
    expect(stored.length).to.equal(plain.length);
    expect(stored.includes(Buffer.from('OpusHead'))).to.equal(false);
    expect(cache.size).to.equal(plain.length);
    for (const [start, end] of [[0, 0], [0, 15], [1, 16], [15, 17], [1000, 1018], [65_535, 65_537], [123_457, 299_999], [300_000, 300_000], [0, 300_000]] as const) {
      expect((await readAll(cache.read(start, end))).equals(plain.subarray(start, end + 1)), `${start}-${end}`).to.equal(true);
    }
    cache.close();
    cache.close();
    expect(fs.existsSync(cache.file)).to.equal(false);
    expect(() => cache.read(0, 1)).to.throw(/closed/);
  });

  it('parses single byte ranges the way browsers send them', () => {
    expect(parseRange(undefined, 100)).to.equal(null);
    expect(parseRange('bytes=0-', 100)).to.deep.equal({ start: 0, end: 99 });
    expect(parseRange('bytes=10-19', 100)).to.deep.equal({ start: 10, end: 19 });
    expect(parseRange('bytes=90-200', 100)).to.deep.equal({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).to.deep.equal({ start: 90, end: 99 });
    expect(parseRange('bytes=0-1,5-6', 100), 'several ranges: whole file').to.equal(null);
    expect(() => parseRange('bytes=100-', 100)).to.throw(RangeNotSatisfiableError);
    expect(() => parseRange('bytes=20-10', 100)).to.throw(RangeNotSatisfiableError);
  });
});
