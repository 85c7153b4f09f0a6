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
import { releaseRtpPortPair, reserveRtpPortPair, waitUntilBoundBy } from './rtpPorts.ts';
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
    const port = await reserveRtpPortPair();
    let transport: PlainTransport | undefined;
    let ffmpeg: ChildProcess | undefined;
    try {
      transport = await router.createPlainTransport({
        listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
        rtcpMux: false,
        comedia: false,
      });
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

      const child = spawn(
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
      ffmpeg = child;
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-2000);
      });
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
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
      // 'close', not 'exit': only then has ffmpeg's stdout (the list of
      // finished segments) been read to its end.
      const exited = new Promise<void>((resolve) => {
        child.once('error', (err) => {
          log.error({ trackId, err: { message: err.message } }, 'ffmpeg could not run for a track');
          resolve();
        });
        child.once('close', (code, signal) => {
          if (code !== 0) {
            log.warn({ trackId, code, signal, stderr: stderr.trim().split('\n').slice(-3) }, 'ffmpeg for a track ended unexpectedly');
          }
          resolve();
        });
      });

      // RTP sent before ffmpeg listens is lost, and a video track cannot
      // start without a keyframe: resume (which requests one) only once
      // this ffmpeg holds the port.
      if (child.pid === undefined) throw new Error('ffmpeg could not be started');
      await waitUntilBoundBy(child.pid, port, exited);
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
      return new TrackRecorder(trackId, format, transport, consumer, child, exited, keyframes, port);
    } catch (err) {
      // Nothing of a track that did not start stays behind: no transport, no
      // ffmpeg waiting for RTP, no files, no reserved port.
      transport?.close();
      if (ffmpeg && ffmpeg.exitCode === null && ffmpeg.signalCode === null) ffmpeg.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
      releaseRtpPortPair(port);
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
    })().finally(() => releaseRtpPortPair(this.#port));
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
