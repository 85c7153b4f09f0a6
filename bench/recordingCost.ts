/**
 * Recording cost. N two-party visits (a host and a patient, each sending
 * the pre-encoded camera and microphone clips and receiving the other) run
 * in one Huizhen server; all N record at once, with consent. Measured:
 *
 * - CPU per recorded track: the recorders' ffmpeg processes (/proc), plus
 *   what recording adds to the server process (sealing, hashing, spooling,
 *   uploading, and the embedded S3 server's side of the upload) and to the
 *   media worker (one more consumer per track), each taken as the
 *   difference between a window while recording and one just before;
 * - encryption + hashing as a share of the remux CPU: the sealing
 *   (AES-256-GCM) and SHA-256 of the bytes the recorders produced, timed on
 *   the same volume in segment-sized pieces, against ffmpeg's CPU;
 * - the time from the end of a visit (recording stopped) to its manifest
 *   being durable in S3;
 * - an approved playback: request → two tier approvals over REST, then the
 *   time to the first byte of the media (the first play prepares the
 *   playable file) and the throughput of reading it range after range.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { Room } from '../server/domain/rooms/Room.ts';
import { sealSegment, sha256 } from '../server/domain/recordings/sealing.ts';
import { loadClip } from './lib/clips.ts';
import { startSink } from './lib/native.ts';
import { startPlainHuizhen } from './lib/plainRooms.ts';
import { processCpuMs, quantile, round, sleep } from './lib/stats.ts';

export interface RecordingCostResult {
  visits: number;
  tracks: number;
  windowSeconds: number;
  /** Share of one core per recorded track, and its parts. */
  cpuPerTrack: { total: number; ffmpeg: number; server: number; worker: number };
  bytesPerTrackSecond: number;
  /** CPU of sealing + hashing the recorded bytes, as a share of the recorders' ffmpeg CPU. */
  encryptionHashingShareOfRemux: number;
  endToDurableMs: { p50: number; max: number; samples: number[] };
  playback: { prepareMs: number; firstByteMs: number; throughputMBps: number; bytes: number; ranges: number };
}

/** ffmpeg recorder processes of this server (their arguments name its work directory). */
function recorderPids(workDir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if ((args[0] ?? '').endsWith('ffmpeg') && args.some((a) => a.startsWith(workDir))) pids.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

function request(url: string, options: { method?: string; token?: string; body?: unknown; headers?: Record<string, string>; ca: string }): Promise<{ status: number; body: Buffer; json: any; headers: Record<string, unknown>; firstByteAt: number }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        agent: false,
        headers: {
          ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
          ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let firstByteAt = 0;
        res.on('data', (c: Buffer) => {
          if (firstByteAt === 0) firstByteAt = performance.now();
          chunks.push(c);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          let json: unknown;
          try {
            json = JSON.parse(body.toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body, json, headers: res.headers, firstByteAt });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(JSON.stringify(options.body));
    req.end();
  });
}

export async function recordingCost(visits: number, windowSeconds: number, log: (line: string) => void): Promise<RecordingCostResult> {
  const clips = [await loadClip('video'), await loadClip('audio')];
  const sink = await startSink();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'huizhen-bench-rec-'));
  const huizhen = await startPlainHuizhen({ dataDir, sinkPort: sink.port });
  const { server } = huizhen;
  const worker = server.workers.workers()[0]!;
  const workerCpu = async () => {
    const u = await worker.getResourceUsage();
    return u.ru_utime + u.ru_stime;
  };
  const serverCpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  try {
    // The visits: both participants send and receive.
    const rooms: Array<{ room: Room; host: string; patient: string }> = [];
    for (let v = 0; v < visits; v++) {
      const room = await server.rooms.room(`bench-rec-${v}`);
      const host = huizhen.join(room, `dr-bench-${v}`, 'host');
      const patient = huizhen.join(room, `pt-bench-${v}`, 'patient', host);
      for (const peer of [host, patient]) {
        await huizhen.send(room, peer, clips);
        await huizhen.receive(room, peer);
      }
      await huizhen.settled(room, 4);
      rooms.push({ room, host, patient });
    }
    await sleep(2000);

    // Before recording: the same visits, not recorded.
    const window = async () => {
      const [c0, w0, t0] = [serverCpu(), await workerCpu(), performance.now()];
      await sleep(windowSeconds * 1000);
      const [c1, w1, t1] = [serverCpu(), await workerCpu(), performance.now()];
      return { server: (c1 - c0) / (t1 - t0), worker: (w1 - w0) / (t1 - t0), seconds: (t1 - t0) / 1000 };
    };
    const before = await window();

    // Consent, then recording in every visit.
    const recordingIds: string[] = [];
    for (const { room, host, patient } of rooms) {
      await server.recordings.giveConsent(room, { userId: room.members().find((m) => m.peerId === patient)!.userId, role: 'patient' }, { method: 'in_app', textVersion: server.recordingPolicy.consent.textVersion });
      await server.recordings.start(room, { userId: room.members().find((m) => m.peerId === host)!.userId, role: 'host', department: 'cardiology' });
      recordingIds.push(server.recordings.activeRecordingId(room.id)!);
    }
    const tracks = visits * 4;
    const workDir = server.config.recordings.workDir ?? '';
    // Every recorder started (ffmpeg listens, first keyframe) before measuring.
    const deadline = Date.now() + 30_000;
    let recorders = recorderPids(workDir);
    while (recorders.length < tracks && Date.now() < deadline) {
      await sleep(200);
      recorders = recorderPids(workDir);
    }
    await sleep(2000);
    const ffmpeg0 = new Map(recorders.map((pid) => [pid, processCpuMs(pid)]));
    const during = await window();
    const ffmpegMs = recorders.reduce((n, pid) => n + (processCpuMs(pid) - (ffmpeg0.get(pid) ?? 0)), 0);
    const ffmpegShare = ffmpegMs / (during.seconds * 1000);

    // End of every visit's recording: how long until each manifest is durable in S3.
    const durable: number[] = [];
    await Promise.all(
      rooms.map(async ({ room, host }, i) => {
        const started = performance.now();
        await server.recordings.stop(room, { userId: room.members().find((m) => m.peerId === host)!.userId, role: 'host' });
        await server.recordings.finalized(recordingIds[i]!);
        durable.push(round(performance.now() - started, 1));
      }),
    );

    // What the recorders produced per track-second, and what sealing + hashing it costs.
    const stored = await server.db.query<{ bytes: string; segments: number }>(
      'SELECT COALESCE(sum(bytes), 0)::bigint AS bytes, count(*)::int AS segments FROM recording_segments WHERE recording_id = ANY($1)',
      [recordingIds],
    );
    const totalBytes = Number(stored.rows[0]?.bytes ?? 0);
    const segments = Number(stored.rows[0]?.segments ?? 1);
    const span = await server.db.query<{ seconds: number }>(
      'SELECT EXTRACT(EPOCH FROM (max(ended_at) - min(started_at)))::float AS seconds FROM recordings WHERE recording_id = ANY($1)',
      [recordingIds],
    );
    const recordedSeconds = Number(span.rows[0]?.seconds ?? 1);
    const bytesPerTrackSecond = totalBytes / tracks / recordedSeconds;
    const pieces = Math.max(1, Math.round(totalBytes / segments));
    const key = crypto.randomBytes(32);
    const volume = Math.min(totalBytes, 256 * 1024 * 1024);
    const plaintext = crypto.randomBytes(pieces);
    const c0 = process.cpuUsage();
    for (let done = 0, i = 0; done < volume; done += pieces, i++) sha256(sealSegment(key, { recordingId: 'bench', trackId: 't', index: i }, plaintext));
    const c1 = process.cpuUsage(c0);
    const sealMsPerByte = (c1.user + c1.system) / 1000 / volume;
    const sealShare = (sealMsPerByte * bytesPerTrackSecond * tracks) / 1000; // share of a core for all tracks
    log(`  ${visits} visits, ${tracks} tracks: ffmpeg ${(ffmpegShare * 100).toFixed(2)} % of a core, server +${((during.server - before.server) * 100).toFixed(2)} %, worker +${((during.worker - before.worker) * 100).toFixed(2)} %`);

    // An approved playback of the first recording.
    const ca = server.identity.tls.devCaCertificatePem ?? server.identity.tls.certificatePem;
    const issue = (userId: string, role: 'quality_reviewer' | 'approver', positions: string[], department: string) =>
      server.tokenIssuer!.issue({ userId, role, displayName: userId, department, positions, ttlSeconds: 900 }).token;
    const reviewer = issue('qr-bench', 'quality_reviewer', [], 'quality_office');
    const created = await request(`${server.url}/api/playback-requests`, { method: 'POST', token: reviewer, ca, body: { recordingId: recordingIds[0], purpose: '性能基准：回放', caseReference: 'BENCH-1' } });
    if (created.status !== 201) throw new Error(`playback request: ${created.status} ${created.body.toString()}`);
    const requestId = created.json.requestId as string;
    for (const [who, tier, dept] of [['ap-head', 'department_head', 'cardiology'], ['ap-affairs', 'medical_affairs', 'medical_affairs_office']] as const) {
      const decided = await request(`${server.url}/api/playback-requests/${requestId}/decisions`, { method: 'POST', token: issue(who, 'approver', [tier], dept), ca, body: { tier, decision: 'approve', comment: '同意' } });
      if (decided.status !== 200) throw new Error(`decision ${tier}: ${decided.status} ${decided.body.toString()}`);
    }
    const t0 = performance.now();
    const play = await request(`${server.url}/api/playback-requests/${requestId}/plays`, { method: 'POST', token: reviewer, ca });
    if (play.status !== 201) throw new Error(`play: ${play.status} ${play.body.toString()}`);
    const prepareMs = performance.now() - t0;
    const cookie = String(([] as string[]).concat((play.headers['set-cookie'] as string[] | undefined) ?? [])[0] ?? '').split(';')[0]!;
    const { mediaUrl, bytes } = play.json as { mediaUrl: string; bytes: number };
    let at = 0;
    let ranges = 0;
    let firstByteMs = 0;
    const readStart = performance.now();
    while (at < bytes) {
      const sent = performance.now();
      const r = await request(`${server.url}${mediaUrl}`, { ca, headers: { Cookie: cookie, Range: `bytes=${at}-` } });
      if (r.status !== 206) throw new Error(`range ${at}: ${r.status}`);
      if (ranges === 0) firstByteMs = r.firstByteAt - sent;
      at += r.body.length;
      ranges += 1;
    }
    const readSeconds = (performance.now() - readStart) / 1000;
    return {
      visits,
      tracks,
      windowSeconds: round(during.seconds, 2),
      cpuPerTrack: {
        total: round((ffmpegShare + Math.max(0, during.server - before.server) + Math.max(0, during.worker - before.worker)) / tracks, 5),
        ffmpeg: round(ffmpegShare / tracks, 5),
        server: round(Math.max(0, during.server - before.server) / tracks, 5),
        worker: round(Math.max(0, during.worker - before.worker) / tracks, 5),
      },
      bytesPerTrackSecond: Math.round(bytesPerTrackSecond),
      encryptionHashingShareOfRemux: round(sealShare / ffmpegShare, 4),
      endToDurableMs: { p50: round(quantile(durable, 0.5), 1), max: Math.max(...durable), samples: durable },
      playback: { prepareMs: round(prepareMs, 1), firstByteMs: round(firstByteMs, 1), throughputMBps: round(bytes / 1e6 / readSeconds, 2), bytes, ranges },
    };
  } finally {
    await huizhen.close();
    await sink.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
