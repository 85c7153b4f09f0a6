/**
 * Applies the bandwidth policy to one participant's receive transport:
 * listens to mediasoup's send-side bandwidth estimate (`trace` events of
 * type `bwe`), and sets each video consumer's preferred simulcast layer, or
 * pauses it when even the lowest layer does not fit, telling the browser
 * why. Re-evaluated at most once a second, and whenever the set of videos
 * or the active speaker changes.
 */
import type { TransportTraceEventData, WebRtcTransport } from 'mediasoup/types';
import type { Logger } from 'pino';
import { allocateBandwidth, spatialLayersOf, type VideoConsumerView } from './bandwidthPolicy.ts';
import type { ConsumerEntry, ParticipantMedia } from './ParticipantMedia.ts';
import type { PeerConnection } from './PeerConnection.ts';

export interface BandwidthControllerDeps {
  transport: WebRtcTransport;
  media: ParticipantMedia;
  connection: () => PeerConnection;
  activeSpeaker: () => string | null;
  log: Logger;
}

const MIN_INTERVAL_MS = 1000;

export class BandwidthController {
  readonly #deps: BandwidthControllerDeps;
  readonly #onTrace: (trace: TransportTraceEventData) => void;
  #availableBps: number | null = null;
  #lastApplied = 0;
  #timer: NodeJS.Timeout | undefined;
  #cancelScheduled: () => void = () => undefined;
  #applying: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(deps: BandwidthControllerDeps) {
    this.#deps = deps;
    this.#onTrace = (trace) => {
      if (trace.type !== 'bwe' || trace.direction !== 'out') return;
      const info = trace.info as { availableBitrate?: number };
      if (typeof info.availableBitrate === 'number') this.estimate(info.availableBitrate);
    };
    deps.transport.on('trace', this.#onTrace);
    deps.transport.enableTraceEvent(['bwe']).catch(() => undefined);
  }

  /** The latest estimate of what reaches this participant, bits per second. */
  get availableBps(): number | null {
    return this.#availableBps;
  }

  estimate(availableBps: number): void {
    this.#availableBps = availableBps;
    this.reevaluate();
  }

  /** Schedules an evaluation, at most one per second. */
  reevaluate(): void {
    if (this.#closed || this.#availableBps === null || this.#timer) return;
    const wait = Math.max(0, this.#lastApplied + MIN_INTERVAL_MS - Date.now());
    this.#applying = new Promise<void>((resolve) => {
      this.#cancelScheduled = resolve;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#apply()
          .catch((err: unknown) => {
            this.#deps.log.warn({ err: { message: (err as Error).message } }, 'bandwidth policy could not be applied');
          })
          .finally(resolve);
      }, wait);
      this.#timer.unref();
    });
  }

  /** Resolves once the evaluation scheduled last has been applied. */
  settled(): Promise<void> {
    return this.#applying;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#cancelScheduled();
    this.#deps.transport.off('trace', this.#onTrace);
  }

  async #apply(): Promise<void> {
    if (this.#closed || this.#availableBps === null) return;
    this.#lastApplied = Date.now();
    const consumers = this.#deps.media.consumers();
    const videos = consumers.filter((c) => c.consumer.kind === 'video');
    const audio = consumers.filter((c) => c.consumer.kind === 'audio' && !c.consumer.producerPaused).length;
    const speaker = this.#deps.activeSpeaker();
    const views: VideoConsumerView[] = videos.map((c) => ({
      consumerId: c.consumer.id,
      source: c.source === 'screen' ? 'screen' : 'camera',
      spatialLayers: spatialLayersOf(c.consumer.rtpParameters.encodings?.[0]?.scalabilityMode),
      activeSpeaker: c.peerId === speaker,
      pausedForBandwidth: c.pausedForBandwidth,
      clientMaxLayer: c.clientMaxLayer,
    }));
    const byId = new Map(videos.map((c) => [c.consumer.id, c]));
    for (const decision of allocateBandwidth(this.#availableBps, audio, views)) {
      const entry = byId.get(decision.consumerId);
      if (entry && !entry.consumer.closed) await this.#applyOne(entry, decision.paused, decision.spatialLayer);
    }
  }

  async #applyOne(entry: ConsumerEntry, pause: boolean, spatialLayer: number): Promise<void> {
    const { consumer } = entry;
    const send = this.#deps.connection();
    if (pause && !entry.pausedForBandwidth) {
      entry.pausedForBandwidth = true;
      await consumer.pause();
      send.send('room:consumerPaused', { consumerId: consumer.id, reason: 'bandwidth' });
      this.#deps.log.info({ consumerId: consumer.id, availableBps: this.#availableBps }, 'video paused for bandwidth');
      return;
    }
    if (!pause && entry.pausedForBandwidth) {
      entry.pausedForBandwidth = false;
      if (!entry.pausedByClient) await consumer.resume();
      send.send('room:consumerResumed', { consumerId: consumer.id, reason: 'bandwidth' });
    }
    if (!pause && consumer.type === 'simulcast' && consumer.preferredLayers?.spatialLayer !== spatialLayer) {
      await consumer.setPreferredLayers({ spatialLayer });
    }
  }
}
