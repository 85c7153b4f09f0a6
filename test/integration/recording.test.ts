import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import forge from 'node-forge';
import { signManifest, type Manifest } from '../../server/domain/recordings/manifest.ts';
import { RecordingArchive } from '../../server/domain/recordings/RecordingArchive.ts';
import { RetentionSweeper } from '../../server/domain/recordings/RetentionSweeper.ts';
import { IntegrityError } from '../../server/domain/recordings/sealing.ts';
import { TrackRecorder } from '../../server/domain/recordings/TrackRecorder.ts';
import { KeyRegistry } from '../../server/storage/repositories/KeyRegistry.ts';
import { RecordingRepository } from '../../server/storage/repositories/RecordingRepository.ts';
import { EmbeddedS3Server } from '../../server/storage/objects/index.ts';
import { RoomFixture, refusal } from '../support/roomFixture.ts';
import type { RoomClient } from '../support/roomClient.ts';
import { injectMedia } from '../support/rtpSource.ts';
import { captureLogger, externalS3Env, startTestServer, tempDir, type TestServer } from '../support/server.ts';

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

/** Export work folders (they hold plaintext while an export runs). */
function exportTempDirs(): string[] {
  return ['/dev/shm', os.tmpdir()].flatMap((root) => (fs.existsSync(root) ? fs.readdirSync(root).filter((f) => f.startsWith('huizhen-export-')).map((f) => path.join(root, f)) : [])).sort();
}

/** Host joined, patient admitted (no consent yet). */
async function admittedVisit(fx: RoomFixture, patientUserId = 'pt-wang') {
  const host = await fx.client('host', 'dr-li');
  await host.join();
  const patient = await fx.client('patient', patientUserId);
  await patient.join();
  await host.request('room:admit', { peerId: patient.peerId });
  const admitted = await patient.waitFor('room:admitted');
  return { host, patient, admitted };
}

describe('encrypted recording of consultations', function () {
  this.timeout(120_000);
  const fx = new RoomFixture('rec-room');
  let server: TestServer;

  /** Host and patient admitted; the patient has consented in the app. */
  async function visitWithConsent(): Promise<{ host: RoomClient; patient: RoomClient }> {
    const { host, patient, admitted } = await admittedVisit(fx);
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
      // The patient started later (2 s after the host's media, give or take
      // how long each RTP source and recorder took to start on a busy
      // machine) and stopped earlier.
      expect(patientCamera.startOffsetMs - hostCamera.startOffsetMs).to.be.within(400, 3500);
      expect(patientCamera.endOffsetMs! - patientCamera.startOffsetMs).to.be.within(4500, 8000);
      expect(manifest.segments.map((s) => s.seq)).to.deep.equal(manifest.segments.map((_, i) => i + 1));
      // The stored key is wrapped; the database holds nothing that opens the media on its own.
      const row = await server.db.query<{ key_id: string; wrapped_key: Uint8Array }>('SELECT key_id, wrapped_key FROM recording_keys WHERE recording_id = $1', [recordingId]);
      expect(row.rows[0]?.key_id).to.equal(server.kek.activeKeyId);
      expect(Buffer.from(row.rows[0]!.wrapped_key).length).to.equal(384); // RSA-3072 OAEP block
    });

    it('exports one playable file with audio and video, as long as the recording, the same bytes every time', async () => {
      const out = path.join(tempDir(), 'visit.webm');
      const { format } = await server.archive.export(recordingId, out);
      expect(format).to.equal('webm');
      const probe = ffprobe(out);
      expect(probe.ok).to.equal(true);
      expect(probe.streams.filter((s) => s.codec_type === 'video').map((s) => s.codec_name)).to.deep.equal(['vp8', 'vp8']);
      // A mix of everyone first (what a player plays), then each participant's own audio.
      expect(probe.streams.filter((s) => s.codec_type === 'audio').map((s) => s.codec_name)).to.deep.equal(['opus', 'opus', 'opus']);
      const first = probe.streams[0] as { codec_type?: string; tags?: Record<string, string>; disposition?: Record<string, number> };
      expect(first.codec_type).to.equal('audio');
      expect(first.tags?.['title'] ?? first.tags?.['TITLE']).to.match(/mixed audio/);
      expect(first.disposition?.['default']).to.equal(1);
      // Bit-exact: playback serves byte ranges of this very file.
      const again = path.join(tempDir(), 'again.webm');
      await server.archive.export(recordingId, again);
      expect(crypto.createHash('sha256').update(fs.readFileSync(again)).digest('hex')).to.equal(crypto.createHash('sha256').update(fs.readFileSync(out)).digest('hex'));
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

    it('refuses an older, validly signed manifest of the same recording, and one signed by a key not meant for manifests', async () => {
      const key = `recordings/${recordingId}/manifest.json`;
      const original = await server.objectStore.getBuffer(key);
      const { signature: _, ...body } = JSON.parse(original.toString()) as Manifest;
      try {
        // A genuine earlier state: fewer segments, its own consistent chain head, signed by the server's key.
        const segments = body.segments.slice(0, -2);
        const older = signManifest({ ...body, segments, chainHead: segments.at(-1)!.chain }, server.manifestSigner);
        await server.objectStore.put(key, Buffer.from(JSON.stringify(older)));
        let error = await server.archive.verify(recordingId).then(() => null, (e: unknown) => e);
        expect(error).to.be.instanceOf(IntegrityError);
        expect((error as Error).message).to.match(/does not end where the recording ended/);

        // The same manifest signed with the hospital's key-encryption key (registered, but for wrapping keys).
        const kekFile = path.join(server.dataDir, 'keys', `recording-kek-${server.kek.activeKeyId}.key.pem`);
        const pkcs1 = crypto.createPrivateKey(fs.readFileSync(kekFile)).export({ type: 'pkcs1', format: 'pem' }).toString();
        const kekSigned = signManifest(body, { keyId: server.kek.activeKeyId, privateKey: forge.pki.privateKeyFromPem(pkcs1) as forge.pki.rsa.PrivateKey });
        await server.objectStore.put(key, Buffer.from(JSON.stringify(kekSigned)));
        error = await server.archive.verify(recordingId).then(() => null, (e: unknown) => e);
        expect((error as Error).message).to.match(/signing key .* is not known/);
      } finally {
        await server.objectStore.put(key, original);
      }
      await server.archive.verify(recordingId);
    });

    it('leaves no plaintext behind when an export is interrupted', async () => {
      const out = path.join(tempDir(), 'interrupted.mkv');
      const abort = new AbortController();
      let fetched = 0;
      // The operator presses Ctrl-C while segments are being decrypted.
      const store = new Proxy(server.objectStore, {
        get(target, prop, receiver) {
          if (prop === 'getBuffer') {
            return async (k: string) => {
              if (k.endsWith('.seg') && ++fetched === 3) abort.abort(new Error('interrupted by the operator'));
              return target.getBuffer(k);
            };
          }
          const value = Reflect.get(target, prop, receiver) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const archive = new RecordingArchive({
        store,
        repository: new RecordingRepository(server.db),
        kek: server.kek,
        manifestKey: (keyId) => new KeyRegistry(server.db).publicKey(keyId, 'manifest-signing'),
      });
      const before = exportTempDirs();
      const error = await archive.export(recordingId, out, { signal: abort.signal }).then(() => null, (e: unknown) => e);
      expect((error as Error).message).to.equal('interrupted by the operator');
      expect(fetched).to.be.at.least(3);
      expect(exportTempDirs()).to.deep.equal(before);
      expect(fs.existsSync(out)).to.equal(false);
    });
  });

  it('refuses to record without consent, and stops at once when consent is withdrawn', async () => {
    const { host, patient, admitted } = await admittedVisit(fx, 'pt-zhao');
    expect(await refusal(host.request('recording:start', {}))).to.equal('CONSENT_REQUIRED');
    // A consent given to an earlier consent text does not count: the patient must agree to the text in force.
    await server.db.query(
      `INSERT INTO recording_consents (consent_id, room_id, patient_user_id, method, recorded_by, text_version) VALUES ('old-consent', $1, 'pt-zhao', 'in_app', 'pt-zhao', '2025-01-v0')`,
      [fx.room],
    );
    expect(await refusal(host.request('recording:start', {}))).to.equal('CONSENT_REQUIRED');
    expect(await server.recordings.consentState(fx.room)).to.deep.equal({ state: 'none' });
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
    expect(await refusal(host.request('recording:start', {}))).to.equal('CONSENT_REQUIRED');
    const consent = await server.db.query<{ withdrawn_by: string }>('SELECT withdrawn_by FROM recording_consents WHERE room_id = $1', [fx.room]);
    expect(consent.rows[0]?.withdrawn_by).to.equal('pt-zhao');
  });

  /** A finished recording of a short visit in a new room. */
  async function shortRecording(seconds: number, ssrcBase: number): Promise<string> {
    fx.next();
    const { host } = await visitWithConsent();
    await host.request('recording:start', {});
    const id = server.recordings.activeRecordingId(fx.room)!;
    const media = await injectMedia(server.rooms.get(fx.room)!, { peerId: host.peerId, userId: 'dr-li', role: 'host' }, { seconds, ssrcBase });
    await media.done;
    await host.request('recording:stop', {});
    media.stop();
    await server.recordings.finalized(id);
    return id;
  }

  it('destroys expired recordings by their key and objects, and keeps those under legal hold, even a hold placed during the sweep', async () => {
    const expired = await shortRecording(3, 4000);
    const held = await shortRecording(3, 4010);
    const heldDuringSweep = await shortRecording(3, 4020);
    const ids = [expired, held, heldDuringSweep];
    // Expired in this order: the sweep reaches heldDuringSweep last.
    await server.db.query(`UPDATE recordings SET retain_until = now() - interval '3 days' WHERE recording_id = $1`, [expired]);
    await server.db.query(`UPDATE recordings SET retain_until = now() - interval '2 days', legal_hold = true WHERE recording_id = $1`, [held]);
    await server.db.query(`UPDATE recordings SET retain_until = now() - interval '1 day' WHERE recording_id = $1`, [heldDuringSweep]);

    // While the sweep deletes the first recording's objects, a records
    // officer puts the last one on hold.
    const repository = new RecordingRepository(server.db);
    const store = new Proxy(server.objectStore, {
      get(target, prop, receiver) {
        if (prop === 'list') {
          return (prefix: string) => {
            if (prefix === `recordings/${expired}/`) {
              return (async function* () {
                await repository.setLegalHold(heldDuringSweep, true);
                yield* target.list(prefix);
              })();
            }
            return target.list(prefix);
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const report = await new RetentionSweeper({ repository, store, log: captureLogger().log }).sweep();
    expect(report.destroyed).to.deep.equal([expired]);
    expect(await segmentObjects(expired)).to.deep.equal([]);
    expect((await server.db.query('SELECT 1 FROM recording_keys WHERE recording_id = $1', [expired])).rowCount).to.equal(0);
    const statuses = await server.db.query<{ recording_id: string; status: string }>('SELECT recording_id, status FROM recordings WHERE recording_id = ANY($1)', [ids]);
    expect(Object.fromEntries(statuses.rows.map((r) => [r.recording_id, r.status]))).to.deep.equal({ [expired]: 'destroyed', [held]: 'complete', [heldDuringSweep]: 'complete' });
    const exportExpired = await server.archive.open(expired).then(() => null, (e: unknown) => e);
    expect(exportExpired).to.be.instanceOf(Error);

    for (const id of [held, heldDuringSweep]) {
      await server.archive.verify(id);
      expect((await segmentObjects(id)).length).to.be.greaterThan(0);
    }
  });

  it('records one recording per visit whatever the timing: double starts, and starts racing a withdrawal', async () => {
    const { host, patient } = await visitWithConsent();
    const version = server.recordings.policy.consent.textVersion;
    // The host double-clicks.
    const both = await Promise.allSettled([host.request('recording:start', {}), host.request('recording:start', {})]);
    expect(both.map((r) => r.status).sort()).to.deep.equal(['fulfilled', 'rejected']);
    const running = await server.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM recordings WHERE room_id = $1`, [fx.room]);
    expect(running.rows[0]?.n).to.equal(1);
    await host.request('recording:stop', {});

    // The host starts while the patient withdraws; whichever wins, nothing records without consent.
    for (let round = 0; round < 3; round += 1) {
      await patient.request('recording:giveConsent', { method: 'in_app', textVersion: version });
      await Promise.allSettled([host.request('recording:start', {}), patient.request('recording:withdrawConsent', {})]);
      expect(server.recordings.activeRecordingId(fx.room), `round ${round}`).to.equal(null);
      expect(server.recordings.recordingState(fx.room)).to.deep.equal({ state: 'off' });
      const open = await server.db.query(`SELECT 1 FROM recordings WHERE room_id = $1 AND status = 'recording'`, [fx.room]);
      expect(open.rowCount, `round ${round}`).to.equal(0);
    }
    // Every recording made in this room ends up final, and any that began is marked as stopped by the withdrawal.
    const ids = await server.db.query<{ recording_id: string }>('SELECT recording_id FROM recordings WHERE room_id = $1 ORDER BY started_at', [fx.room]);
    for (const [i, { recording_id: id }] of ids.rows.entries()) {
      await server.recordings.finalized(id);
      if (i > 0) expect((await server.archive.manifest(id)).stopReason).to.equal('consent_withdrawn');
    }
  });

  it('declares a segment lost to a full spool disk in the manifest; the rest verifies and exports', async () => {
    const { host } = await visitWithConsent();
    const uploader = server.uploader;
    const writeSpool = uploader.writeSpool.bind(uploader);
    let calls = 0;
    uploader.writeSpool = (group: string, name: string, sealed: Buffer) => {
      if (name.endsWith('.seg') && ++calls === 2) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      writeSpool(group, name, sealed);
    };
    try {
      await host.request('recording:start', {});
      const id = server.recordings.activeRecordingId(fx.room)!;
      const media = await injectMedia(server.rooms.get(fx.room)!, { peerId: host.peerId, userId: 'dr-li', role: 'host' }, { seconds: 10, ssrcBase: 4100 });
      await media.done;
      await host.request('recording:stop', {});
      media.stop();
      await server.recordings.finalized(id);
      const manifest = await server.archive.verify(id);
      expect(manifest.gaps).to.have.length(1);
      expect(manifest.gaps?.[0]?.reason).to.equal('ENOSPC');
      const lost = manifest.gaps![0]!;
      expect(manifest.segments.some((s) => s.trackId === lost.trackId && s.index === lost.index)).to.equal(false);
      expect(manifest.segments.some((s) => s.trackId === lost.trackId && s.index === lost.index + 1)).to.equal(true);
      const out = path.join(tempDir(), 'with-gap.mkv');
      await server.archive.export(id, out);
      expect(ffprobe(out).ok).to.equal(true);
    } finally {
      uploader.writeSpool = writeSpool;
    }
  });

  it('a track whose ffmpeg cannot start fails alone and cleanly: no crash, no files, no transport', async () => {
    const { host } = await visitWithConsent();
    const room = server.rooms.get(fx.room)!;
    const media = await injectMedia(room, { peerId: host.peerId, userId: 'dr-li', role: 'host' }, { seconds: 3, ssrcBase: 4200 });
    try {
      const router = room.router!;
      const producer = media.producers[0]!;
      const transports: Array<{ closed: boolean }> = [];
      router.observer.on('newtransport', (t) => transports.push(t));
      const dir = path.join(tempDir(), 'track');
      const path0 = process.env['PATH'];
      process.env['PATH'] = '/nonexistent';
      let error: unknown;
      try {
        error = await TrackRecorder.start({
          router,
          producer,
          trackId: 't900-mic',
          dir,
          segmentSeconds: 4,
          codecs: server.recordingPolicy.codecs,
          log: captureLogger().log,
          onSegment: () => undefined,
        }).then(() => null, (e: unknown) => e);
      } finally {
        process.env['PATH'] = path0;
      }
      expect((error as Error).message).to.match(/ffmpeg/);
      expect(fs.existsSync(dir)).to.equal(false);
      expect(transports).to.have.length(1);
      expect(transports[0]!.closed).to.equal(true);
    } finally {
      media.stop();
    }
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
      env: externalS3Env(s3, { HUIZHEN_S3_REQUEST_TIMEOUT_MS: '1000' }),
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
    const { host, patient, admitted } = await admittedVisit(fx);
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
