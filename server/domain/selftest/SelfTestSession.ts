/**
 * Media self-test (设备与网络自检): before a consultation, the browser sends
 * its camera and microphone to the SFU over a WebRTC transport and receives
 * them back through consumers on a second transport. If the echoed video
 * plays, ICE, DTLS-SRTP and RTP forwarding all work from that desk.
 *
 * One router per session, on the least-loaded worker; closing the session
 * closes the router, which closes its transports, producers and consumers.
 * A session ends by itself after `maxDurationMs`.
 */
import { EventEmitter } from 'node:events';
import type {
  Consumer,
  DtlsParameters,
  MediaKind,
  Producer,
  Router,
  RtpCapabilities,
  RtpParameters,
  WebRtcTransport,
} from 'mediasoup/types';
import { InvalidStateError, NotFoundError, ValidationError } from '../../errors.ts';
import { mediaCall } from '../../media/mediaErrors.ts';
import { createWebRtcTransport, transportOptions, type MediaNetwork } from '../../media/transports.ts';
import type { WorkerPool } from '../../media/WorkerPool.ts';
import type { ConsumerOptions, SelfTestStarted, SelfTestStats } from '../../protocol/socketEvents.ts';

export type SelfTestCloseReason = 'stopped' | 'timeout' | 'media_failure';

export interface SelfTestSessionEvents {
  /** Emitted exactly once, after the router and everything on it closed. */
  close: [SelfTestCloseReason];
}

export interface SelfTestOptions {
  pool: WorkerPool;
  network: MediaNetwork;
  maxDurationMs?: number;
}

export class SelfTestSession extends EventEmitter<SelfTestSessionEvents> {
  readonly #router: Router;
  readonly #send: WebRtcTransport;
  readonly #recv: WebRtcTransport;
  readonly #producers = new Map<string, Producer>();
  readonly #consumers = new Map<string, Consumer>();
  /** Kinds produced or being produced: reserved before any await. */
  readonly #kinds = new Set<MediaKind>();
  /** Producers already echoed back: one consumer each. */
  readonly #consumed = new Set<string>();
  readonly #connected = new Set<string>();
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  private constructor(router: Router, send: WebRtcTransport, recv: WebRtcTransport, maxDurationMs: number) {
    super();
    this.#router = router;
    this.#send = send;
    this.#recv = recv;
    this.#timer = setTimeout(() => this.close('timeout'), maxDurationMs);
    // A dead worker closes the router under us.
    router.observer.once('close', () => this.close('media_failure'));
  }

  static async start(options: SelfTestOptions): Promise<SelfTestSession> {
    const router = await options.pool.createRouter({ purpose: 'selftest' });
    try {
      const send = await createWebRtcTransport(router, options.network, { direction: 'send' });
      const recv = await createWebRtcTransport(router, options.network, { direction: 'recv' });
      return new SelfTestSession(router, send, recv, options.maxDurationMs ?? 120_000);
    } catch (err) {
      router.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  describe(): Omit<SelfTestStarted, 'iceServers'> {
    return {
      routerRtpCapabilities: this.#router.rtpCapabilities,
      sendTransport: transportOptions(this.#send),
      recvTransport: transportOptions(this.#recv),
    };
  }

  async connectTransport(transportId: string, dtlsParameters: DtlsParameters): Promise<void> {
    const transport = this.#transport(transportId);
    if (this.#connected.has(transportId)) throw new InvalidStateError('transport is already connected');
    this.#connected.add(transportId);
    try {
      await mediaCall('connect transport', () => transport.connect({ dtlsParameters }));
    } catch (err) {
      this.#connected.delete(transportId);
      throw err;
    }
  }

  async produce(transportId: string, kind: MediaKind, rtpParameters: RtpParameters): Promise<string> {
    this.#assertOpen();
    if (transportId !== this.#send.id) {
      throw new ValidationError('media can only be sent on the send transport');
    }
    if (this.#kinds.has(kind)) throw new InvalidStateError(`a ${kind} track is already being tested`);
    this.#kinds.add(kind);
    let producer: Producer;
    try {
      producer = await mediaCall('produce', () => this.#send.produce({ kind, rtpParameters }));
    } catch (err) {
      this.#kinds.delete(kind);
      throw err;
    }
    this.#producers.set(producer.id, producer);
    producer.observer.once('close', () => this.#producers.delete(producer.id));
    return producer.id;
  }

  async consume(producerId: string, rtpCapabilities: RtpCapabilities): Promise<ConsumerOptions> {
    this.#assertOpen();
    if (!this.#producers.has(producerId)) throw new NotFoundError('no such producer in this self-test');
    if (this.#consumed.has(producerId)) throw new InvalidStateError('this track is already being returned');
    if (!this.#router.canConsume({ producerId, rtpCapabilities })) {
      throw new ValidationError('this browser cannot receive the tested codec');
    }
    this.#consumed.add(producerId);
    // Paused until the client has set up its consumer, so the first packets
    // (and the keyframe) are not lost.
    let consumer: Consumer;
    try {
      consumer = await mediaCall('consume', () => this.#recv.consume({ producerId, rtpCapabilities, paused: true }));
    } catch (err) {
      this.#consumed.delete(producerId);
      throw err;
    }
    this.#consumers.set(consumer.id, consumer);
    consumer.observer.once('close', () => this.#consumers.delete(consumer.id));
    return { id: consumer.id, producerId, kind: consumer.kind, rtpParameters: consumer.rtpParameters };
  }

  async resumeConsumer(consumerId: string): Promise<void> {
    this.#assertOpen();
    const consumer = this.#consumers.get(consumerId);
    if (!consumer) throw new NotFoundError('no such consumer in this self-test');
    await mediaCall('resume consumer', () => consumer.resume());
  }

  async stats(): Promise<SelfTestStats> {
    this.#assertOpen();
    const producers = await Promise.all(
      [...this.#producers.values()].map(async (p) => {
        const s = await p.getStats();
        return {
          id: p.id,
          kind: p.kind,
          bytesReceived: s.reduce((n, x) => n + x.byteCount, 0),
          packetsReceived: s.reduce((n, x) => n + x.packetCount, 0),
        };
      }),
    );
    const consumers = await Promise.all(
      [...this.#consumers.values()].map(async (c) => {
        const s = await c.getStats();
        const outbound = s.filter((x) => x.type === 'outbound-rtp');
        return {
          id: c.id,
          kind: c.kind,
          bytesSent: outbound.reduce((n, x) => n + x.byteCount, 0),
          packetsSent: outbound.reduce((n, x) => n + x.packetCount, 0),
        };
      }),
    );
    return { producers, consumers };
  }

  /** Idempotent. */
  close(reason: SelfTestCloseReason = 'stopped'): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#router.close();
    this.emit('close', reason);
  }

  #transport(transportId: string): WebRtcTransport {
    this.#assertOpen();
    if (transportId === this.#send.id) return this.#send;
    if (transportId === this.#recv.id) return this.#recv;
    throw new NotFoundError('no such transport in this self-test');
  }

  #assertOpen(): void {
    if (this.#closed) throw new InvalidStateError('the self-test has ended');
  }
}
