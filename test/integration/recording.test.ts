import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { IntegrityError } from '../../server/domain/recordings/sealing.ts';
import { EmbeddedS3Server } from '../../server/storage/objects/index.ts';
import { RoomFixture, refusal } from '../support/roomFixture.ts';
import type { RoomClient } from '../support/roomClient.ts';
import { injectMedia } from '../support/rtpSource.ts';
import { startTestServer, tempDir, type TestServer } from '../support/server.ts';

interface Probe {
  ok: boolean;
  streams: Array<{ codec_type: string; codec_name: string }>;
  duration: number;
}

function ffprobe(file: string): Probe {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, streams: [], duration: 0 };
  const json = JSON.parse(r.stdout) as { streams?: Probe['streams']; format?: { duration?: string } };
  return { ok: true, streams: json.streams ?? [], duration: Number(json.format?.duration ?? 0) };
}

/** Container signatures that must never appear in stored objects: EBML (WebM/Matroska) and their doc types. */
function plaintextMarkers(data: Buffer): string[] {
  const found: string[] = [];
  if (data.includes(Buffer.from([0x1a, 0x45, 0xdf, 0xa3]))) found.push('EBML header');
  for (const word of ['webm', 'matroska', 'OpusHead', 'V_VP8', 'A_OPUS']) if (data.includes(Buffer.from(word))) found.push(word);
  return found;
}

describe('encrypted recording of consultations', function () {
  this.timeout(120_000);
  const fx = new RoomFixture('rec-room');
  let server: TestServer;

  /** Host and patient admitted; the patient has consented in the app. */
  async function visitWithConsent(): Promise<{ host: RoomClient; patient: RoomClient }> {
    const host = await fx.client('host', 'dr-li');
    await host.join();
    const patient = await fx.client('patient', 'pt-wang');
    await patient.join();
    await host.request('room:admit', { peerId: patient.peerId });
    const admitted = await patient.waitFor('room:admitted');
    expect(admitted.consent).to.deep.equal({ state: 'none' });
    const consent = await patient.request('recording:giveConsent', { method: 'in_app', textVersion: admitted.consentText.version });
    expect(consent).to.include({ state: 'given', patientUserId: 'pt-wang', method: 'in_app' });
    await host.waitFor('room:consent', (c) => c.state === 'given');
    return { host, patient };
  }

  async function segmentObjects(recordingId: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const o of server.objectStore.list(`recordings/${recordingId}/`)) if (o.key.endsWith('.seg')) keys.push(o.key);
    return keys.sort();
  }

  before(async () => {
    server = await startTestServer({ overrides: { recordings: { workDir: path.join(tempDir(), 'work') } } });
    fx.use(server);
  });
  beforeEach(() => fx.next());
  afterEach(() => fx.closeAll());
  afterEach(function () {
    if (this.currentTest?.state === 'failed' && process.env['HUIZHEN_TEST_DEBUG']) {
      for (const line of server.logLines.slice(-60)) console.log(line.slice(0, 400));
    }
  });
  after(() => server.stop());

  describe('a recorded visit with two participants', () => {
    let recordingId = '';
    let recordedSeconds = 0;

    before(async function () {
      this.timeout(120_000);
      fx.next();
      const { host, patient } = await visitWithConsent();
      const room = server.rooms.get(fx.room)!;
      const state = await host.request('recording:start', {});
      expect(state.state).to.equal('recording');
      await patient.waitFor('room:recording', (r) => r.state === 'recording');
      recordingId = server.recordings.activeRecordingId(fx.room)!;
      const started = Date.now();

      // The host sends for 12 s; the patient starts 2 s late and stops after 6 s.
      const hostMedia = await injectMedia(room, { peerId: host.peerId, userId: 'dr-li', role: 'host' }, { seconds: 12, ssrcBase: 1000 });
      await new Promise((r) => setTimeout(r, 2000));
      const patientMedia = await injectMedia(room, { peerId: patient.peerId, userId: 'pt-wang', role: 'patient' }, { seconds: 6, ssrcBase: 2000 });
      await patientMedia.done;
      patientMedia.stop();
      await hostMedia.done;
      await host.request('recording:stop', {});
      recordedSeconds = (Date.now() - started) / 1000;
      hostMedia.stop();
      await patient.waitFor('room:recording', (r) => r.state === 'off');
      expect(await server.recordings.finalized(recordingId)).to.equal('complete');
    });

    it('stores only ciphertext: no object is readable as media or carries a container header', async () => {
      const keys = await segmentObjects(recordingId);
      expect(keys.length).to.be.greaterThan(6);
      const dir = tempDir();
      for (const key of keys) {
        const data = await server.objectStore.getBuffer(key);
        expect(plaintextMarkers(data), key).to.deep.equal([]);
        const file = path.join(dir, 'object');
        fs.writeFileSync(file, data);
        expect(ffprobe(file).ok, `${key} must not parse as media`).to.equal(false);
      }
      // Nothing plaintext is left on local disk either.
      expect(fs.readdirSync(server.config.recordings.workDir as string)).to.deep.equal([]);
      fs.rmSync(dir, { recursive: true });
    });

    it('has a signed, hash-chained manifest naming each track with its start offset', async () => {
      const manifest = await server.archive.verify(recordingId);
      expect(manifest.status).to.equal('complete');
      expect(manifest.consent).to.include({ method: 'in_app', patientUserId: 'pt-wang' });
      expect(manifest.encryption).to.include({ cipher: 'AES-256-GCM', keyAlgorithm: 'RSA-OAEP-256' });
      const bySource = manifest.tracks.map((t) => `${t.userId}/${t.source}`).sort();
      expect(bySource).to.deep.equal(['dr-li/camera', 'dr-li/mic', 'pt-wang/camera', 'pt-wang/mic']);
      const patientCamera = manifest.tracks.find((t) => t.userId === 'pt-wang' && t.source === 'camera')!;
      const hostCamera = manifest.tracks.find((t) => t.userId === 'dr-li' && t.source === 'camera')!;
      // The patient started later and stopped earlier.
      expect(patientCamera.startOffsetMs - hostCamera.startOffsetMs).to.be.within(1000, 3500);
      expect(patientCamera.endOffsetMs! - patientCamera.startOffsetMs).to.be.within(4500, 8000);
      expect(manifest.segments.map((s) => s.seq)).to.deep.equal(manifest.segments.map((_, i) => i + 1));
      // The stored key is wrapped; the database holds nothing that opens the media on its own.
      const row = await server.db.query<{ key_id: string; wrapped_key: Uint8Array }>('SELECT key_id, wrapped_key FROM recording_keys WHERE recording_id = $1', [recordingId]);
      expect(row.rows[0]?.key_id).to.equal(server.kek.activeKeyId);
      expect(Buffer.from(row.rows[0]!.wrapped_key).length).to.equal(384); // RSA-3072 OAEP block
    });

    it('exports one playable file with audio and video, as long as the recording', async () => {
      const out = path.join(tempDir(), 'visit.mkv');
      await server.archive.export(recordingId, out);
      const probe = ffprobe(out);
      expect(probe.ok).to.equal(true);
      expect(probe.streams.filter((s) => s.codec_type === 'video').map((s) => s.codec_name)).to.deep.equal(['vp8', 'vp8']);
      expect(probe.streams.filter((s) => s.codec_type === 'audio').map((s) => s.codec_name)).to.deep.equal(['opus', 'opus']);
      const manifest = await server.archive.manifest(recordingId);
      const recordedUntil = Math.max(...manifest.tracks.map((t) => t.endOffsetMs ?? 0)) / 1000;
      expect(probe.duration, `export ${probe.duration}s vs recorded ${recordedUntil}s (stopped after ${recordedSeconds}s)`).to.be.closeTo(recordedUntil, 1);
      expect(probe.duration).to.be.at.least(11);
    });

    it('refuses to export a recording with one flipped byte, naming the segment', async () => {
      const [key] = await segmentObjects(recordingId);
      const original = await server.objectStore.getBuffer(key!);
      const tampered = Buffer.from(original);
      tampered[Math.floor(tampered.length / 2)] = (tampered[Math.floor(tampered.length / 2)] ?? 0) ^ 0x01;
      await server.objectStore.put(key!, tampered);
      try {
        const error = await server.archive.export(recordingId, path.join(tempDir(), 'x.mkv')).then(() => null, (e: unknown) => e);
        expect(error).to.be.instanceOf(IntegrityError);
        const segment = key!.split('/').slice(2).join('/').replace(/\.seg$/, '');
        const [trackId, index] = segment.split('/') as [string, string];
        expect((error as IntegrityError).segment).to.equal(`${trackId}#${Number(index)}`);
        expect((error as Error).message).to.match(/was modified/);
      } finally {
        await server.objectStore.put(key!, original);
      }
    });

    it('detects a deleted segment and two segments swapped', async () => {
      const keys = await segmentObjects(recordingId);
      const [a, b] = [keys[1]!, keys[2]!];
      const [bytesA, bytesB] = [await server.objectStore.getBuffer(a), await server.objectStore.getBuffer(b)];
      await server.objectStore.delete(a);
      let error = await server.archive.verify(recordingId).then(() => null, (e: unknown) => e);
      expect((error as Error).message).to.match(/is missing from storage/);
      await server.objectStore.put(a, bytesB);
      await server.objectStore.put(b, bytesA);
      error = await server.archive.verify(recordingId).then(() => null, (e: unknown) => e);
      expect(error).to.be.instanceOf(IntegrityError);
      await server.objectStore.put(a, bytesA);
      await server.objectStore.put(b, bytesB);
      await server.archive.verify(recordingId);
    });

    it('detects a changed manifest', async () => {
      const key = `recordings/${recordingId}/manifest.json`;
      const original = await server.objectStore.getBuffer(key);
      const manifest = JSON.parse(original.toString()) as { segments: unknown[] };
      manifest.segments.pop(); // hide the last segment
      await server.objectStore.put(key, Buffer.from(JSON.stringify(manifest)));
      try {
        const error = await server.archive.verify(recordingId).then(() => null, (e: unknown) => e);
        expect((error as Error).message).to.match(/signature does not verify/);
      } finally {
        await server.objectStore.put(key, original);
      }
    });
  });

  it('refuses to record without consent, and stops at once when consent is withdrawn', async () => {
    const host = await fx.client('host', 'dr-li');
    await host.join();
    const patient = await fx.client('patient', 'pt-zhao');
    await patient.join();
    await host.request('room:admit', { peerId: patient.peerId });
    const admitted = await patient.waitFor('room:admitted');
    expect(await refusal(host.request('recording:start', {}))).to.equal('INVALID_STATE');
    // Only the patient (in the app) or the host (on their behalf) gives consent, for the current text.
    expect(await refusal(patient.request('recording:giveConsent', { method: 'in_app', textVersion: 'old-version' }))).to.equal('INVALID_STATE');
    expect(await refusal(patient.request('recording:giveConsent', { method: 'written', textVersion: admitted.consentText.version }))).to.equal('VALIDATION_FAILED');
    await host.request('recording:giveConsent', { method: 'verbal_witnessed', patientUserId: 'pt-zhao', textVersion: admitted.consentText.version });
    expect(await refusal(patient.request('recording:start', {}))).to.equal('FORBIDDEN');
    await host.request('recording:start', {});
    await patient.waitFor('room:recording', (r) => r.state === 'recording');
    const recordingId = server.recordings.activeRecordingId(fx.room)!;
    const media = await injectMedia(server.rooms.get(fx.room)!, { peerId: host.peerId, userId: 'dr-li', role: 'host' }, { seconds: 5, ssrcBase: 3000 });

    await patient.request('recording:withdrawConsent', {});
    await host.waitFor('room:recording', (r) => r.state === 'off');
    await host.waitFor('room:consent', (c) => c.state === 'none');
    expect(server.recordings.activeRecordingId(fx.room)).to.equal(null);
    media.stop();
    await server.recordings.finalized(recordingId);
    const manifest = await server.archive.manifest(recordingId);
    expect(manifest.stopReason).to.equal('consent_withdrawn');
    expect(await refusal(host.request('recording:start', {}))).to.equal('INVALID_STATE');
    const consent = await server.db.query<{ withdrawn_by: string }>('SELECT withdrawn_by FROM recording_consents WHERE room_id = $1', [fx.room]);
    expect(consent.rows[0]?.withdrawn_by).to.equal('pt-zhao');
  });

  it('destroys expired recordings by their key and objects, and keeps one under legal hold', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      fx.next();
      const { host } = await visitWithConsent();
      await host.request('recording:start', {});
      const id = server.recordings.activeRecordingId(fx.room)!;
      const media = await injectMedia(server.rooms.get(fx.room)!, { peerId: host.peerId, userId: 'dr-li', role: 'host' }, { seconds: 3, ssrcBase: 4000 + i * 10 });
      await media.done;
      await host.request('recording:stop', {});
      media.stop();
      await server.recordings.finalized(id);
      ids.push(id);
    }
    const [expired, held] = ids as [string, string];
    await server.db.query(`UPDATE recordings SET retain_until = now() - interval '1 day' WHERE recording_id = ANY($1)`, [ids]);
    await server.db.query('UPDATE recordings SET legal_hold = true WHERE recording_id = $1', [held]);

    const report = await server.retention.sweep();
    expect(report.destroyed).to.deep.equal([expired]);
    expect(await segmentObjects(expired)).to.deep.equal([]);
    expect((await server.db.query('SELECT 1 FROM recording_keys WHERE recording_id = $1', [expired])).rowCount).to.equal(0);
    expect((await server.db.query<{ status: string }>('SELECT status FROM recordings WHERE recording_id = $1', [expired])).rows[0]?.status).to.equal('destroyed');
    const exportExpired = await server.archive.open(expired).then(() => null, (e: unknown) => e);
    expect(exportExpired).to.be.instanceOf(Error);

    await server.archive.verify(held);
    expect((await segmentObjects(held)).length).to.be.greaterThan(0);
  });
});

describe('encrypted recording when object storage is unreachable', function () {
  this.timeout(120_000);
  const fx = new RoomFixture('rec-outage');
  let s3: EmbeddedS3Server;
  let server: TestServer;
  let s3Dir = '';
  let s3Port = 0;

  before(async () => {
    s3Dir = tempDir();
    s3 = await EmbeddedS3Server.start({ directory: s3Dir, port: 0, bucket: 'huizhen' });
    s3Port = Number(new URL(s3.endpoint).port);
    server = await startTestServer({
      env: {
        HUIZHEN_S3_ENDPOINT: s3.endpoint,
        HUIZHEN_S3_ACCESS_KEY_ID: 'S3RVER',
        HUIZHEN_S3_SECRET_ACCESS_KEY: 'S3RVER',
        HUIZHEN_S3_REQUEST_TIMEOUT_MS: '1000',
      },
    });
    fx.use(server);
    fx.next();
  });
  after(async () => {
    fx.closeAll();
    await server.stop();
    await s3.close();
  });

  it('spools sealed segments for 20 s of outage, then uploads every one and the export plays', async () => {
    const host = await fx.client('host', 'dr-li');
    await host.join();
    const patient = await fx.client('patient', 'pt-wang');
    await patient.join();
    await host.request('room:admit', { peerId: patient.peerId });
    const admitted = await patient.waitFor('room:admitted');
    await patient.request('recording:giveConsent', { method: 'in_app', textVersion: admitted.consentText.version });
    await host.request('recording:start', {});
    const recordingId = server.recordings.activeRecordingId(fx.room)!;
    const room = server.rooms.get(fx.room)!;
    const media = await injectMedia(room, { peerId: host.peerId, userId: 'dr-li', role: 'host' }, { seconds: 30, ssrcBase: 5000 });

    await new Promise((r) => setTimeout(r, 4000));
    await s3.close(); // the store goes away for 20 s
    await new Promise((r) => setTimeout(r, 20_000));
    expect(server.uploader.pending, 'segments wait in the spool').to.be.greaterThan(2);
    s3 = await EmbeddedS3Server.start({ directory: s3Dir, port: s3Port, bucket: 'huizhen' });

    await media.done;
    await host.request('recording:stop', {});
    media.stop();
    expect(await server.recordings.finalized(recordingId)).to.equal('complete');
    const manifest = await server.archive.verify(recordingId);
    expect(manifest.segments.length).to.be.greaterThan(12);
    const out = path.join(tempDir(), 'outage.mkv');
    await server.archive.export(recordingId, out);
    expect(ffprobe(out).duration).to.be.closeTo(Math.max(...manifest.tracks.map((t) => t.endOffsetMs ?? 0)) / 1000, 1);
    expect(fs.readdirSync(path.join(server.dataDir, 'spool', recordingId))).to.deep.equal([]);
    expect(server.logLines.some((l) => l.includes('keeping sealed segments spooled'))).to.equal(true);
  });
});
