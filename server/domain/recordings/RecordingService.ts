/**
 * Recording of consultations: consent first, then encrypted recording of
 * every source the policy names, finalised into a signed manifest in object
 * storage within seconds of the end; recovery after a crash; retention.
 *
 * Rules:
 * - Nothing is recorded without an active consent for the visit: given in
 *   the app by the patient, or recorded by the host as witnessed verbally
 *   or in writing, for a patient in the room, against the current consent
 *   text version.
 * - Recording stops when the host stops it, when consent is withdrawn (by
 *   the patient or the host), when the visit ends, or at shutdown. Everyone
 *   in the room sees the recording state.
 * - Each recording has its own data key, wrapped by the hospital's KEK;
 *   only the wrapped key is stored.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Logger } from 'pino';
import { ConsentRequiredError, ForbiddenError, InvalidStateError, NotFoundError, ValidationError } from '../../errors.ts';
import type { KeyEncryptionService } from '../../pki/KeyEncryptionService.ts';
import type { ManifestSigner } from '../../pki/ManifestSigner.ts';
import type { ConsentState, RecordingState as ClientRecordingState } from '../../protocol/room.ts';
import type { ConsentMethod, RecordingRepository, StoredRecording } from '../../storage/repositories/RecordingRepository.ts';
import type { RecordingSeriesRepository } from '../../storage/repositories/RecordingSeriesRepository.ts';
import type { ObjectStore } from '../../storage/objects/ObjectStore.ts';
import type { AuditSink } from '../audit/AuditTrail.ts';
import type { Room } from '../rooms/Room.ts';
import { CHAIN_GENESIS, MANIFEST_FORMAT, signManifest, type Manifest, type StopReason } from './manifest.ts';
import { Recording, manifestObjectKey, spoolName } from './Recording.ts';
import { withTimeout } from '../../util/withTimeout.ts';
import type { RecordingPolicy } from './RecordingPolicy.ts';
import { CIPHER, newDataKey, sha256 } from './sealing.ts';
import type { SegmentUploader } from './SegmentUploader.ts';

export interface RecordingServiceDeps {
  repository: RecordingRepository;
  uploader: SegmentUploader;
  kek: KeyEncryptionService;
  signer: ManifestSigner;
  policy: RecordingPolicy;
  workDir: string;
  log: Logger;
  /** Consent, start, stop, finalisation and data-key wrapping are audited. */
  audit: AuditSink;
  /** Sensitive categories a recording may be tagged with (approval policy). */
  categories: readonly string[];
  /** Called after each recording is durably finalised (tests, metrics). */
  onFinalized?: (recordingId: string, status: 'complete' | 'interrupted') => void;
  /** Scale-out: recordings follow their room to another node when theirs is lost. */
  cluster?: RecordingClusterDeps;
}

/**
 * Scale-out. A recording runs on the node that hosts its room. When that
 * node is lost, the node the room moves to takes the recording over: it
 * continues as a new series of the same recording (same data key, same hash
 * chain); segments sealed on the lost node that never reached object
 * storage are declared lost; the manifest records both. A recording whose
 * room does not come back is finalised as interrupted by any node.
 */
export interface RecordingClusterDeps {
  nodeId: string;
  series: RecordingSeriesRepository;
  /** To find which segments of a lost node did reach storage after all. */
  store: Pick<ObjectStore, 'getBuffer'>;
  /** Whether a node reports itself now. */
  nodeAlive: (nodeId: string) => Promise<boolean>;
  /** Whether some node hosts the room now. */
  roomHosted: (roomId: string) => Promise<boolean>;
  /** How long a recording without a node waits for its room to come back before it is finalised. */
  orphanGraceMs: number;
}

interface Actor {
  userId: string;
  role: string;
  /** The host's department (token), recorded with the recording for playback approval. */
  department?: string | null;
}

export interface StartOptions {
  /** Sensitive categories of the visit (e.g. minor, psychiatry): they add approval tiers for playback. */
  categories?: readonly string[];
}

interface PendingStart {
  /** Set when the recording must not go on once it has started. */
  cancel: StopReason | null;
  /** Settles when the start has finished, either way. */
  done: Promise<void>;
}

const YEAR_MS = 365.25 * 24 * 3600 * 1000;
/** How long a room waits for its recording to be handed over by a node that shuts down. */
const ADOPT_WAIT_MS = 20_000;
const ADOPT_POLL_MS = 500;
/** How long a node that hands a recording over waits for its uploads. */
const HAND_OVER_UPLOAD_MS = 10_000;

function cancelledStart(reason: StopReason): Error {
  return reason === 'consent_withdrawn'
    ? new ConsentRequiredError('consent was withdrawn while the recording was starting; nothing was recorded')
    : new InvalidStateError('the recording was stopped while it was starting');
}

export class RecordingService {
  readonly #deps: RecordingServiceDeps;
  readonly #log: Logger;
  /** The running recording of each room. */
  readonly #active = new Map<string, Recording>();
  /** Stops in progress (finalising), so shutdown can wait for them. */
  readonly #stopping = new Set<Promise<void>>();
  readonly #finalWaiters = new Map<string, Array<(status: 'complete' | 'interrupted') => void>>();
  /** Starts under way, by room: they hold the room until they finish. */
  readonly #pendingStarts = new Map<string, PendingStart>();
  #closed = false;

  constructor(deps: RecordingServiceDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'recordings' });
    fs.mkdirSync(deps.workDir, { recursive: true, mode: 0o700 });
  }

  get policy(): RecordingPolicy {
    return this.#deps.policy;
  }

  /**
   * Follows a room from its opening: its consent state, new producers
   * joining a running recording, and its closing stopping it.
   */
  async attach(room: Room): Promise<void> {
    room.setConsentState(await this.consentState(room.id));
    if (this.#deps.cluster && (await this.#adopt(room, this.#deps.cluster)) === 'busy') this.#adoptLater(room, this.#deps.cluster);
    room.observer.on('producer', (p) => {
      const recording = this.#active.get(room.id);
      if (recording) void recording.addProducer(p);
    });
    room.observer.once('close', (reason) => {
      // The room goes on on another node (scale-out): so does its recording.
      if (reason === 'room_moved' && this.#deps.cluster) {
        this.#handOverRoom(room.id, this.#deps.cluster);
        return;
      }
      const stopReason: StopReason = reason === 'visit_ended' ? 'visit_ended' : reason === 'server_shutdown' ? 'server_shutdown' : 'stopped';
      void this.#stop(room, stopReason);
    });
  }

  recordingState(roomId: string): ClientRecordingState {
    const recording = this.#active.get(roomId);
    return recording && recording.state.kind === 'recording' ? { state: 'recording', since: recording.startedAt } : { state: 'off' };
  }

  /**
   * The consent recording can rely on: given, not withdrawn, and for the
   * consent text in force (a consent to an earlier text must be renewed).
   */
  async #currentConsent(roomId: string) {
    const consent = await this.#deps.repository.activeConsent(roomId);
    return consent && consent.textVersion === this.#deps.policy.consent.textVersion ? consent : null;
  }

  async consentState(roomId: string): Promise<ConsentState> {
    const consent = await this.#currentConsent(roomId);
    return consent
      ? {
          state: 'given',
          patientUserId: consent.patientUserId,
          method: consent.method,
          textVersion: consent.textVersion,
          consentedAt: consent.consentedAt.toISOString(),
        }
      : { state: 'none' };
  }

  /**
   * Records consent. A patient gives it for themselves in the app; a host
   * records it on behalf of a patient in the room, as witnessed verbally or
   * given in writing.
   */
  async giveConsent(room: Room, by: Actor, input: { method: ConsentMethod; patientUserId?: string; textVersion: string }): Promise<ConsentState> {
    const { policy } = this.#deps;
    if (input.textVersion !== policy.consent.textVersion) {
      throw new InvalidStateError('the consent text has changed; read the current text and agree again');
    }
    let patientUserId: string;
    if (by.role === 'patient') {
      if (input.method !== 'in_app') throw new ValidationError('a patient gives consent in the app');
      patientUserId = by.userId;
    } else if (by.role === 'host') {
      if (input.method === 'in_app') throw new ValidationError('the host records verbal or written consent');
      if (!input.patientUserId) throw new ValidationError('name the patient whose consent is recorded');
      patientUserId = input.patientUserId;
    } else {
      throw new ForbiddenError('Only the patient, or the host on their behalf, can give consent.');
    }
    const patientHere = room.members().some((m) => m.userId === patientUserId && m.role === 'patient');
    if (!patientHere) throw new InvalidStateError('that patient is not in the room');
    const consent = await this.#deps.repository.recordConsent({
      consentId: crypto.randomUUID(),
      roomId: room.id,
      patientUserId,
      method: input.method,
      recordedBy: by.userId,
      textVersion: policy.consent.textVersion,
    });
    this.#log.info({ roomId: room.id, consentId: consent.consentId, method: consent.method, recordedBy: by.userId }, 'recording consent given');
    this.#deps.audit.record({
      action: 'consent.given',
      actor: by.userId,
      actorRole: by.role,
      subject: `room:${room.id}`,
      details: { consentId: consent.consentId, patientUserId, method: consent.method, textVersion: consent.textVersion },
    });
    const state = await this.consentState(room.id);
    room.setConsentState(state);
    return state;
  }

  /** Withdraws consent (the patient, or the host for them); a running recording stops at once. */
  async withdrawConsent(room: Room, by: Actor): Promise<void> {
    if (by.role !== 'patient' && by.role !== 'host') throw new ForbiddenError('Only the patient or the host can withdraw consent.');
    const consent = await this.#deps.repository.activeConsent(room.id);
    if (!consent) throw new InvalidStateError('there is no consent to withdraw');
    if (by.role === 'patient' && consent.patientUserId !== by.userId) throw new ForbiddenError('This consent was given by another patient.');
    await this.#deps.repository.withdrawConsent(room.id, by.userId);
    this.#log.info({ roomId: room.id, consentId: consent.consentId, by: by.userId }, 'recording consent withdrawn');
    this.#deps.audit.record({ action: 'consent.withdrawn', actor: by.userId, actorRole: by.role, subject: `room:${room.id}`, details: { consentId: consent.consentId } });
    room.setConsentState({ state: 'none' });
    await this.#stop(room, 'consent_withdrawn');
  }

  async start(room: Room, by: Actor, options: StartOptions = {}): Promise<ClientRecordingState> {
    if (by.role !== 'host') throw new ForbiddenError('Only the host starts a recording.');
    const unknown = (options.categories ?? []).filter((c) => !this.#deps.categories.includes(c));
    if (unknown.length > 0) throw new ValidationError(`unknown categories: ${unknown.join(', ')} (known: ${this.#deps.categories.join(', ')})`);
    if (this.#closed) throw new InvalidStateError('the server is shutting down');
    if (this.#active.has(room.id) || this.#pendingStarts.has(room.id)) throw new InvalidStateError('this visit is already being recorded');
    // The room is taken before the first await, so a second start waits its
    // turn; a withdrawal, stop or room close meanwhile cancels this one.
    const pending: PendingStart = { cancel: null, done: Promise.resolve() };
    this.#pendingStarts.set(room.id, pending);
    const starting = this.#start(room, by, pending, [...new Set(options.categories ?? [])].sort());
    pending.done = starting.then(
      () => undefined,
      () => undefined,
    );
    try {
      return await starting;
    } finally {
      this.#pendingStarts.delete(room.id);
    }
  }

  async #start(room: Room, by: Actor, pending: PendingStart, categories: string[]): Promise<ClientRecordingState> {
    const consent = await this.#currentConsent(room.id);
    if (!consent) throw new ConsentRequiredError('record the patient’s consent (to the current consent text) before recording');
    if (pending.cancel) throw cancelledStart(pending.cancel);

    const { policy } = this.#deps;
    const recordingId = `rec-${crypto.randomUUID()}`;
    const dataKey = newDataKey();
    const wrapped = await this.#deps.kek.wrap(dataKey);
    const startedAt = Date.now();
    const retainUntil = new Date(startedAt + policy.retentionYears * YEAR_MS);
    await this.#deps.repository.create(
      {
        recordingId,
        roomId: room.id,
        consentId: consent.consentId,
        startedBy: by.userId,
        segmentSeconds: policy.segmentSeconds,
        retentionYears: policy.retentionYears,
        retainUntil,
        chainHead: CHAIN_GENESIS,
        department: by.department ?? null,
        categories,
      },
      wrapped,
    );
    this.#deps.audit.record({
      action: 'key.data_key_wrapped',
      actor: 'system',
      subject: `recording:${recordingId}`,
      details: { keyId: wrapped.keyId, algorithm: wrapped.algorithm },
    });
    if (this.#deps.cluster) await this.#deps.cluster.series.begin(recordingId, this.#deps.cluster.nodeId, new Date(startedAt));
    const recording = new Recording({
      recordingId,
      roomId: room.id,
      dataKey,
      startedAt,
      retainUntil,
      segmentSeconds: policy.segmentSeconds,
      codecs: policy.codecs,
      sources: policy.sources,
      workDir: this.#deps.workDir,
      repository: this.#deps.repository,
      uploader: this.#deps.uploader,
      log: this.#log,
      ...this.#clusterRecordingOptions(room),
    });
    this.#active.set(room.id, recording);
    const cancel = pending.cancel ?? (this.#closed ? 'server_shutdown' : room.closed ? 'stopped' : null);
    if (cancel) {
      // Consent was withdrawn, the host stopped, the visit closed or the
      // server began shutting down while the recording was being set up: it
      // ends at once, without media, and its (empty) record says why.
      this.#log.info({ roomId: room.id, recordingId, reason: cancel }, 'recording cancelled while starting');
      await this.#stop(room, cancel);
      throw cancelledStart(cancel);
    }
    this.#log.info({ roomId: room.id, recordingId, keyId: wrapped.keyId, startedBy: by.userId }, 'recording started');
    this.#deps.audit.record({
      action: 'recording.started',
      actor: by.userId,
      actorRole: by.role,
      subject: `recording:${recordingId}`,
      details: { roomId: room.id, consentId: consent.consentId, department: by.department ?? null, categories },
    });
    const state = this.recordingState(room.id);
    room.setRecordingState(state);
    await Promise.all(room.producers().map((p) => recording.addProducer(p)));
    return state;
  }

  async stop(room: Room, by: Actor): Promise<void> {
    if (by.role !== 'host') throw new ForbiddenError('Only the host stops a recording.');
    if (!this.#active.has(room.id) && !this.#pendingStarts.has(room.id)) throw new InvalidStateError('this visit is not being recorded');
    await this.#stop(room, 'stopped');
  }

  /** Resolves once the recording is final in object storage (manifest uploaded). */
  async finalized(recordingId: string): Promise<'complete' | 'interrupted'> {
    const waiting = new Promise<'complete' | 'interrupted'>((resolve) => {
      const list = this.#finalWaiters.get(recordingId) ?? [];
      list.push(resolve);
      this.#finalWaiters.set(recordingId, list);
    });
    const stored = await this.#deps.repository.get(recordingId);
    if (stored && (stored.status === 'complete' || stored.status === 'interrupted') && stored.manifestKey) return stored.status;
    return waiting;
  }

  /** The id of a room's running recording (diagnostics, tests). */
  activeRecordingId(roomId: string): string | null {
    return this.#active.get(roomId)?.id ?? null;
  }

  /**
   * Shutdown: stops every running recording and waits until each is sealed
   * and its manifest spooled. Idempotent.
   */
  async closeAll(): Promise<void> {
    this.#closed = true;
    for (const pending of this.#pendingStarts.values()) pending.cancel ??= 'server_shutdown';
    await Promise.all([...this.#pendingStarts.values()].map((p) => p.done));
    const cluster = this.#deps.cluster;
    for (const [roomId, recording] of [...this.#active]) {
      // A cluster node that shuts down hands its recordings over: their rooms
      // continue on other nodes (room_moved), and so do they.
      if (cluster) this.#handOverRoom(roomId, cluster);
      else {
        this.#active.delete(roomId);
        this.#track(this.#finish(recording, 'server_shutdown'));
      }
    }
    await Promise.allSettled([...this.#stopping]);
  }

  /**
   * After a restart: plaintext left in the work directory is deleted,
   * spooled segments are queued for upload, and recordings that were
   * running when the server died are finalised as interrupted.
   */
  async recover(): Promise<{ interrupted: string[]; resumedUploads: number }> {
    // ffmpeg processes of a server that was killed outlive it, waiting for
    // RTP that will never come; they are ours (their arguments name our work
    // directory), so they go before their plaintext does.
    const orphans = killOrphanRecorders(this.#deps.workDir);
    if (orphans > 0) this.#log.warn({ orphans }, 'stopped recorder processes left by the previous run');
    fs.rmSync(this.#deps.workDir, { recursive: true, force: true });
    fs.mkdirSync(this.#deps.workDir, { recursive: true, mode: 0o700 });
    const { repository, uploader, cluster } = this.#deps;
    // In a cluster this node's spool holds only what it sealed itself.
    const pending = cluster ? await cluster.series.pendingOn(cluster.nodeId) : await repository.pendingSegments();
    for (const segment of pending) {
      const name = spoolName(segment.trackId, segment.index);
      if (!fs.existsSync(uploader.spoolPath(segment.recordingId, name))) {
        this.#log.error({ recordingId: segment.recordingId, seq: segment.seq }, 'a spooled segment is missing from the spool');
        continue;
      }
      const recording = await repository.get(segment.recordingId);
      uploader.enqueue({
        group: segment.recordingId,
        name,
        objectKey: segment.objectKey,
        contentType: 'application/octet-stream',
        retainUntil: recording?.retainUntil ?? null,
        spooledAt: segment.sealedAt.getTime(),
        onUploaded: () => repository.markUploaded(segment.recordingId, segment.seq),
      });
    }
    const interrupted: string[] = [];
    if (cluster) {
      // In a cluster, a recording this node was running when it died goes on
      // wherever its room opens next (maybe here again); only if the room
      // does not come back is it finalised, by whichever node sees that.
      for (const recordingId of await cluster.series.runningOn(cluster.nodeId)) {
        await cluster.series.release(recordingId, cluster.nodeId);
        this.#log.warn({ recordingId }, 'recording of the last run released; it continues where its room opens next');
      }
    }
    const unfinished = await repository.byStatus(cluster ? ['finalizing'] : ['recording', 'finalizing']);
    for (const rec of cluster ? await this.#ownedBy(unfinished, cluster.nodeId) : unfinished) {
      // One recording that cannot be finalised must not keep the server (and
      // the others) from starting; it is tried again at the next start.
      try {
        const status = rec.status === 'recording' || rec.stopReason === 'interrupted' ? 'interrupted' : 'complete';
        if (rec.status === 'recording') {
          // It ended when its last segment was sealed, not now.
          const last = (await repository.segments(rec.recordingId)).at(-1);
          await repository.setStatus(rec.recordingId, 'finalizing', 'interrupted', last?.sealedAt ?? rec.startedAt);
          interrupted.push(rec.recordingId);
        }
        await this.#spoolManifest((await repository.get(rec.recordingId)) as StoredRecording, status);
      } catch (err) {
        this.#log.error({ recordingId: rec.recordingId, err: { message: (err as Error).message } }, 'could not finalise an unfinished recording; will retry at the next start');
      }
    }
    if (pending.length > 0 || interrupted.length > 0) {
      this.#log.warn({ interrupted, resumedUploads: pending.length }, 'recovered recordings after an unclean stop');
    }
    return { interrupted, resumedUploads: pending.length };
  }

  // --- internals ---------------------------------------------------------------

  async #stop(room: Room, reason: StopReason): Promise<void> {
    const pending = this.#pendingStarts.get(room.id);
    if (pending) pending.cancel ??= reason;
    const recording = this.#active.get(room.id);
    if (!recording) return;
    this.#active.delete(room.id);
    room.setRecordingState({ state: 'off' });
    const finishing = this.#finish(recording, reason);
    this.#track(finishing);
    await finishing;
  }

  #track(p: Promise<void>): void {
    this.#stopping.add(p);
    void p.finally(() => this.#stopping.delete(p));
  }

  /**
   * Scale-out: the room left this node (shutdown, or another node holds it).
   * The recording's tracks end here, everything sealed is uploaded, and the
   * recording is released, still running, for the node the room opens on
   * next: it continues there as the next series, with nothing lost.
   */
  #handOverRoom(roomId: string, cluster: RecordingClusterDeps): void {
    const pending = this.#pendingStarts.get(roomId);
    if (pending) pending.cancel ??= 'server_shutdown';
    const recording = this.#active.get(roomId);
    if (!recording) return;
    this.#active.delete(roomId);
    this.#track(
      (async () => {
        try {
          await recording.stop('server_shutdown');
          // Bounded: with the object store away, what is left is declared lost by the next node.
          await withTimeout(this.#deps.uploader.whenDrained(recording.id), HAND_OVER_UPLOAD_MS, 'uploads before hand-over').catch(() => undefined);
          if (!(await cluster.series.handOver(recording.id, cluster.nodeId))) {
            this.#log.warn({ recordingId: recording.id }, 'the recording is run by another node already; nothing to hand over');
            return;
          }
          this.#log.info({ recordingId: recording.id }, 'recording handed over; it continues where its room opens next');
          this.#deps.audit.record({ action: 'recording.handed_over', actor: 'system', subject: `recording:${recording.id}`, details: { roomId, nodeId: cluster.nodeId } });
        } catch (err) {
          this.#log.error({ recordingId: recording.id, err: { message: (err as Error).message } }, 'could not hand a recording over; it continues elsewhere with a declared gap');
        }
      })(),
    );
  }

  async #ownedBy(recordings: StoredRecording[], nodeId: string): Promise<StoredRecording[]> {
    const owned = new Set(await this.#deps.cluster!.series.finalizingOn(nodeId));
    return recordings.filter((r) => owned.has(r.recordingId));
  }

  /**
   * Scale-out: the room just opened here while its recording still runs on
   * no live node (its node was lost): the recording continues here as a new
   * series — same data key, same chain — as participants send again.
   */
  async #adopt(room: Room, cluster: RecordingClusterDeps): Promise<'adopted' | 'none' | 'busy'> {
    const [orphan] = await cluster.series.running({ roomId: room.id, notNode: cluster.nodeId });
    if (!orphan || room.closed || this.#closed) return 'none';
    // A node that still reports itself is still recording (it is handing the
    // room over): never two recorders of one recording.
    if (orphan.nodeId && (await cluster.nodeAlive(orphan.nodeId))) return 'busy';
    const series = await cluster.series.takeOver(orphan.recordingId, orphan.nodeId, cluster.nodeId);
    if (series === null) return 'none';
    try {
      const [stored, wrapped, tracks] = await Promise.all([
        this.#deps.repository.get(orphan.recordingId),
        this.#deps.repository.wrappedKey(orphan.recordingId),
        this.#deps.repository.tracks(orphan.recordingId),
      ]);
      if (!stored || !wrapped) throw new Error(`recording ${orphan.recordingId} lacks its record or key`);
      const dataKey = await this.#deps.kek.unwrap({ keyId: wrapped.keyId, algorithm: wrapped.algorithm as 'RSA-OAEP-256', wrapped: wrapped.wrapped });
      this.#deps.audit.record({
        action: 'key.data_key_unwrapped',
        actor: 'system',
        subject: `recording:${orphan.recordingId}`,
        details: { keyId: wrapped.keyId, purpose: 'recording_takeover', nodeId: cluster.nodeId },
      });
      const recording = new Recording({
        recordingId: orphan.recordingId,
        roomId: room.id,
        dataKey,
        startedAt: stored.startedAt.getTime(),
        retainUntil: stored.retainUntil,
        segmentSeconds: stored.segmentSeconds,
        codecs: this.#deps.policy.codecs,
        sources: this.#deps.policy.sources,
        workDir: this.#deps.workDir,
        repository: this.#deps.repository,
        uploader: this.#deps.uploader,
        log: this.#log,
        series,
        existingTracks: tracks.length,
        ...this.#clusterRecordingOptions(room),
      });
      // The room closed while the recording was being taken over: pass it on again.
      if (room.closed || this.#closed) {
        await cluster.series.handOver(orphan.recordingId, cluster.nodeId);
        return 'none';
      }
      this.#active.set(room.id, recording);
      this.#log.warn({ recordingId: orphan.recordingId, fromNode: orphan.nodeId, series }, 'recording taken over; it continues here');
      this.#deps.audit.record({
        action: 'recording.resumed',
        actor: 'system',
        subject: `recording:${orphan.recordingId}`,
        details: { roomId: room.id, fromNode: orphan.nodeId, nodeId: cluster.nodeId, series },
      });
      room.setRecordingState(this.recordingState(room.id));
      // Whoever already sends in the room (a hand-over waits for them) is recorded from now on.
      await Promise.all(room.producers().map((p) => recording.addProducer(p)));
      return 'adopted';
    } catch (err) {
      // Taken, but not running here: let it go again, for this node or another to take it.
      this.#log.error({ recordingId: orphan.recordingId, err: { message: (err as Error).message } }, 'could not take the recording over; released');
      await cluster.series.release(orphan.recordingId, cluster.nodeId).catch(() => undefined);
      return 'none';
    }
  }

  /** Scale-out: what a recording this node runs must know (it records only while the database says it runs it). */
  #clusterRecordingOptions(room: Room): { owner?: string; onMoved?: () => void } {
    const cluster = this.#deps.cluster;
    if (!cluster) return {};
    return {
      owner: cluster.nodeId,
      onMoved: () => {
        // Another node took the recording: it hosts the room now. This copy of the room goes.
        this.#log.error({ roomId: room.id }, 'the recording of this room was taken over by another node; closing the copy here');
        this.#active.delete(room.id);
        room.close('room_moved');
      },
    };
  }

  /** The node the recording ran on is handing it over: take it once it has let go (bounded). */
  #adoptLater(room: Room, cluster: RecordingClusterDeps): void {
    const deadline = Date.now() + ADOPT_WAIT_MS;
    const retry = () => {
      if (room.closed || this.#closed || this.#active.has(room.id)) return;
      this.#adopt(room, cluster)
        .then((outcome) => {
          if (outcome === 'busy' && Date.now() < deadline) setTimeout(retry, ADOPT_POLL_MS).unref();
          else if (outcome === 'busy') this.#log.warn({ roomId: room.id }, 'the recording of this room is still held by a live node; not taking it over');
        })
        .catch((err: unknown) => this.#log.error({ roomId: room.id, err: { message: (err as Error).message } }, 'could not take the recording over'));
    };
    setTimeout(retry, ADOPT_POLL_MS).unref();
  }

  /**
   * Before a manifest is built in a cluster: segments sealed on another node
   * that never were marked uploaded. Those in storage (intact) are marked
   * so; those missing from storage are declared lost with their node. A
   * segment in storage whose bytes differ is left as it is, so that
   * verification reports it modified; one still in this node's spool is
   * about to be uploaded. Returns how many were declared lost.
   */
  async #settleLostSegments(recordingId: string, cluster: RecordingClusterDeps): Promise<number> {
    let lost = 0;
    for (const segment of await cluster.series.notUploaded(recordingId)) {
      if (fs.existsSync(this.#deps.uploader.spoolPath(recordingId, spoolName(segment.trackId, segment.index)))) continue;
      let sealed: Buffer;
      try {
        sealed = await cluster.store.getBuffer(segment.objectKey);
      } catch (err) {
        if (err instanceof NotFoundError) {
          await cluster.series.declareLost(recordingId, segment.seq, cluster.nodeId);
          lost += 1;
        } else {
          this.#log.warn({ recordingId, seq: segment.seq, err: { message: (err as Error).message } }, 'could not check a segment of a lost node');
        }
        continue;
      }
      if (sha256(sealed) === segment.sha256) await this.#deps.repository.markUploaded(recordingId, segment.seq);
    }
    if (lost > 0) this.#log.warn({ recordingId, lost }, 'segments lost with their node declared in the manifest');
    return lost;
  }

  /**
   * Scale-out, on every cluster tick: a recording whose node is gone and
   * whose room nobody hosts (its participants did not come back within the
   * grace) is finalised here as interrupted, with what reached storage.
   */
  async sweepOrphans(): Promise<string[]> {
    const cluster = this.#deps.cluster;
    if (!cluster || this.#closed) return [];
    const finalised: string[] = [];
    for (const orphan of await cluster.series.running({ notNode: cluster.nodeId })) {
      if (Date.now() - orphan.lastActivity.getTime() < cluster.orphanGraceMs) continue;
      if (orphan.nodeId && (await cluster.nodeAlive(orphan.nodeId))) continue;
      if (await cluster.roomHosted(orphan.roomId)) continue;
      if (!(await cluster.series.claimForFinal(orphan.recordingId, orphan.nodeId, cluster.nodeId))) continue;
      try {
        await this.#deps.repository.setStatus(orphan.recordingId, 'finalizing', 'interrupted', orphan.lastActivity);
        const stored = await this.#deps.repository.get(orphan.recordingId);
        if (stored) await this.#spoolManifest(stored, 'interrupted');
        this.#log.warn({ recordingId: orphan.recordingId, fromNode: orphan.nodeId }, 'recording of a lost node finalised as interrupted (its room did not come back)');
        finalised.push(orphan.recordingId);
      } catch (err) {
        this.#log.error({ recordingId: orphan.recordingId, err: { message: (err as Error).message } }, 'could not finalise a recording of a lost node');
      }
    }
    return finalised;
  }

  async #finish(recording: Recording, reason: StopReason): Promise<void> {
    try {
      await recording.stop(reason);
      await this.#deps.repository.setStatus(recording.id, 'finalizing', reason);
      const stored = await this.#deps.repository.get(recording.id);
      if (stored) await this.#spoolManifest(stored, 'complete');
      this.#log.info({ recordingId: recording.id, reason }, 'recording stopped; manifest queued');
      this.#deps.audit.record({ action: 'recording.stopped', actor: 'system', subject: `recording:${recording.id}`, details: { reason } });
    } catch (err) {
      this.#log.error({ recordingId: recording.id, err: { message: (err as Error).message } }, 'recording could not be finalised; it will be on the next start');
    }
  }

  /** Builds, signs and spools the manifest; the recording is final once it is in storage. */
  async #spoolManifest(rec: StoredRecording, status: 'complete' | 'interrupted'): Promise<void> {
    const { repository, uploader, signer } = this.#deps;
    const seriesRepo = this.#deps.cluster?.series;
    if (this.#deps.cluster) await this.#settleLostSegments(rec.recordingId, this.#deps.cluster);
    const [tracks, segments, gaps, consent, key, series, lostSegments, trackSeries] = await Promise.all([
      repository.tracks(rec.recordingId),
      repository.segments(rec.recordingId),
      repository.gaps(rec.recordingId),
      repository.consent(rec.consentId),
      repository.wrappedKey(rec.recordingId),
      seriesRepo ? seriesRepo.series(rec.recordingId) : Promise.resolve([]),
      seriesRepo ? seriesRepo.lost(rec.recordingId) : Promise.resolve([]),
      seriesRepo ? seriesRepo.trackSeries(rec.recordingId) : Promise.resolve(new Map<string, number>()),
    ]);
    if (!consent || !key) throw new Error(`recording ${rec.recordingId} lacks its consent or key`);
    const endedAt = rec.endedAt ?? new Date();
    const retainUntil = new Date(endedAt.getTime() + rec.retentionYears * YEAR_MS);
    const last = segments.at(-1);
    const manifest: Omit<Manifest, 'signature'> = {
      format: MANIFEST_FORMAT,
      recordingId: rec.recordingId,
      roomId: rec.roomId,
      status,
      stopReason: status === 'interrupted' ? 'interrupted' : ((rec.stopReason as StopReason | null) ?? 'stopped'),
      startedAt: rec.startedAt.toISOString(),
      endedAt: endedAt.toISOString(),
      retainUntil: retainUntil.toISOString(),
      consent: {
        consentId: consent.consentId,
        textVersion: consent.textVersion,
        method: consent.method,
        consentedAt: consent.consentedAt.toISOString(),
        patientUserId: consent.patientUserId,
      },
      policy: { segmentSeconds: rec.segmentSeconds, retentionYears: rec.retentionYears },
      encryption: { cipher: CIPHER, keyId: key.keyId, keyAlgorithm: key.algorithm },
      tracks: tracks.map((t) => ({
        ...t,
        endOffsetMs: t.endOffsetMs ?? Math.max(t.startOffsetMs, endedAt.getTime() - rec.startedAt.getTime()),
        ...(series.length > 0 ? { series: trackSeries.get(t.trackId) ?? 1 } : {}),
      })),
      segments: segments.map(({ seq, trackId, index, objectKey, bytes, sha256: hash, chain }) => ({ seq, trackId, index, objectKey, bytes, sha256: hash, chain })),
      // The head of the segments listed here (read in one query), so that
      // the manifest's chain and its head always agree.
      chainHead: last?.chain ?? CHAIN_GENESIS,
      ...(gaps.length > 0 ? { gaps } : {}),
      ...(series.length > 0
        ? {
            series: series.map((s) => ({
              series: s.series,
              nodeId: s.nodeId,
              startedAt: s.startedAt.toISOString(),
              endedAt: s.endedAt?.toISOString() ?? null,
              endReason: s.endReason,
            })),
          }
        : {}),
      ...(lostSegments.length > 0 ? { lostSegments } : {}),
      ...(status === 'interrupted' && last ? { lastGoodSegment: { seq: last.seq, trackId: last.trackId, index: last.index } } : {}),
    };
    const signed = signManifest(manifest, signer);
    const body = Buffer.from(JSON.stringify(signed, null, 2));
    const objectKey = manifestObjectKey(rec.recordingId);
    uploader.writeSpool(rec.recordingId, 'manifest.json', body);
    uploader.enqueue({
      group: rec.recordingId,
      name: 'manifest.json',
      objectKey,
      contentType: 'application/json',
      retainUntil,
      spooledAt: Date.now(),
      onUploaded: async () => {
        await repository.finalize(rec.recordingId, status, objectKey, retainUntil);
        this.#log.info({ recordingId: rec.recordingId, status, segments: segments.length }, 'recording final in object storage');
        this.#deps.audit.record({
          action: 'recording.finalized',
          actor: 'system',
          subject: `recording:${rec.recordingId}`,
          details: { status, stopReason: manifest.stopReason, segments: segments.length, chainHead: manifest.chainHead, manifestKeyId: signer.keyId },
        });
        this.#deps.onFinalized?.(rec.recordingId, status);
        for (const resolve of this.#finalWaiters.get(rec.recordingId) ?? []) resolve(status);
        this.#finalWaiters.delete(rec.recordingId);
      },
    });
  }
}

/**
 * Kills ffmpeg processes whose command line names `workDir` (recorders of a
 * previous, crashed run of this server). Linux (/proc); elsewhere a no-op.
 * Returns how many were killed.
 */
function killOrphanRecorders(workDir: string): number {
  let killed = 0;
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const args = cmdline.split('\0');
    if (!(args[0] ?? '').endsWith('ffmpeg') || !args.some((a) => a.startsWith(`${workDir}/`))) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed += 1;
    } catch {
      // Gone meanwhile.
    }
  }
  return killed;
}
