/**
 * A room's media plane: one mediasoup router on the least-loaded worker,
 * and an active-speaker observer over every microphone in the room.
 *
 * Events:
 * - `lost` — the router closed without us closing it (its worker died).
 *   Emitted once; the room then builds a new RoomMedia on a live worker.
 * - `dominantspeaker` (producerId) — the loudest microphone changed.
 */
import { EventEmitter } from 'node:events';
import type { ActiveSpeakerObserver, Producer, Router } from 'mediasoup/types';
import { createWebRtcTransport, type MediaNetwork, type MediaTransport, type TransportFactory } from '../../media/transports.ts';
import type { WorkerPool } from '../../media/WorkerPool.ts';

export interface RoomMediaEvents {
  lost: [];
  dominantspeaker: [string];
}

export class RoomMedia extends EventEmitter<RoomMediaEvents> {
  readonly router: Router;
  readonly #network: MediaNetwork;
  readonly #speakers: ActiveSpeakerObserver;
  readonly #factory: TransportFactory | undefined;
  #closing = false;

  private constructor(router: Router, speakers: ActiveSpeakerObserver, network: MediaNetwork, factory: TransportFactory | undefined) {
    super();
    this.router = router;
    this.#speakers = speakers;
    this.#network = network;
    this.#factory = factory;
    speakers.on('dominantspeaker', ({ producer }) => this.emit('dominantspeaker', producer.id));
    router.observer.once('close', () => {
      if (!this.#closing) this.emit('lost');
    });
  }

  /** `transports`: how participants' transports are made (default WebRTC; the benchmark's plain RTP). */
  static async create(pool: WorkerPool, network: MediaNetwork, roomId: string, transports?: TransportFactory): Promise<RoomMedia> {
    const router = await pool.createRouter({ roomId });
    try {
      const speakers = await router.createActiveSpeakerObserver({ interval: 300 });
      return new RoomMedia(router, speakers, network, transports);
    } catch (err) {
      router.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.router.closed;
  }

  createTransport(appData: { peerId: string; direction: 'send' | 'recv' }): Promise<MediaTransport> {
    return this.#factory ? this.#factory(this.router, appData) : createWebRtcTransport(this.router, this.#network, appData);
  }

  /** Adds a microphone to the active-speaker observer. */
  async observeSpeaker(producer: Producer): Promise<void> {
    if (producer.kind !== 'audio' || this.router.closed) return;
    await this.#speakers.addProducer({ producerId: producer.id }).catch(() => undefined);
  }

  /** Closes the router and everything on it. Idempotent; does not emit `lost`. */
  close(): void {
    this.#closing = true;
    this.router.close();
  }
}
