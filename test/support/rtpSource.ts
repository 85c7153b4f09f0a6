/**
 * Real RTP for recording tests without a browser: ffmpeg encodes a test
 * picture (VP8) and a tone (Opus) in real time and sends them to
 * PlainTransport producers on the room's router, announced to the room's
 * observers as a participant's camera and microphone — standing in for the
 * browser's WebRTC producers, which the Chromium tests cover.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { PlainTransport, Producer } from 'mediasoup/types';
import type { Room } from '../../server/domain/rooms/Room.ts';
import type { LiveRole } from '../../server/protocol/roles.ts';

export interface InjectedMedia {
  producers: Producer[];
  /** Resolves when ffmpeg has sent everything (after `seconds`) or was stopped. */
  done: Promise<void>;
  /** Stops sending and closes the producers (the participant stops sending). */
  stop(): void;
}

export async function injectMedia(
  room: Room,
  who: { peerId: string; userId: string; role: LiveRole },
  options: {
    seconds: number;
    video?: boolean;
    audio?: boolean;
    ssrcBase?: number;
    /** A noisy picture at this bitrate (e.g. '4M'), for large recordings; default a plain test picture at 400k. */
    videoBitrate?: string;
  },
): Promise<InjectedMedia> {
  const router = room.router;
  if (!router) throw new Error('the room has no router');
  const base = options.ssrcBase ?? 11_000_000;
  const transports: PlainTransport[] = [];
  const producers: Producer[] = [];
  const outputs: string[] = [];

  const plain = async () => {
    const t = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: false, comedia: true });
    transports.push(t);
    return t;
  };

  if (options.video !== false) {
    const t = await plain();
    const producer = await t.produce({
      kind: 'video',
      rtpParameters: { codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000 }], encodings: [{ ssrc: base + 1 }] },
      appData: { source: 'camera' },
    });
    producers.push(producer);
    outputs.push(
      // A keyframe every second: ffmpeg as a sender ignores keyframe requests (PLI).
      '-map', '0:v', ...(options.videoBitrate ? ['-vf', 'noise=alls=60:allf=t', '-minrate', options.videoBitrate, '-maxrate', options.videoBitrate] : []), '-c:v', 'libvpx', '-b:v', options.videoBitrate ?? '400k', '-deadline', 'realtime', '-cpu-used', '8', '-g', '15',
      '-ssrc', String(base + 1), '-payload_type', '101',
      '-f', 'rtp', `rtp://127.0.0.1:${t.tuple.localPort}?rtcpport=${t.rtcpTuple?.localPort ?? (await t.getStats())[0]?.rtcpTuple?.localPort}&pkt_size=1200`,
    );
    room.observer.emit('producer', { producer, router, source: 'camera', ...who });
  }
  if (options.audio !== false) {
    const t = await plain();
    const producer = await t.produce({
      kind: 'audio',
      rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: base + 2 }] },
      appData: { source: 'mic' },
    });
    producers.push(producer);
    outputs.push(
      '-map', '1:a', '-c:a', 'libopus', '-b:a', '32k', '-ac', '2', '-ar', '48000',
      '-ssrc', String(base + 2), '-payload_type', '100',
      '-f', 'rtp', `rtp://127.0.0.1:${t.tuple.localPort}?rtcpport=${t.rtcpTuple?.localPort ?? (await t.getStats())[0]?.rtcpTuple?.localPort}&pkt_size=1200`,
    );
    room.observer.emit('producer', { producer, router, source: 'mic', ...who });
  }

  const ffmpeg: ChildProcess = spawn(
    'ffmpeg',
    [
      '-nostdin', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=15:duration=${options.seconds}`,
      '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${options.seconds}`,
      ...outputs,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const done = new Promise<void>((resolve) => ffmpeg.once('exit', () => resolve()));
  let stopped = false;
  return {
    producers,
    done,
    stop() {
      if (stopped) return;
      stopped = true;
      if (ffmpeg.exitCode === null) ffmpeg.kill('SIGKILL');
      for (const t of transports) t.close();
    },
  };
}
