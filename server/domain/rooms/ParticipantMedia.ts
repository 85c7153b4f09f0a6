/**
 * One participant's media objects on the room's router: at most one send
 * and one receive WebRTC transport, at most one producer per source (mic,
 * camera, screen), and the consumers the room created for them.
 *
 * Creating a transport of a direction that already exists replaces it (a
 * reloaded page starts over); closing a transport closes what is on it.
 */
import type {
  Consumer,
  DtlsParameters,
  IceParameters,
  MediaKind,
  Producer,
  RtpParameters,
} from 'mediasoup/types';
import { ForbiddenError, InvalidStateError, NotFoundError, ValidationError } from '../../errors.ts';
import { mediaCall } from '../../media/mediaErrors.ts';
import { onTransportClose, type MediaTransport } from '../../media/transports.ts';
import { SOURCE_KIND, type MediaSource } from '../../protocol/room.ts';
import type { RoomMedia } from './RoomMedia.ts';

export type Direction = 'send' | 'recv';

export interface ProducerEntry {
  producer: Producer;
  source: MediaSource;
}

export interface ConsumerEntry {
  consumer: Consumer;
  /** The participant whose producer this consumes. */
  peerId: string;
  source: MediaSource;
  /** Paused by the server's bandwidth policy (not by the client). */
  pausedForBandwidth: boolean;
  /** Paused because the client asked (tile hidden). */
  pausedByClient: boolean;
  /** Highest spatial layer the client wants (small tile), or null for any. */
  clientMaxLayer: number | null;
}

export class ParticipantMedia {
  readonly #transports = new Map<Direction, MediaTransport>();
  readonly #connected = new Set<string>();
  /** Sources produced or being produced: reserved before any await. */
  readonly #sources = new Map<MediaSource, ProducerEntry | 'pending'>();
  readonly #consumers = new Map<string, ConsumerEntry>();
  readonly #consuming = new Set<string>();
  #closed = false;

  transport(direction: Direction): MediaTransport | undefined {
    const t = this.#transports.get(direction);
    return t && !t.closed ? t : undefined;
  }

  async createTransport(media: RoomMedia, direction: Direction, peerId: string): Promise<MediaTransport> {
    const transport = await mediaCall('create transport', () => media.createTransport({ peerId, direction }));
    if (this.#closed) {
      transport.close();
      throw new InvalidStateError('you are no longer in the room');
    }
    this.#transports.get(direction)?.close();
    this.#transports.set(direction, transport);
    onTransportClose(transport, () => {
      if (this.#transports.get(direction) === transport) this.#transports.delete(direction);
      this.#connected.delete(transport.id);
    });
    return transport;
  }

  async connect(transportId: string, dtlsParameters: DtlsParameters): Promise<void> {
    const transport = this.#byId(transportId);
    if (transport.type !== 'webrtc') throw new InvalidStateError('this transport is not a WebRTC transport');
    if (this.#connected.has(transportId)) throw new InvalidStateError('transport is already connected');
    this.#connected.add(transportId);
    try {
      await mediaCall('connect transport', () => transport.connect({ dtlsParameters }));
    } catch (err) {
      this.#connected.delete(transportId);
      throw err;
    }
  }

  async restartIce(transportId: string): Promise<IceParameters> {
    const transport = this.#byId(transportId);
    if (transport.type !== 'webrtc') throw new InvalidStateError('this transport is not a WebRTC transport');
    return mediaCall('restart ICE', () => transport.restartIce());
  }

  async produce(
    transportId: string,
    kind: MediaKind,
    source: MediaSource,
    rtpParameters: RtpParameters,
    allowed: readonly MediaSource[],
  ): Promise<ProducerEntry> {
    if (!allowed.includes(source)) throw new ForbiddenError(`Your role may not send ${source}.`);
    if (SOURCE_KIND[source] !== kind) throw new ValidationError(`${source} must be ${SOURCE_KIND[source]}, not ${kind}`);
    const transport = this.#byId(transportId);
    if (transport !== this.transport('send')) throw new ValidationError('media can only be sent on the send transport');
    if (this.#sources.has(source)) throw new InvalidStateError(`${source} is already being sent; close it first`);
    this.#sources.set(source, 'pending');
    let producer: Producer;
    try {
      producer = await mediaCall('produce', () => transport.produce({ kind, rtpParameters, appData: { source } }));
    } catch (err) {
      this.#sources.delete(source);
      throw err;
    }
    if (this.#closed) {
      producer.close();
      throw new InvalidStateError('you are no longer in the room');
    }
    const entry = { producer, source };
    this.#sources.set(source, entry);
    producer.observer.once('close', () => {
      if (this.#sources.get(source) === entry) this.#sources.delete(source);
    });
    return entry;
  }

  producer(producerId: string): ProducerEntry {
    for (const entry of this.#sources.values()) {
      if (entry !== 'pending' && entry.producer.id === producerId && !entry.producer.closed) return entry;
    }
    throw new NotFoundError('no such producer of yours');
  }

  producers(): ProducerEntry[] {
    return [...this.#sources.values()].filter(
      (e): e is ProducerEntry => e !== 'pending' && !e.producer.closed,
    );
  }

  addConsumer(entry: Pick<ConsumerEntry, 'consumer' | 'peerId' | 'source'>): ConsumerEntry {
    const full: ConsumerEntry = { ...entry, pausedForBandwidth: false, pausedByClient: false, clientMaxLayer: null };
    this.#consumers.set(entry.consumer.id, full);
    entry.consumer.observer.once('close', () => this.#consumers.delete(entry.consumer.id));
    return full;
  }

  consumer(consumerId: string): ConsumerEntry {
    const entry = this.#consumers.get(consumerId);
    if (!entry || entry.consumer.closed) throw new NotFoundError('no such consumer of yours');
    return entry;
  }

  consumers(): ConsumerEntry[] {
    return [...this.#consumers.values()].filter((e) => !e.consumer.closed);
  }

  /**
   * Reserves consuming `producerId` on a receive transport: false when this
   * participant already receives it or a consume on that transport is under
   * way (a replaced transport does not block its successor). Release with
   * `releaseConsume`.
   */
  reserveConsume(transportId: string, producerId: string): boolean {
    const key = `${transportId}:${producerId}`;
    if (this.#consuming.has(key) || this.consumers().some((e) => e.consumer.producerId === producerId)) {
      return false;
    }
    this.#consuming.add(key);
    return true;
  }

  releaseConsume(transportId: string, producerId: string): void {
    this.#consuming.delete(`${transportId}:${producerId}`);
  }

  /** Closes every transport (and so every producer and consumer). Idempotent; nothing is created after. */
  close(): void {
    this.#closed = true;
    for (const transport of this.#transports.values()) transport.close();
    this.forget();
  }

  /** Forgets everything without closing: the router is already gone. */
  forget(): void {
    this.#transports.clear();
    this.#connected.clear();
    this.#sources.clear();
    this.#consumers.clear();
    this.#consuming.clear();
  }

  #byId(transportId: string): MediaTransport {
    for (const transport of this.#transports.values()) {
      if (transport.id === transportId && !transport.closed) return transport;
    }
    throw new NotFoundError('no such transport of yours');
  }
}
