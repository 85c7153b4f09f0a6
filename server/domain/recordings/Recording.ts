/**
 * One recording of a visit, while it runs: a TrackRecorder per recorded
 * producer (tracks start when a participant starts sending and end when
 * they stop), and a sealing queue that turns each finished plaintext
 * segment into a sealed, chained, spooled segment — in one order, one at a
 * time — and deletes the plaintext.
 *
 *   recording ──stop──▶ stopping ──all tracks closed, all segments sealed──▶ stopped
 *
 * Finalising (manifest, upload) is RecordingService's job once stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Producer, Router } from 'mediasoup/types';
import type { Logger } from 'pino';
import type { MediaSource } from '../../protocol/room.ts';
import { RecordingMovedError, type RecordingRepository } from '../../storage/repositories/RecordingRepository.ts';
import { chainLink, type StopReason } from './manifest.ts';
import { sealSegment, sha256 } from './sealing.ts';
import type { SegmentUploader } from './SegmentUploader.ts';
import type { RecordingPolicy } from './RecordingPolicy.ts';
import { TrackRecorder, type FinishedSegment } from './TrackRecorder.ts';

export interface RecordedProducer {
  producer: Producer;
  router: Router;
  source: MediaSource;
  userId: string;
  role: string;
}

export interface RecordingDeps {
  recordingId: string;
  roomId: string;
  dataKey: Buffer;
  startedAt: number;
  retainUntil: Date;
  segmentSeconds: number;
  codecs: RecordingPolicy['codecs'];
  sources: readonly MediaSource[];
  workDir: string;
  repository: RecordingRepository;
  uploader: SegmentUploader;
  log: Logger;
  /** Scale-out: the series this node records (a recording that moved here continues as series 2, 3…). Default 1. */
  series?: number;
  /** Tracks recorded before (on a node that was lost): new track ids continue after them. */
  existingTracks?: number;
  /** Scale-out: this node's id; every segment and track is added only while this node runs the recording. */
  owner?: string;
  /** Scale-out: another node took the recording over (this node lost its room); called once. */
  onMoved?: () => void;
}

export type RecordingState = { kind: 'recording' } | { kind: 'stopping'; reason: StopReason } | { kind: 'stopped'; reason: StopReason };

export function segmentObjectKey(recordingId: string, trackId: string, index: number): string {
  return `recordings/${recordingId}/${trackId}/${String(index).padStart(6, '0')}.seg`;
}

/** The spool file of a sealed segment (inside the recording's spool folder). */
export function spoolName(trackId: string, index: number): string {
  return `${trackId}-${String(index).padStart(6, '0')}.seg`;
}

export function manifestObjectKey(recordingId: string): string {
  return `recordings/${recordingId}/manifest.json`;
}

export class Recording {
  readonly id: string;
  readonly #deps: RecordingDeps;
  readonly #log: Logger;
  readonly #tracks = new Map<string, { recorder: TrackRecorder | null; producerId: string }>();
  #state: RecordingState = { kind: 'recording' };
  /** Sealing happens one segment at a time, in the order ffmpeg finished them. */
  #sealing: Promise<void> = Promise.resolve();
  /** Tracks being set up (ffmpeg starting). */
  readonly #starting = new Set<Promise<void>>();
  #trackSeq = 0;

  constructor(deps: RecordingDeps) {
    this.id = deps.recordingId;
    this.#deps = deps;
    this.#log = deps.log.child({ recordingId: deps.recordingId });
    this.#trackSeq = deps.existingTracks ?? 0;
    fs.mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
  }

  get state(): RecordingState {
    return this.#state;
  }

  /** ISO 8601 start time. */
  get startedAt(): string {
    return new Date(this.#deps.startedAt).toISOString();
  }

  get #dir(): string {
    return path.join(this.#deps.workDir, this.id);
  }

  /** Starts recording a producer (a track that starts now, possibly late). */
  addProducer(p: RecordedProducer): Promise<void> {
    if (this.#state.kind !== 'recording' || !this.#deps.sources.includes(p.source)) return Promise.resolve();
    if ([...this.#tracks.values()].some((t) => t.producerId === p.producer.id)) return Promise.resolve();
    const starting = this.#startTrack(p);
    this.#starting.add(starting);
    void starting.finally(() => this.#starting.delete(starting));
    return starting;
  }

  async #startTrack(p: RecordedProducer): Promise<void> {
    const trackId = `t${String(++this.#trackSeq).padStart(3, '0')}-${p.source}`;
    const slot: { recorder: TrackRecorder | null; producerId: string } = { recorder: null, producerId: p.producer.id };
    this.#tracks.set(trackId, slot);
    const startOffsetMs = Date.now() - this.#deps.startedAt;
    try {
      const recorder = await TrackRecorder.start({
        router: p.router,
        producer: p.producer,
        trackId,
        dir: path.join(this.#dir, trackId),
        segmentSeconds: this.#deps.segmentSeconds,
        codecs: this.#deps.codecs,
        log: this.#log,
        onSegment: (segment) => this.#queueSeal(trackId, segment),
      });
      slot.recorder = recorder;
      await this.#deps.repository.addTrack(this.id, {
        trackId,
        userId: p.userId,
        role: p.role,
        source: p.source,
        kind: p.producer.kind,
        codec: recorder.format.codec,
        container: recorder.format.container,
        startOffsetMs,
        endOffsetMs: null,
      }, this.#deps.series ?? 1, this.#deps.owner);
      // Stopped while it was starting, or its producer went meanwhile.
      if (this.#state.kind !== 'recording' || p.producer.closed) await this.#endTrack(trackId);
      else p.producer.observer.once('close', () => void this.#endTrack(trackId));
    } catch (err) {
      // A recorder that started but could not be registered must not go on
      // recording a track the manifest will not name.
      await slot.recorder?.stop().catch(() => undefined);
      this.#tracks.delete(trackId);
      if (err instanceof RecordingMovedError) {
        this.#moved();
        return;
      }
      this.#log.error({ trackId, err: { message: (err as Error).message } }, 'could not record a track');
    }
  }

  /**
   * Stops every track (waiting for any still starting), waits until their
   * last segments are sealed, and deletes the work directory. Idempotent.
   */
  async stop(reason: StopReason): Promise<void> {
    if (this.#state.kind === 'recording') this.#state = { kind: 'stopping', reason };
    const finalReason = this.#state.kind === 'stopping' || this.#state.kind === 'stopped' ? this.#state.reason : reason;
    // No track starts any more (the state is no longer 'recording'); those
    // already starting end themselves when they see it.
    await Promise.allSettled([...this.#starting]);
    await Promise.all([...this.#tracks.keys()].map((trackId) => this.#endTrack(trackId)));
    // Each sealing step may have queued another behind it; wait for the last.
    let sealing: Promise<void>;
    do {
      sealing = this.#sealing;
      await sealing;
    } while (sealing !== this.#sealing);
    fs.rmSync(this.#dir, { recursive: true, force: true });
    this.#state = { kind: 'stopped', reason: finalReason };
  }

  async #endTrack(trackId: string): Promise<void> {
    const slot = this.#tracks.get(trackId);
    if (!slot?.recorder) return;
    // The track ends now; ffmpeg closing its last segment takes a moment more.
    const endOffsetMs = Date.now() - this.#deps.startedAt;
    await slot.recorder.stop();
    await this.#deps.repository.endTrack(this.id, trackId, endOffsetMs).catch(() => undefined);
  }

  #movedNotified = false;

  #moved(): void {
    if (this.#movedNotified) return;
    this.#movedNotified = true;
    this.#log.error('another node runs this recording now; this node stops recording it');
    this.#deps.onMoved?.();
  }

  #queueSeal(trackId: string, segment: FinishedSegment): void {
    // The media of a track starts with its first packet, a little after the
    // track was set up: when the first segment closes, its length tells when
    // that was, so tracks line up on playback.
    if (segment.index === 0) {
      const firstPacketOffsetMs = segment.finishedAt - segment.durationMs - this.#deps.startedAt;
      void this.#deps.repository.setTrackStart(this.id, trackId, Math.max(0, Math.round(firstPacketOffsetMs))).catch(() => undefined);
    }
    this.#sealing = this.#sealing
      .then(() => this.#seal(trackId, segment))
      .catch(async (err: unknown) => {
        // The plaintext is never left behind, sealed or not; the loss is
        // declared (the manifest names it) rather than left as a silent gap.
        fs.rmSync(segment.file, { force: true });
        // Another node runs this recording now: nothing of this node's belongs in it.
        if (err instanceof RecordingMovedError) {
          this.#moved();
          return;
        }
        const reason = (err as NodeJS.ErrnoException).code ?? 'seal_failed';
        this.#log.error({ trackId, index: segment.index, err: { message: (err as Error).message } }, 'could not seal a segment; recording the gap');
        await this.#deps.repository.addGap(this.id, trackId, segment.index, reason).catch((gapErr: unknown) => {
          this.#log.error({ trackId, index: segment.index, err: { message: (gapErr as Error).message } }, 'could not record a segment gap');
        });
      });
  }

  async #seal(trackId: string, segment: FinishedSegment): Promise<void> {
    const plaintext = fs.readFileSync(segment.file);
    // Sealed in memory; the plaintext file goes before anything else happens.
    const sealed = sealSegment(this.#deps.dataKey, { recordingId: this.id, trackId, index: segment.index }, plaintext);
    fs.rmSync(segment.file, { force: true });
    plaintext.fill(0);

    // Durable (spooled) before it joins the chain: a segment in the chain
    // always has its ciphertext somewhere.
    const objectKey = segmentObjectKey(this.id, trackId, segment.index);
    const name = spoolName(trackId, segment.index);
    this.#deps.uploader.writeSpool(this.id, name, sealed);
    const stored = await this.#deps.repository.appendSegment(
      this.id,
      { trackId, index: segment.index, objectKey, bytes: sealed.length, sha256: sha256(sealed), durationMs: segment.durationMs },
      chainLink,
      this.#deps.owner,
    );
    this.#deps.uploader.enqueue({
      group: this.id,
      name,
      objectKey,
      contentType: 'application/octet-stream',
      retainUntil: this.#deps.retainUntil,
      spooledAt: Date.now(),
      onUploaded: () => this.#deps.repository.markUploaded(this.id, stored.seq),
    });
  }
}
