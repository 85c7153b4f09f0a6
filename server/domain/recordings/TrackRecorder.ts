/**
 * Records one producer (a participant's microphone, camera or screen)
 * without re-encoding: a PlainTransport consumer on the room's router sends
 * RTP to ffmpeg on loopback, which remuxes it (`-c copy`) into WebM
 * (Matroska for H264) segments of the policy's length. A keyframe is
 * requested at every segment boundary so that each segment starts with one.
 *
 * ffmpeg writes each finished segment into a private work directory (0700,
 * RAM-backed where /dev/shm exists) and names it on its stdout; the
 * recording seals it and deletes the plaintext at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { containerFor, type RecordingContainer, type RecordingPolicy } from './RecordingPolicy.ts';
import type { Consumer, PlainTransport, Producer, Router, RtpCodecParameters } from 'mediasoup/types';
import type { Logger } from 'pino';

export interface FinishedSegment {
  index: number;
  file: string;
  durationMs: number;
  /** When ffmpeg reported it finished (ms since the epoch). */
  finishedAt: number;
}

export interface TrackRecorderOptions {
  router: Router;
  producer: Producer;
  trackId: string;
  dir: string;
  segmentSeconds: number;
  /** The recording policy's codec → container table. */
  codecs: RecordingPolicy['codecs'];
  log: Logger;
  onSegment: (segment: FinishedSegment) => void;
}

export interface TrackFormat {
  codec: string;
  container: RecordingContainer;
}

export class TrackRecorder {
  readonly trackId: string;
  readonly format: TrackFormat;
  readonly #transport: PlainTransport;
  readonly #consumer: Consumer;
  readonly #ffmpeg: ChildProcess;
  readonly #exited: Promise<void>;
  readonly #keyframes: NodeJS.Timeout | undefined;
  readonly #port: number;
  #stopping: Promise<void> | undefined;

  private constructor(
    trackId: string,
    format: TrackFormat,
    transport: PlainTransport,
    consumer: Consumer,
    ffmpeg: ChildProcess,
    exited: Promise<void>,
    keyframes: NodeJS.Timeout | undefined,
    port: number,
  ) {
    this.trackId = trackId;
    this.format = format;
    this.#transport = transport;
    this.#consumer = consumer;
    this.#ffmpeg = ffmpeg;
    this.#exited = exited;
    this.#keyframes = keyframes;
    this.#port = port;
  }

  static async start(options: TrackRecorderOptions): Promise<TrackRecorder> {
    const { router, producer, trackId, dir, segmentSeconds, codecs, log } = options;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const port = await freeRtpPortPair();
    const transport = await router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      rtcpMux: false,
      comedia: false,
    });
    try {
      await transport.connect({ ip: '127.0.0.1', port, rtcpPort: port + 1 });
      const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities, paused: true });
      const codec = consumer.rtpParameters.codecs[0] as RtpCodecParameters;
      const format: TrackFormat = {
        codec: codec.mimeType,
        container: containerFor({ codecs }, codec.mimeType),
      };
      const extension = format.container === 'webm' ? 'webm' : 'mkv';
      const sdpFile = path.join(dir, 'input.sdp');
      fs.writeFileSync(sdpFile, sdpFor(consumer.kind, codec, port), { mode: 0o600 });

      const ffmpeg = spawn(
        'ffmpeg',
        [
          '-hide_banner', '-loglevel', 'error', '-nostdin',
          '-protocol_whitelist', 'file,udp,rtp',
          '-fflags', '+genpts',
          '-reorder_queue_size', '128',
          '-f', 'sdp', '-i', sdpFile,
          '-map', '0', '-c', 'copy',
          '-f', 'segment',
          '-segment_time', String(segmentSeconds),
          // A keyframe requested at the boundary may land just before it.
          '-segment_time_delta', '0.5',
          '-segment_format', format.container,
          '-segment_list', 'pipe:1', '-segment_list_type', 'csv',
          '-reset_timestamps', '1',
          path.join(dir, `seg-%06d.${extension}`),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      ffmpeg.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-2000);
      });
      readline.createInterface({ input: ffmpeg.stdout! }).on('line', (line) => {
        // seg-000003.webm,12.000000,16.000000
        const match = /^seg-(\d+)\.\w+,([\d.]+),([\d.]+)$/.exec(line.trim());
        if (!match) return;
        const start = Number(match[2]);
        const end = Number(match[3]);
        options.onSegment({
          index: Number(match[1]),
          file: path.join(dir, line.trim().split(',')[0] as string),
          durationMs: Math.max(0, Math.round((end - start) * 1000)),
          finishedAt: Date.now(),
        });
      });
      const exited = new Promise<void>((resolve) => {
        ffmpeg.once('exit', (code, signal) => {
          if (code !== 0) {
            log.warn({ trackId, code, signal, stderr: stderr.trim().split('\n').slice(-3) }, 'ffmpeg for a track ended unexpectedly');
          }
          resolve();
        });
      });

      // RTP sent before ffmpeg listens is lost, and a video track cannot
      // start without a keyframe: resume (which requests one) only once
      // ffmpeg holds the port.
      await waitUntilBound(port, exited);
      await consumer.resume();
      // A keyframe at every segment boundary so that each segment can be
      // played on its own.
      let keyframes: NodeJS.Timeout | undefined;
      if (consumer.kind === 'video') {
        const request = () => void consumer.requestKeyFrame().catch(() => undefined);
        request();
        keyframes = setInterval(request, segmentSeconds * 1000);
        keyframes.unref();
      }
      log.info({ trackId, codec: format.codec, port }, 'track recording started');
      return new TrackRecorder(trackId, format, transport, consumer, ffmpeg, exited, keyframes, port);
    } catch (err) {
      transport.close();
      throw err;
    }
  }

  /**
   * Ends the track cleanly: RTP stops, then an RTCP BYE tells ffmpeg the
   * stream is over, so it closes the last segment properly (a signal would
   * not: once remuxing, ffmpeg only stops on a second SIGINT, which
   * abandons the last segment). Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#keyframes);
      this.#consumer.close();
      this.#transport.close();
      if (this.#ffmpeg.exitCode !== null || this.#ffmpeg.signalCode !== null) return;
      await sendRtcpBye(this.#port + 1);
      const escalate = setTimeout(() => {
        this.#ffmpeg.kill('SIGINT');
        setTimeout(() => this.#ffmpeg.kill('SIGINT'), 500).unref();
        setTimeout(() => this.#ffmpeg.kill('SIGKILL'), 3000).unref();
      }, 5000);
      await this.#exited;
      clearTimeout(escalate);
    })();
    return this.#stopping;
  }
}

/**
 * A compound RTCP packet (an empty receiver report, then BYE) to ffmpeg's
 * RTCP port: ffmpeg ends the input at BYE. (A lone 8-byte BYE is shorter
 * than ffmpeg's minimum RTP packet and is ignored.)
 */
function sendRtcpBye(rtcpPort: number): Promise<void> {
  const rr = [0x80, 0xc9, 0x00, 0x01, 0x48, 0x5a, 0x00, 0x01];
  const bye = [0x81, 0xcb, 0x00, 0x01, 0x48, 0x5a, 0x00, 0x01];
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.send(Buffer.from([...rr, ...bye]), rtcpPort, '127.0.0.1', () => socket.close(() => resolve()));
  });
}

function sdpFor(kind: string, codec: RtpCodecParameters, port: number): string {
  const [, name] = codec.mimeType.split('/');
  const rtpmap = `${codec.payloadType} ${name}/${codec.clockRate}${codec.channels && codec.channels > 1 ? `/${codec.channels}` : ''}`;
  const fmtp = Object.entries(codec.parameters ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(';');
  return [
    'v=0',
    'o=- 0 0 IN IP4 127.0.0.1',
    's=huizhen-recording',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=${kind} ${port} RTP/AVP ${codec.payloadType}`,
    `a=rtpmap:${rtpmap}`,
    ...(fmtp ? [`a=fmtp:${codec.payloadType} ${fmtp}`] : []),
    'a=recvonly',
    '',
  ].join('\r\n');
}

/** Resolves once something (ffmpeg) has bound `port`; rejects if ffmpeg exits first or after 10 s. */
async function waitUntilBound(port: number, exited: Promise<void>): Promise<void> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + 10_000;
  while (await udpFree(port)) {
    if (gone) throw new Error('ffmpeg exited before listening');
    if (Date.now() > deadline) throw new Error('ffmpeg did not start listening');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An even UDP port whose successor is free too (RTP and RTCP for ffmpeg). */
async function freeRtpPortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = 20000 + 2 * Math.floor(Math.random() * 10000);
    if ((await udpFree(port)) && (await udpFree(port + 1))) return port;
  }
  throw new Error('no free UDP port pair for recording');
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}
