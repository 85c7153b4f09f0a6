import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { parseJsonc } from '../../server/config/jsonc.ts';
import { CHAIN_GENESIS, canonicalJson, chainLink, signManifest, verifyManifest, type Manifest, type ManifestTrack } from '../../server/domain/recordings/manifest.ts';
import { PolicyError } from '../../server/config/policyFile.ts';
import { containerFor, loadRecordingPolicy } from '../../server/domain/recordings/RecordingPolicy.ts';
import { MEDIA_CODECS } from '../../server/media/codecs.ts';
import { IntegrityError, newDataKey, openSegment, sealSegment, sha256 } from '../../server/domain/recordings/sealing.ts';
import { LocalRsaKeyService } from '../../server/pki/KeyEncryptionService.ts';
import { ManifestSigner } from '../../server/pki/ManifestSigner.ts';
import { tempDir } from '../support/server.ts';

function throwsIntegrity(fn: () => unknown, message: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(error).to.be.instanceOf(IntegrityError);
  expect((error as Error).message).to.match(message);
}

describe('sealing segments (AES-256-GCM)', () => {
  const key = newDataKey();
  const place = { recordingId: 'rec-1', trackId: 't001-camera', index: 3 };
  const media = crypto.randomBytes(5000);

  it('opens what it sealed, and never repeats a nonce', () => {
    const a = sealSegment(key, place, media);
    const b = sealSegment(key, place, media);
    expect(openSegment(key, place, a).equals(media)).to.equal(true);
    expect(a.subarray(4, 16).equals(b.subarray(4, 16))).to.equal(false);
    expect(a.includes(media.subarray(0, 64))).to.equal(false);
  });

  it('refuses a segment moved to another index, track or recording', () => {
    const sealed = sealSegment(key, place, media);
    throwsIntegrity(() => openSegment(key, { ...place, index: 4 }, sealed), /fails authentication/);
    throwsIntegrity(() => openSegment(key, { ...place, trackId: 't002-mic' }, sealed), /fails authentication/);
    throwsIntegrity(() => openSegment(key, { ...place, recordingId: 'rec-2' }, sealed), /fails authentication/);
  });

  it('refuses a flipped bit, a truncation and the wrong key', () => {
    const sealed = sealSegment(key, place, media);
    const flipped = Buffer.from(sealed);
    flipped[100] = (flipped[100] ?? 0) ^ 1;
    throwsIntegrity(() => openSegment(key, place, flipped), /t001-camera#3 fails authentication/);
    throwsIntegrity(() => openSegment(key, place, sealed.subarray(0, sealed.length - 1)), /fails authentication/);
    throwsIntegrity(() => openSegment(newDataKey(), place, sealed), /fails authentication/);
    throwsIntegrity(() => openSegment(key, place, Buffer.from('not sealed')), /not a sealed Huizhen segment/);
  });
});

const MIC_TRACK: ManifestTrack = {
  trackId: 't001-mic',
  role: 'host',
  userId: 'dr-li',
  source: 'mic',
  kind: 'audio',
  codec: 'audio/opus',
  container: 'webm',
  startOffsetMs: 0,
  endOffsetMs: 60_000,
};

describe('recording key wrapping and manifest signatures (node-forge)', function () {
  this.timeout(30_000);
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('wraps a data key with RSA-OAEP-SHA256 that standard tools unwrap, and rotates keys', async () => {
    const first = LocalRsaKeyService.load(dir, { generate: true });
    const dataKey = newDataKey();
    const wrapped = await first.wrap(dataKey);
    expect(wrapped.algorithm).to.equal('RSA-OAEP-256');
    expect(wrapped.keyId).to.equal(first.activeKeyId);
    expect((await first.unwrap(wrapped)).equals(dataKey)).to.equal(true);
    // Interoperable: node:crypto (OpenSSL) opens what forge wrapped.
    const pem = fs.readFileSync(path.join(dir, `recording-kek-${first.activeKeyId}.key.pem`), 'utf8');
    const opened = crypto.privateDecrypt({ key: pem, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped.wrapped);
    expect(opened.equals(dataKey)).to.equal(true);
    expect(fs.statSync(path.join(dir, `recording-kek-${first.activeKeyId}.key.pem`)).mode & 0o777).to.equal(0o600);

    // A second key file: new recordings use the active one, old ones still open.
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 3072 });
    const id2 = crypto.createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
    fs.writeFileSync(path.join(dir, `recording-kek-${id2}.key.pem`), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const rotated = LocalRsaKeyService.load(dir, { generate: false, activeKeyId: id2 });
    expect(rotated.activeKeyId).to.equal(id2);
    expect((await rotated.unwrap(wrapped)).equals(dataKey)).to.equal(true);
    expect((await rotated.wrap(dataKey)).keyId).to.equal(id2);
  });

  it('refuses a weak or misnamed key-encryption key, and an unknown key id', async () => {
    const weak = tempDir();
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    fs.writeFileSync(path.join(weak, 'recording-kek-0123456789abcdef.key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    expect(() => LocalRsaKeyService.load(weak, { generate: false })).to.throw(/at least 3072 bits/);
    expect(() => LocalRsaKeyService.load(tempDir(), { generate: false })).to.throw(/no recording key-encryption key/);
    const service = LocalRsaKeyService.load(dir, { generate: false });
    let error: unknown;
    try {
      await service.unwrap({ keyId: 'ffffffffffffffff', algorithm: 'RSA-OAEP-256', wrapped: Buffer.alloc(384) });
    } catch (err) {
      error = err;
    }
    expect((error as Error).message).to.match(/not available/);
  });

  it('signs a manifest whose every change, and every broken chain link, is detected', () => {
    const signer = ManifestSigner.load(dir, { generate: true });
    let chain = CHAIN_GENESIS;
    const segments = [0, 1, 2].map((i) => {
      const seg = { seq: i + 1, trackId: 't001-mic', index: i, objectKey: `k${i}`, bytes: 100 + i, sha256: sha256(`s${i}`) };
      chain = chainLink(chain, seg);
      return { ...seg, chain };
    });
    const body: Omit<Manifest, 'signature'> = {
      format: 'huizhen-recording-manifest/1',
      recordingId: 'rec-x',
      roomId: 'room-x',
      status: 'complete',
      stopReason: 'stopped',
      startedAt: '2026-11-23T00:00:00.000Z',
      endedAt: '2026-11-23T00:10:00.000Z',
      retainUntil: '2029-11-23T00:10:00.000Z',
      consent: { consentId: 'c', textVersion: 'v1', method: 'in_app', consentedAt: '2026-11-23T00:00:00.000Z', patientUserId: 'pt' },
      policy: { segmentSeconds: 4, retentionYears: 3 },
      encryption: { cipher: 'AES-256-GCM', keyId: 'k', keyAlgorithm: 'RSA-OAEP-256' },
      tracks: [MIC_TRACK],
      segments,
      chainHead: chain,
    };
    const signed = signManifest(body, signer);
    verifyManifest(signed, signer.publicKeyPem);
    // Key order does not matter to the signature; content does.
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).to.equal('{"a":[{"c":3,"d":2}],"b":1}');
    throwsIntegrity(() => verifyManifest({ ...signed, status: 'interrupted' }, signer.publicKeyPem), /signature does not verify/);
    const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    throwsIntegrity(() => verifyManifest(signed, other), /signature does not verify/);
    // A manifest signed over a broken chain is still refused: chains are checked, not trusted.
    const swapped = signManifest({ ...body, segments: [segments[1]!, segments[0]!, segments[2]!] }, signer);
    throwsIntegrity(() => verifyManifest(swapped, signer.publicKeyPem), /out of order/);
    const truncated = signManifest({ ...body, segments: segments.slice(0, 2) }, signer);
    throwsIntegrity(() => verifyManifest(truncated, signer.publicKeyPem), /segments missing at the end/);
  });

  it('accepts a lost segment only when the signed manifest declares it', () => {
    const signer = ManifestSigner.load(dir, { generate: true });
    // Track segments 0, 1 and 3: number 2 never made it into the chain.
    let chain = CHAIN_GENESIS;
    const segments = [0, 1, 3].map((index, i) => {
      const seg = { seq: i + 1, trackId: 't001-mic', index, objectKey: `k${index}`, bytes: 100, sha256: sha256(`s${index}`) };
      chain = chainLink(chain, seg);
      return { ...seg, chain };
    });
    const body: Omit<Manifest, 'signature'> = {
      format: 'huizhen-recording-manifest/1',
      recordingId: 'rec-y',
      roomId: 'room-y',
      status: 'complete',
      stopReason: 'stopped',
      startedAt: '2026-11-23T00:00:00.000Z',
      endedAt: '2026-11-23T00:01:00.000Z',
      retainUntil: '2029-11-23T00:01:00.000Z',
      consent: { consentId: 'c', textVersion: 'v1', method: 'in_app', consentedAt: '2026-11-23T00:00:00.000Z', patientUserId: 'pt' },
      policy: { segmentSeconds: 4, retentionYears: 3 },
      encryption: { cipher: 'AES-256-GCM', keyId: 'k', keyAlgorithm: 'RSA-OAEP-256' },
      tracks: [MIC_TRACK],
      segments,
      chainHead: chain,
    };
    const silent = signManifest(body, signer);
    let error: unknown;
    try {
      verifyManifest(silent, signer.publicKeyPem);
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(IntegrityError);
    expect((error as IntegrityError).segment).to.equal('t001-mic#2');
    expect((error as Error).message).to.match(/missing from the manifest and not declared as lost/);
    verifyManifest(signManifest({ ...body, gaps: [{ trackId: 't001-mic', index: 2, reason: 'ENOSPC' }] }, signer), signer.publicKeyPem);
    // A segment of a track the manifest does not name is refused too.
    const stray = signManifest({ ...body, tracks: [] }, signer);
    throwsIntegrity(() => verifyManifest(stray, signer.publicKeyPem), /belongs to no track/);
  });
});

describe('recording policy (recordings-config/recording.jsonc)', () => {
  it('reads the shipped policy: 3-year retention, consent text in both languages', () => {
    const policy = loadRecordingPolicy(new URL('../../recordings-config', import.meta.url).pathname);
    expect(policy.retentionYears).to.be.at.least(3);
    expect(policy.consent.text['zh-CN']).to.include('录');
    expect(policy.sources).to.include.members(['mic', 'camera']);
  });

  it('refuses a policy that breaks the 3-year rule or is malformed, naming the setting', () => {
    const dir = tempDir();
    const shipped = fs.readFileSync(new URL('../../recordings-config/recording.jsonc', import.meta.url), 'utf8');
    fs.writeFileSync(path.join(dir, 'recording.jsonc'), shipped.replace('"retentionYears": 3', '"retentionYears": 1').replace('"segmentSeconds": 4', '"segmentSeconds": 0'));
    let error: unknown;
    try {
      loadRecordingPolicy(dir);
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(PolicyError);
    expect((error as PolicyError).problems.join('\n')).to.match(/retentionYears: must be at least 3/).and.match(/segmentSeconds/);
    fs.writeFileSync(path.join(dir, 'recording.jsonc'), '{ "segmentSeconds": ');
    expect(() => loadRecordingPolicy(dir)).to.throw(PolicyError, /not valid JSON/);
  });

  it('maps every codec the SFU offers to a container that can hold it', () => {
    const dir = tempDir();
    const shipped = fs.readFileSync(new URL('../../recordings-config/recording.jsonc', import.meta.url), 'utf8');
    const policy = loadRecordingPolicy(new URL('../../recordings-config', import.meta.url).pathname);
    for (const codec of MEDIA_CODECS) {
      const container = containerFor(policy, codec.mimeType);
      expect(container, codec.mimeType).to.equal(codec.mimeType === 'video/H264' ? 'matroska' : 'webm');
    }
    const problems = (text: string): string => {
      fs.writeFileSync(path.join(dir, 'recording.jsonc'), text);
      try {
        loadRecordingPolicy(dir);
      } catch (err) {
        return (err as PolicyError).problems.join('\n');
      }
      return '';
    };
    expect(problems(shipped.replace('"video/H264": "matroska"', '"video/H264": "webm"'))).to.match(/codecs\.video\/H264: WebM cannot hold video\/H264/);
    expect(problems(shipped.replace(/\s*"video\/H264": "matroska"/, '').replace('"video/VP8": "webm",', '"video/VP8": "webm"'))).to.match(/no container for video\/H264/);
    expect(problems(shipped.replace('"audio/opus": "webm"', '"audio/PCMU": "matroska", "audio/opus": "webm"'))).to.match(/does not offer audio\/PCMU/);
    expect(problems(shipped.replace('"provider": "local-rsa"', '"provider": "local-rsa", "activeKeyId": "nothex"'))).to.match(/keyEncryption\.activeKeyId: must be 16 hex digits/);
  });

  it('parses comments and trailing commas but leaves strings alone', () => {
    expect(parseJsonc('// c\n{ "a": "x // not a comment", /* b */ "b": [1, 2,], }')).to.deep.equal({ a: 'x // not a comment', b: [1, 2] });
    expect(parseJsonc('{ "url": "https://h/p", "q": "say \\"/*\\"" }')).to.deep.equal({ url: 'https://h/p', q: 'say "/*"' });
  });
});
