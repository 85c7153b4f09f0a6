/**
 * Pre-encoded media for the RTP generators: a VP8 test picture (640×360,
 * 30 fps, 600 kbit/s, a keyframe every second) and an Opus tone (20 ms
 * frames, 32 kbit/s), 10 s each, encoded once by ffmpeg and captured as RTP
 * packets into the cache. Replaying them costs the benchmark almost nothing,
 * unlike encoding live.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSink } from './native.ts';

export interface Clip {
  kind: 'audio' | 'video';
  payloadType: number;
  clockRate: number;
  /** RTP packets as captured (original SSRC, sequence numbers and timestamps). */
  packets: Buffer[];
  /** RTP ticks the clip lasts (where the next loop's timestamps continue). */
  durationTicks: number;
}

const SECONDS = 10;
const RECIPE = {
  video: ['-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=30:duration=${SECONDS}`, '-c:v', 'libvpx', '-b:v', '600k', '-g', '30', '-keyint_min', '30', '-deadline', 'realtime', '-cpu-used', '8', '-payload_type', '101', '-ssrc', '1111'],
  audio: ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${SECONDS}`, '-c:a', 'libopus', '-b:a', '32k', '-ac', '2', '-ar', '48000', '-frame_duration', '20', '-payload_type', '100', '-ssrc', '2222'],
} as const;

const CACHE = path.join(process.env['HUIZHEN_CACHE_DIR'] ?? path.join(os.homedir(), '.cache', 'huizhen'), 'bench', 'clips');

function clipFile(kind: 'audio' | 'video'): string {
  const hash = crypto.createHash('sha256').update(JSON.stringify(RECIPE[kind])).digest('hex').slice(0, 12);
  return path.join(CACHE, `${kind}-${hash}.rtp`);
}

/** Length-prefixed packets (as the sink dumps them). */
function load(file: string): Buffer[] {
  const data = fs.readFileSync(file);
  const packets: Buffer[] = [];
  for (let at = 0; at < data.length; ) {
    const len = data.readUInt16BE(at);
    packets.push(Buffer.from(data.subarray(at + 2, at + 2 + len)));
    at += 2 + len;
  }
  return packets;
}

/** Encodes and captures one clip, in real time, into the C sink (whose large buffer drops nothing). */
async function capture(kind: 'audio' | 'video', file: string): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const sink = await startSink(`${file}.tmp`);
  // RTCP goes to the next port, not to the sink.
  const ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', ...RECIPE[kind], '-f', 'rtp', `rtp://127.0.0.1:${sink.port}?pkt_size=1200`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((resolve) => ffmpeg.once('exit', resolve));
  const totals = await sink.totals();
  await sink.close();
  if (code !== 0) throw new Error(`ffmpeg failed to encode the ${kind} clip`);
  if (totals.lost > 0 || totals.ssrcs !== 1) throw new Error(`the ${kind} clip capture is not whole (${totals.lost} lost); run again`);
  fs.renameSync(`${file}.tmp`, file);
}

export async function loadClip(kind: 'audio' | 'video'): Promise<Clip> {
  const file = clipFile(kind);
  if (!fs.existsSync(file)) await capture(kind, file);
  const packets = load(file);
  const clockRate = kind === 'video' ? 90_000 : 48_000;
  const first = packets[0]!.readUInt32BE(4);
  const last = packets.at(-1)!.readUInt32BE(4);
  // One frame after the last one: 1/30 s of video, 20 ms of audio.
  const frame = kind === 'video' ? 3000 : 960;
  return { kind, payloadType: kind === 'video' ? 101 : 100, clockRate, packets, durationTicks: ((last - first) >>> 0) + frame };
}
