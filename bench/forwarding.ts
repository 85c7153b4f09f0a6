/**
 * Forwarding capacity. Pre-encoded VP8 + Opus clips are replayed by RTP
 * generators into PlainTransport producers (two senders, a camera and a
 * microphone each); receivers are PlainTransports to a UDP sink that counts
 * packets and sequence gaps, each receiver consuming every producer. The
 * number of receivers N grows until the media worker's CPU (from
 * worker.getResourceUsage()) reaches 85 % or the sink sees 1 % loss.
 *
 * The same sweep runs on:
 * - `bare`: mediasoup alone, no Huizhen code;
 * - `huizhen`: a Huizhen server (its worker pool, router settings,
 *   active-speaker observer, network-quality timer, recording attach), the
 *   senders and receivers being participants of one of its rooms, joined,
 *   admitted and given consumers by its Room (created paused, resumed on the
 *   participant's request, with its score, layer and pause listeners). Only
 *   the transports differ from a browser's: PlainTransports made by the
 *   room's transport factory, so that no browser is needed to count packets.
 * and once more each with SRTP on the receivers' PlainTransports.
 */
import * as mediasoup from 'mediasoup';
import type { Consumer, Producer, Worker } from 'mediasoup/types';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Room } from '../server/domain/rooms/Room.ts';
import { loadClip, type Clip } from './lib/clips.ts';
import { producerParameters, receiverTransport, senderTransport, startPlainHuizhen } from './lib/plainRooms.ts';
import { startSink, type RtpSink, type SinkTotals } from './lib/native.ts';
import { replay, type Replayer } from './lib/replay.ts';
import { linearFit, round, sleep, type LinearFit } from './lib/stats.ts';

export const CPU_LIMIT = 0.85;
export const LOSS_LIMIT = 0.01;
const SENDERS = 2;
const STEPS = [10, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000];
const WARMUP_MS = 1500;
const WINDOW_MS = 3000;

export interface SweepStep {
  receivers: number;
  consumers: number;
  /** Media worker CPU, share of one core. */
  workerCpu: number;
  forwardedPps: number;
  /** Lost at the sink / (received + lost), in the window. */
  loss: number;
  forwardedMbps: number;
}

export interface SweepResult {
  variant: string;
  srtp: boolean;
  inputPps: number;
  steps: SweepStep[];
  /** Why the sweep stopped. */
  stoppedBy: 'cpu' | 'loss' | 'max-steps';
  /** The last step within both limits. */
  best: SweepStep | null;
  /** Forwarded packets/s per fully used worker core, at `best`. */
  ppsPerCore: number | null;
  /** Worker CPU (share of a core) against consumers. */
  fit: LinearFit;
  cpuPerConsumerPercent: number;
  /** Consumers at 85 % worker CPU from the fit, and the packets/s they forward. */
  consumersAtLimit: number;
  capacityPps: number;
}

interface Topology {
  /** The RTP generators feeding the producers (started). */
  generators: Replayer[];
  addReceivers(count: number): Promise<void>;
  consumers(): number;
  /** Cumulative CPU of the media worker, ms. */
  workerCpuMs(): Promise<number>;
  close(): Promise<void>;
}

/** mediasoup alone: one worker, one router, plain transports. */
async function bareTopology(clips: Clip[], sink: RtpSink, srtp: boolean): Promise<Topology> {
  const worker: Worker = await mediasoup.createWorker({ logLevel: 'warn' });
  const router = await worker.createRouter({
    mediaCodecs: [
      { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
      { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
    ],
  });
  const producers: Producer[] = [];
  const generators: Replayer[] = [];
  let ssrc = 10_000;
  for (let s = 0; s < SENDERS; s++) {
    for (const clip of clips) {
      const t = await senderTransport(router);
      ssrc += 1;
      producers.push(await t.produce({ kind: clip.kind, rtpParameters: producerParameters(clip, ssrc) }));
      generators.push(replay(clip, { ip: '127.0.0.1', port: t.tuple.localPort }, ssrc));
    }
  }
  const consumers: Consumer[] = [];
  return {
    generators,
    async addReceivers(count) {
      for (let i = 0; i < count; i++) {
        const t = await receiverTransport(router, sink.port, srtp);
        for (const p of producers) consumers.push(await t.consume({ producerId: p.id, rtpCapabilities: router.rtpCapabilities, paused: false }));
      }
    },
    consumers: () => consumers.length,
    async workerCpuMs() {
      const u = await worker.getResourceUsage();
      return u.ru_utime + u.ru_stime;
    },
    async close() {
      for (const g of generators) g.stop();
      worker.close();
    },
  };
}

/** The same, through a Huizhen server's room. */
async function huizhenTopology(clips: Clip[], sink: RtpSink, srtp: boolean, dataDir: string): Promise<Topology> {
  const huizhen = await startPlainHuizhen({ dataDir, sinkPort: sink.port, srtp });
  const room: Room = await huizhen.server.rooms.room('bench-forwarding');
  const host = huizhen.join(room, 'bench-sender-0', 'host');
  const generators: Replayer[] = [];
  for (let s = 0; s < SENDERS; s++) {
    const peerId = s === 0 ? host : huizhen.join(room, `bench-sender-${s}`, 'expert', host);
    generators.push(...(await huizhen.send(room, peerId, clips)));
  }
  let receivers = 0;
  return {
    generators,
    async addReceivers(count) {
      for (let i = 0; i < count; i++) await huizhen.receive(room, huizhen.join(room, `bench-receiver-${receivers++}`, 'observer', host));
      // The room creates the consumers on its own; the participants resume them.
      await huizhen.settled(room, receivers * SENDERS * clips.length);
    },
    consumers: () => room.consumerCount,
    async workerCpuMs() {
      const u = await huizhen.server.workers.workers()[0]!.getResourceUsage();
      return u.ru_utime + u.ru_stime;
    },
    close: () => huizhen.close(),
  };
}

async function measure(topology: Topology, sink: RtpSink, receivers: number): Promise<SweepStep> {
  await sleep(WARMUP_MS);
  const [cpu0, s0, t0] = [await topology.workerCpuMs(), await sink.totals(), performance.now()];
  await sleep(WINDOW_MS);
  const [cpu1, s1, t1] = [await topology.workerCpuMs(), await sink.totals(), performance.now()];
  const seconds = (t1 - t0) / 1000;
  const d = (k: keyof SinkTotals) => s1[k] - s0[k];
  return {
    receivers,
    consumers: topology.consumers(),
    workerCpu: round((cpu1 - cpu0) / (t1 - t0), 4),
    forwardedPps: Math.round(d('packets') / seconds),
    loss: round(d('lost') / Math.max(1, d('packets') + d('lost')), 5),
    forwardedMbps: round((d('bytes') * 8) / seconds / 1e6, 2),
  };
}

export async function sweep(variant: 'bare' | 'huizhen', srtp: boolean, log: (line: string) => void): Promise<SweepResult> {
  const clips = [await loadClip('video'), await loadClip('audio')];
  const sink = await startSink();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'huizhen-bench-'));
  const topology = variant === 'bare' ? await bareTopology(clips, sink, srtp) : await huizhenTopology(clips, sink, srtp, dataDir);
  const steps: SweepStep[] = [];
  let stoppedBy: SweepResult['stoppedBy'] = 'max-steps';
  try {
    let receivers = 0;
    for (const target of STEPS) {
      await topology.addReceivers(target - receivers);
      receivers = target;
      const step = await measure(topology, sink, receivers);
      steps.push(step);
      log(`  ${variant}${srtp ? '+srtp' : ''}: ${String(step.receivers).padStart(3)} receivers, ${String(step.consumers).padStart(4)} consumers, worker ${(step.workerCpu * 100).toFixed(1).padStart(5)} %, ${String(step.forwardedPps).padStart(6)} pkt/s, loss ${(step.loss * 100).toFixed(2)} %`);
      if (step.workerCpu >= CPU_LIMIT) {
        stoppedBy = 'cpu';
        break;
      }
      if (step.loss >= LOSS_LIMIT) {
        stoppedBy = 'loss';
        break;
      }
    }
  } finally {
    await topology.close();
    await sink.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const inputPps = steps[0] ? Math.round(steps[0].forwardedPps / Math.max(1, steps[0].receivers)) : 0;
  const within = steps.filter((s) => s.workerCpu < CPU_LIMIT && s.loss < LOSS_LIMIT);
  const best = within.at(-1) ?? null;
  const fit = linearFit(steps.map((s) => [s.consumers, s.workerCpu]));
  const consumersAtLimit = fit.slope > 0 ? Math.round((CPU_LIMIT - fit.intercept) / fit.slope) : 0;
  const ppsPerConsumer = best ? best.forwardedPps / best.consumers : 0;
  return {
    variant,
    srtp,
    inputPps,
    steps,
    stoppedBy,
    best,
    ppsPerCore: best && best.workerCpu > 0 ? Math.round(best.forwardedPps / best.workerCpu) : null,
    fit,
    cpuPerConsumerPercent: round(fit.slope * 100, 4),
    consumersAtLimit,
    capacityPps: Math.round(consumersAtLimit * ppsPerConsumer),
  };
}
