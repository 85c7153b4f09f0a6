/**
 * Applies the bandwidth policy to one participant's receive transport:
 * listens to mediasoup's send-side bandwidth estimate (`trace` events of
 * type `bwe`), and sets each video consumer's preferred simulcast layer, or
 * pauses it when even the lowest layer does not fit, telling the browser
 * why. Re-evaluated at most once a second, and whenever the set of videos
 * or the active speaker changes.
 *
 * The estimate is noisy (a single sample can dip to a sixth of the link
 * under CPU load), so video is paused only when the link has stayed too
 * narrow for the whole window — even its best estimate in the last
 * WINDOW_MS — and resumed only when it has stayed wide enough — even its
 * worst estimate. Layers follow the best recent estimate; mediasoup itself
 * adapts below that cap.
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
/** How long the link must stay narrow (or wide) before video is paused (or resumed). */
export const WINDOW_MS = 3000;

export class BandwidthController {
  readonly #deps: BandwidthControllerDeps;
  readonly #onTrace: (trace: TransportTraceEventData) => void;
  /** Recent estimates, oldest first. */
  #samples: Array<{ at: number; bps: number }> = [];
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
    return this.#samples.at(-1)?.bps ?? null;
  }

  /** Records an estimate taken at `at` (milliseconds; now by default). */
  estimate(availableBps: number, at = Date.now()): void {
    this.#samples.push({ at, bps: availableBps });
    this.#samples.sort((a, b) => a.at - b.at);
    const horizon = (this.#samples.at(-1)?.at ?? at) - WINDOW_MS * 2;
    this.#samples = this.#samples.filter((sample) => sample.at >= horizon);
    this.reevaluate();
  }

  /**
   * The best and worst estimates over the window, when the samples cover
   * the whole window; otherwise only the latest (no pausing or resuming
   * on one sample).
   */
  #window(): { best: number; worst: number; sustained: boolean } | null {
    const latest = this.#samples.at(-1);
    if (!latest) return null;
    const recent = this.#samples.filter((sample) => sample.at >= latest.at - WINDOW_MS);
    const covered = (this.#samples[0]?.at ?? latest.at) <= latest.at - WINDOW_MS;
    const values = recent.map((sample) => sample.bps);
    return { best: Math.max(...values), worst: Math.min(...values), sustained: covered };
  }

  /** Schedules an evaluation, at most one per second. */
  reevaluate(): void {
    if (this.#closed || this.#samples.length === 0 || this.#timer) return;
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
    const window = this.#window();
    if (this.#closed || !window) return;
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
    const optimistic = new Map(allocateBandwidth(window.best, audio, views).map((d) => [d.consumerId, d]));
    const pessimistic = new Map(allocateBandwidth(window.worst, audio, views).map((d) => [d.consumerId, d]));
    for (const [consumerId, entry] of byId) {
      if (entry.consumer.closed) continue;
      const best = optimistic.get(consumerId);
      const worst = pessimistic.get(consumerId);
      if (!best || !worst) continue;
      // Pause only when even the best recent estimate cannot carry it, over
      // the whole window; resume only when even the worst one can.
      const pause = entry.pausedForBandwidth ? !(window.sustained && !worst.paused) : window.sustained && best.paused;
      await this.#applyOne(entry, pause, best.spatialLayer);
    }
  }

  async #applyOne(entry: ConsumerEntry, pause: boolean, spatialLayer: number): Promise<void> {
    const { consumer } = entry;
    const send = this.#deps.connection();
    if (pause && !entry.pausedForBandwidth) {
      entry.pausedForBandwidth = true;
      await consumer.pause();
      send.send('room:consumerPaused', { consumerId: consumer.id, reason: 'bandwidth' });
      this.#deps.log.info({ consumerId: consumer.id, availableBps: this.availableBps }, 'video paused for bandwidth');
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
