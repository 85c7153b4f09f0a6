/**
 * A consultation room: who is in it, who waits in its lobby, and how their
 * media meet. It coordinates; the pieces do the work — Participant (who,
 * and where in their stay), ParticipantMedia (their transports, producers,
 * consumers), RoomMedia (the router), ChatLog, BandwidthController.
 *
 * Rules it enforces:
 * - Only a host enters directly. Everyone else waits in the lobby until a
 *   host admits them — also when they arrive before the host, when they
 *   were admitted before and left, and when they come back with another
 *   participant id. The only way back in without the lobby is `resume`:
 *   the same user, on the same participant, with that participant's
 *   single-use resume token, while it is still in the room or within the
 *   reconnect grace period.
 * - A participant whose connection drops stays in the room for the grace
 *   period; the others see no leave and join when it comes back.
 * - When the router's worker dies, the room moves to a live worker and
 *   tells every participant to set its media up again.
 */
import { EventEmitter } from 'node:events';
import type { Consumer, DtlsParameters, IceParameters, MediaKind, Producer, Router, RtpCapabilities, RtpParameters } from 'mediasoup/types';
import type { Logger } from 'pino';
import type { AuditSink } from '../audit/AuditTrail.ts';
import type { AuditAction, AuditDetails } from '../audit/auditEntry.ts';
import { ForbiddenError, InvalidStateError, MediaUnavailableError, NotFoundError, ValidationError } from '../../errors.ts';
import type { MediaNetwork } from '../../media/transports.ts';
import { onTransportClose, transportOptions, type TransportFactory } from '../../media/transports.ts';
import type { WorkerPool } from '../../media/WorkerPool.ts';
import type {
  AdmittedState,
  Capabilities,
  ChatMessage,
  RoomJoinResult,
  LobbyEntry,
  MediaSource,
  PeerInfo,
  PeerLeaveReason,
  RecordingState,
  RoomCloseReason,
  ConsentState,
  ConsentText,
} from '../../protocol/room.ts';
import type { IceServer, ServerToClientEvents, TransportOptions } from '../../protocol/socketEvents.ts';
import type { LiveRole } from '../../protocol/roles.ts';
import type { RoomRepository } from '../../storage/repositories/RoomRepository.ts';
import { BandwidthController } from './BandwidthController.ts';
import { entersDirectly } from './capabilities.ts';
import { ChatLog } from './ChatLog.ts';
import { networkQuality } from './networkQuality.ts';
import { Participant, type ParticipantIdentity } from './Participant.ts';
import { ParticipantMedia, type Direction, type ProducerEntry } from './ParticipantMedia.ts';
import type { PeerConnection } from './PeerConnection.ts';
import { RoomMedia } from './RoomMedia.ts';
import type { AdmissionLedger, AdmissionRecord } from './AdmissionLedger.ts';

/** A producer of the room with its owner, for recording. */
export interface RoomProducer {
  producer: Producer;
  router: Router;
  source: MediaSource;
  peerId: string;
  userId: string;
  role: LiveRole;
}

export interface RoomObserverEvents {
  /** A participant started sending a source. */
  producer: [RoomProducer];
  /** The room closed (visit ended, emptied, shut down). Emitted once. */
  close: [RoomCloseReason | 'empty'];
}

export interface RoomDeps {
  roomId: string;
  pool: WorkerPool;
  network: MediaNetwork;
  repository: RoomRepository;
  /** STUN/TURN servers for one user (TURN credentials are per user). */
  iceServers: (userId: string) => IceServer[];
  log: Logger;
  /** How long a dropped participant keeps its place. */
  graceMs: number;
  /** Whether the bandwidth policy runs on receive transports. */
  adaptVideoToBandwidth: boolean;
  /** The consent text participants are shown (recording policy). */
  consentText: ConsentText;
  /** Called once, when the room has closed (ended, emptied or shut down). */
  onClosed: () => void;
  /** How participants' transports are made (default WebRTC; the forwarding benchmark's plain RTP). */
  transportFactory?: TransportFactory;
  /** Joins, leaves, lobby decisions and the end of the visit go here. */
  audit: AuditSink;
  /** Scale-out: admissions kept where another node can restore them after this one is lost. */
  admissions?: AdmissionLedger;
}

/** How often network quality is recomputed and announced. */
const QUALITY_INTERVAL_MS = 2000;
/** How long a room whose media server died waits for another one. */
const REBUILD_DEADLINE_MS = 60_000;

type Send = <E extends keyof ServerToClientEvents>(event: E, ...args: Parameters<ServerToClientEvents[E]>) => void;

export class Room {
  readonly id: string;
  /** Room events for other parts of the domain (recording). */
  readonly observer = new EventEmitter<RoomObserverEvents>();
  readonly #deps: RoomDeps;
  readonly #log: Logger;
  readonly #chat: ChatLog;
  readonly #participants = new Map<string, Participant>();
  readonly #media = new Map<string, ParticipantMedia>();
  readonly #bandwidth = new Map<string, BandwidthController>();
  readonly #graceTimers = new Map<string, NodeJS.Timeout>();
  /** Latest RTP scores (0–10) per participant: what the server receives, and what they receive. */
  readonly #sendScores = new Map<string, Map<string, number>>();
  readonly #receiveScores = new Map<string, Map<string, number>>();
  readonly #qualityTimer: NodeJS.Timeout;
  #routerMedia: RoomMedia | null;
  #activeSpeaker: string | null = null;
  #recording: RecordingState = { state: 'off' };
  /** Someone was admitted to this copy of the room (its admissions are then its own to drop). */
  #everAdmitted = false;
  #consent: ConsentState = { state: 'none' };
  #closed = false;

  private constructor(deps: RoomDeps, media: RoomMedia, chat: ChatLog) {
    this.id = deps.roomId;
    this.#deps = deps;
    this.#log = deps.log.child({ roomId: deps.roomId });
    this.#chat = chat;
    this.#routerMedia = null;
    this.#attachMedia(media);
    this.#qualityTimer = setInterval(() => this.#announceNetworkQuality(), QUALITY_INTERVAL_MS);
    this.#qualityTimer.unref();
  }

  /** Opens the room's media and chat; refuses a visit that has ended. */
  static async open(deps: RoomDeps): Promise<Room> {
    const stored = await deps.repository.open(deps.roomId);
    if (stored.endedAt) throw new InvalidStateError('this visit has ended');
    const chat = await ChatLog.load(deps.roomId, deps.repository);
    const media = await RoomMedia.create(deps.pool, deps.network, deps.roomId, deps.transportFactory);
    return new Room(deps, media, chat);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether a participant with this id is in the room or its lobby. */
  hasParticipant(peerId: string): boolean {
    const p = this.#participants.get(peerId);
    return p !== undefined && p.state.kind !== 'gone';
  }

  /** Consumers of everyone in the room (load reports). */
  get consumerCount(): number {
    let n = 0;
    for (const pm of this.#media.values()) n += pm.consumers().length;
    return n;
  }

  /** Who is in the room with their current resume tokens (to rebuild the admission ledger). */
  admissionRecords(): AdmissionRecord[] {
    const records: AdmissionRecord[] = [];
    for (const p of this.#participants.values()) {
      const resumeToken = p.resumeToken;
      if (p.inRoom && resumeToken) records.push({ peerId: p.peerId, userId: p.identity.userId, role: p.identity.role, resumeToken });
    }
    return records;
  }

  /** The participant with this id, still in the room or its lobby. */
  participant(peerId: string): Participant {
    const p = this.#participants.get(peerId);
    if (!p || p.state.kind === 'gone') throw new NotFoundError('you are not in this room');
    return p;
  }

  get size(): number {
    return this.#participants.size;
  }

  /** Everything being sent in the room now, with its owner. */
  producers(): RoomProducer[] {
    const media = this.#routerMedia;
    if (!media || media.closed) return [];
    const result: RoomProducer[] = [];
    for (const p of this.#participants.values()) {
      if (!p.inRoom) continue;
      for (const { producer, source } of this.#media.get(p.peerId)?.producers() ?? []) {
        result.push({ producer, router: media.router, source, peerId: p.peerId, userId: p.identity.userId, role: p.identity.role });
      }
    }
    return result;
  }

  /** Those in the room (admitted, or within the reconnect grace period). */
  members(): Array<{ peerId: string; userId: string; role: LiveRole; displayName: string | null }> {
    return [...this.#participants.values()]
      .filter((p) => p.inRoom)
      .map((p) => ({ peerId: p.peerId, ...p.identity }));
  }

  /** Sends to every participant in the room (consent and recording notices). */
  broadcast<E extends keyof ServerToClientEvents>(event: E, ...args: Parameters<ServerToClientEvents[E]>): void {
    this.#broadcast((s) => s(event, ...args));
  }

  /** Participants in the room (not the lobby), by user id (diagnostics, tests). */
  peerIdOf(userId: string): string | undefined {
    for (const p of this.#participants.values()) if (p.inRoom && p.identity.userId === userId) return p.peerId;
    return undefined;
  }

  /** The room's current router, null while it moves (recording, diagnostics). */
  get router(): Router | null {
    return this.#routerMedia && !this.#routerMedia.closed ? this.#routerMedia.router : null;
  }

  /** The id of the room's current router, null while it moves (diagnostics). */
  get routerId(): string | null {
    return this.#routerMedia && !this.#routerMedia.closed ? this.#routerMedia.router.id : null;
  }

  // --- Membership ---------------------------------------------------------

  join(identity: ParticipantIdentity, connection: PeerConnection, resume?: { peerId: string; resumeToken: string }): RoomJoinResult {
    this.#assertOpen();
    try {
      return resume ? this.#resume(identity, connection, resume) : this.#arrive(identity, connection);
    } catch (err) {
      // A room opened for a join that failed (e.g. a resume after it emptied) must not linger.
      this.#closeIfEmpty();
      throw err;
    }
  }

  #arrive(identity: ParticipantIdentity, connection: PeerConnection): RoomJoinResult {
    // Checked before anything changes: entering needs a router.
    if (entersDirectly(identity.role)) this.#currentMedia();

    // One place per person: a second device replaces the first, and the
    // newcomer goes through admission like anyone else.
    for (const existing of [...this.#participants.values()]) {
      if (existing.identity.userId === identity.userId) this.#depart(existing, 'replaced');
    }

    const p = new Participant(identity, connection);
    this.#participants.set(p.peerId, p);
    this.#log.info({ peerId: p.peerId, userId: identity.userId, role: identity.role }, 'participant arrived');
    this.#audit(p, 'room.joined', { peerId: p.peerId, entered: entersDirectly(identity.role) ? 'room' : 'lobby' });
    if (entersDirectly(identity.role)) {
      return this.#admit(p);
    }
    this.#announceLobby();
    return { status: 'waiting', peerId: p.peerId, hostPresent: this.#hostPresent() };
  }

  /**
   * Scale-out: a participant admitted to this visit on a node that was lost
   * enters again under its old id, without the lobby (the admission ledger
   * verified its resume token first). Media is set up from scratch.
   */
  restore(identity: ParticipantIdentity, connection: PeerConnection, peerId: string): AdmittedState {
    this.#assertOpen();
    try {
      this.#currentMedia();
      if (this.hasParticipant(peerId)) throw new InvalidStateError('this participant is already here; resume instead');
    } catch (err) {
      // A room opened for a restore that cannot happen must not linger.
      this.#closeIfEmpty();
      throw err;
    }
    for (const existing of [...this.#participants.values()]) {
      if (existing.identity.userId === identity.userId) this.#depart(existing, 'replaced');
    }
    const p = new Participant(identity, connection, Date.now(), peerId);
    this.#participants.set(p.peerId, p);
    this.#log.info({ peerId, userId: identity.userId, role: identity.role }, 'participant restored after its node was lost');
    this.#audit(p, 'room.joined', { peerId, entered: 'room', restored: true });
    return this.#admit(p);
  }

  admit(byPeerId: string, peerId: string): void {
    const by = this.#require(byPeerId, 'admit');
    const target = this.#waiting(peerId);
    this.#currentMedia();
    const state = this.#admit(target);
    this.#audit(by, 'room.lobby_admitted', { peerId: target.peerId, admittedUserId: target.identity.userId, admittedRole: target.identity.role });
    if (state.status === 'admitted') target.connection.send('room:admitted', state);
  }

  deny(byPeerId: string, peerId: string): void {
    const by = this.#require(byPeerId, 'admit');
    const target = this.#waiting(peerId);
    this.#audit(by, 'room.lobby_refused', { peerId: target.peerId, refusedUserId: target.identity.userId, refusedRole: target.identity.role });
    target.connection.send('room:denied');
    this.#depart(target, 'removed');
    this.#closeIfEmpty();
  }

  remove(byPeerId: string, peerId: string): void {
    const by = this.#require(byPeerId, 'remove');
    if (peerId === by.peerId) throw new ValidationError('use leave to leave the room yourself');
    const target = this.participant(peerId);
    if (!target.inRoom) throw new InvalidStateError('that participant is not in the room (deny them instead)');
    this.#depart(target, 'removed');
    this.#closeIfEmpty();
  }

  /**
   * The participant leaves. With `connection`, only if that connection still
   * speaks for it (an old, replaced connection cannot make it leave).
   */
  leave(peerId: string, reason: Extract<PeerLeaveReason, 'left' | 'token_expired'> = 'left', connection?: PeerConnection): void {
    const p = this.#participants.get(peerId);
    if (p && p.state.kind !== 'gone' && (!connection || p.connection === connection)) this.#depart(p, reason);
    this.#closeIfEmpty();
  }

  /**
   * Everyone in the room or its lobby who is `userId` leaves at once (the
   * directory suspended them); they are told why on their own connection.
   * Returns how many participants went.
   */
  removeUser(userId: string, reason: Extract<PeerLeaveReason, 'suspended'>): number {
    if (this.#closed) return 0;
    const gone = [...this.#participants.values()].filter((p) => p.identity.userId === userId && p.state.kind !== 'gone');
    for (const p of gone) this.#depart(p, reason);
    this.#closeIfEmpty();
    return gone.length;
  }

  /** Whether the participant is admitted, with a live connection, and sending a camera that is not paused (prescriptions: in person). */
  sendsLiveCamera(peerId: string): boolean {
    const p = this.#participants.get(peerId);
    if (!p || p.state.kind !== 'admitted') return false;
    return (this.#media.get(peerId)?.producers() ?? []).some((e) => e.source === 'camera' && !e.producer.paused && !e.producer.closed);
  }

  /** The participant's connection dropped: lobby entries go, admitted ones get the grace period. */
  connectionLost(peerId: string, connection: PeerConnection): void {
    const p = this.#participants.get(peerId);
    // A resumed participant's old connection dropping changes nothing.
    if (!p || p.connection !== connection) return;
    if (p.state.kind === 'waiting') {
      this.#depart(p, 'connection_lost');
      this.#closeIfEmpty();
      return;
    }
    if (p.state.kind !== 'admitted') return;
    p.connectionLost();
    this.#log.info({ peerId }, 'participant connection lost; holding the place');
    const timer = setTimeout(() => {
      this.#graceTimers.delete(peerId);
      if (p.state.kind === 'disconnected') this.#depart(p, 'connection_lost');
      this.#closeIfEmpty();
    }, this.#deps.graceMs);
    timer.unref();
    this.#graceTimers.set(peerId, timer);
  }

  /** Ends the visit for everyone; it cannot be entered again. */
  async end(byPeerId: string): Promise<void> {
    const by = this.#require(byPeerId, 'endVisit');
    await this.#deps.repository.end(this.id, by.identity.userId);
    this.#log.info({ byUserId: by.identity.userId }, 'visit ended');
    this.#audit(by, 'room.visit_ended', {});
    this.close('visit_ended');
  }

  /** Closes the room for everyone. Idempotent. */
  close(reason: RoomCloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#participants.values()) {
      if (p.state.kind !== 'gone') p.connection.send('room:closed', { reason });
      p.leave('left');
    }
    for (const timer of this.#graceTimers.values()) clearTimeout(timer);
    this.#graceTimers.clear();
    clearInterval(this.#qualityTimer);
    for (const controller of this.#bandwidth.values()) controller.close();
    this.#bandwidth.clear();
    this.#participants.clear();
    this.#media.clear();
    this.#routerMedia?.close();
    this.#log.info({ reason }, 'room closed');
    // A room that moves keeps its admissions: they let its participants in on the new node.
    if (reason !== 'room_moved') this.#deps.admissions?.closed(this.id);
    this.observer.emit('close', reason);
    this.#deps.onClosed();
  }

  #audit(p: Participant, action: AuditAction, details: AuditDetails): void {
    this.#deps.audit.record({ action, actor: p.identity.userId, actorRole: p.identity.role, subject: `room:${this.id}`, details });
  }

  // --- Media --------------------------------------------------------------

  setRtpCapabilities(peerId: string, rtpCapabilities: RtpCapabilities): void {
    const p = this.#admitted(peerId);
    p.rtpCapabilities = rtpCapabilities;
    this.#consumeAll(p);
  }

  /**
   * A new send or receive transport for the participant. For WebRTC (every
   * browser) the answer is what mediasoup-client needs; a plain-RTP
   * transport (the benchmark's factory) is answered by its id only.
   */
  async createTransport(peerId: string, direction: Direction): Promise<TransportOptions | { id: string; plain: true }> {
    const p = this.#admitted(peerId);
    if (direction === 'send' && p.capabilities.produce.length === 0) {
      throw new ForbiddenError('Your role only receives media.');
    }
    const media = this.#currentMedia();
    const pm = this.#mediaOf(p);
    const transport = await pm.createTransport(media, direction, p.peerId);
    // The participant may have left, or the router moved, while we waited.
    if (this.#media.get(peerId) !== pm || this.#routerMedia !== media || p.state.kind !== 'admitted') {
      transport.close();
      throw new InvalidStateError('you are no longer in the room');
    }
    // Bandwidth estimates exist on WebRTC transports only.
    if (direction === 'recv' && this.#deps.adaptVideoToBandwidth && transport.type === 'webrtc') {
      this.#bandwidth.get(peerId)?.close();
      const controller = new BandwidthController({
        transport,
        media: pm,
        connection: () => p.connection,
        activeSpeaker: () => this.#activeSpeaker,
        log: this.#log.child({ peerId }),
      });
      this.#bandwidth.set(peerId, controller);
      onTransportClose(transport, () => {
        controller.close();
        if (this.#bandwidth.get(peerId) === controller) this.#bandwidth.delete(peerId);
      });
    }
    if (direction === 'recv') this.#consumeAll(p);
    return transport.type === 'webrtc' ? transportOptions(transport) : { id: transport.id, plain: true };
  }

  async connectTransport(peerId: string, transportId: string, dtlsParameters: DtlsParameters): Promise<void> {
    await this.#mediaOf(this.#admitted(peerId)).connect(transportId, dtlsParameters);
  }

  async restartIce(peerId: string, transportId: string): Promise<IceParameters> {
    return this.#mediaOf(this.#admitted(peerId)).restartIce(transportId);
  }

  async produce(peerId: string, transportId: string, kind: MediaKind, source: MediaSource, rtpParameters: RtpParameters): Promise<string> {
    const p = this.#admitted(peerId);
    const media = this.#currentMedia();
    const pm = this.#mediaOf(p);
    const entry = await pm.produce(transportId, kind, source, rtpParameters, p.capabilities.produce);
    const { producer } = entry;
    if (this.#media.get(peerId) !== pm || this.#routerMedia !== media || !p.inRoom) {
      producer.close();
      throw new InvalidStateError('you are no longer in the room');
    }
    this.#log.info({ peerId, source, producerId: producer.id }, 'participant started sending');
    await media.observeSpeaker(producer);
    producer.on('score', (scores) => {
      this.#scoreMap(this.#sendScores, peerId).set(producer.id, Math.min(...scores.map((s) => s.score), 10));
    });
    producer.observer.once('close', () => {
      this.#sendScores.get(peerId)?.delete(producer.id);
      if (!this.#closed && p.inRoom) this.#announcePeerMedia(p);
    });
    this.#announcePeerMedia(p);
    for (const other of this.#participants.values()) {
      if (other !== p) this.#consume(other, p, entry);
    }
    this.observer.emit('producer', { producer, router: media.router, source, peerId, userId: p.identity.userId, role: p.identity.role });
    return producer.id;
  }

  async pauseProducer(peerId: string, producerId: string): Promise<void> {
    const p = this.#admitted(peerId);
    await this.#mediaOf(p).producer(producerId).producer.pause();
    this.#announcePeerMedia(p);
  }

  async resumeProducer(peerId: string, producerId: string): Promise<void> {
    const p = this.#admitted(peerId);
    await this.#mediaOf(p).producer(producerId).producer.resume();
    this.#announcePeerMedia(p);
  }

  closeProducer(peerId: string, producerId: string): void {
    const p = this.#admitted(peerId);
    this.#mediaOf(p).producer(producerId).producer.close();
  }

  async resumeConsumer(peerId: string, consumerId: string): Promise<void> {
    const entry = this.#mediaOf(this.#admitted(peerId)).consumer(consumerId);
    entry.pausedByClient = false;
    // Held back by the bandwidth policy: it resumes the consumer when it fits.
    if (!entry.pausedForBandwidth) await entry.consumer.resume();
  }

  async pauseConsumer(peerId: string, consumerId: string): Promise<void> {
    const entry = this.#mediaOf(this.#admitted(peerId)).consumer(consumerId);
    entry.pausedByClient = true;
    await entry.consumer.pause();
    this.#bandwidth.get(peerId)?.reevaluate();
  }

  async setPreferredLayers(peerId: string, consumerId: string, spatialLayer: number, temporalLayer?: number): Promise<void> {
    const entry = this.#mediaOf(this.#admitted(peerId)).consumer(consumerId);
    if (entry.consumer.type !== 'simulcast' && entry.consumer.type !== 'svc') {
      throw new ValidationError('this video has no layers to choose from');
    }
    entry.clientMaxLayer = spatialLayer;
    await entry.consumer.setPreferredLayers({ spatialLayer, ...(temporalLayer === undefined ? {} : { temporalLayer }) });
    this.#bandwidth.get(peerId)?.reevaluate();
  }

  /** What the server receives from a participant, per source (diagnostics, tests). */
  async receivedFrom(peerId: string): Promise<Partial<Record<MediaSource, { bytes: number; packets: number; paused: boolean }>>> {
    const result: Partial<Record<MediaSource, { bytes: number; packets: number; paused: boolean }>> = {};
    for (const { producer, source } of this.#media.get(peerId)?.producers() ?? []) {
      const stats = await producer.getStats();
      result[source] = {
        bytes: stats.reduce((n, s) => n + s.byteCount, 0),
        packets: stats.reduce((n, s) => n + s.packetCount, 0),
        paused: producer.paused,
      };
    }
    return result;
  }

  /** The bandwidth controller of a participant's receive transport (tests, diagnostics). */
  bandwidthOf(peerId: string): BandwidthController | undefined {
    return this.#bandwidth.get(peerId);
  }

  // --- Chat and recording state -----------------------------------------------

  async sendChat(peerId: string, text: string): Promise<ChatMessage> {
    const p = this.#require(peerId, 'chat');
    const message = await this.#chat.append({ peerId, ...p.identity }, text);
    this.#broadcast((s) => s('chat:message', message), p);
    return message;
  }

  setRecordingState(state: RecordingState): void {
    this.#recording = state;
    this.#broadcast((s) => s('room:recording', state));
  }

  setConsentState(state: ConsentState): void {
    this.#consent = state;
    this.#broadcast((s) => s('room:consent', state));
  }

  // --- Internals ----------------------------------------------------------------

  #resume(identity: ParticipantIdentity, connection: PeerConnection, resume: { peerId: string; resumeToken: string }): AdmittedState {
    const p = this.#participants.get(resume.peerId);
    if (!p || p.identity.role !== identity.role) throw new InvalidStateError('this participant can no longer be resumed');
    this.#currentMedia();
    const previous = p.connection;
    const token = p.resume(identity.userId, resume.resumeToken, connection);
    // A connection that was still attached (half-open) learns it was replaced.
    if (previous !== connection) previous.send('room:peerLeft', { peerId: p.peerId, reason: 'replaced' });
    clearTimeout(this.#graceTimers.get(p.peerId));
    this.#graceTimers.delete(p.peerId);
    this.#log.info({ peerId: p.peerId }, 'participant resumed');
    this.#deps.admissions?.admitted(this.id, { peerId: p.peerId, userId: p.identity.userId, role: p.identity.role, resumeToken: token });
    // Consumers for what started while it was away.
    this.#consumeAll(p);
    return this.#admittedState(p, token, true);
  }

  #admit(p: Participant): AdmittedState {
    const token = p.admit();
    this.#media.set(p.peerId, new ParticipantMedia());
    this.#log.info({ peerId: p.peerId }, 'participant admitted');
    this.#everAdmitted = true;
    this.#deps.admissions?.admitted(this.id, { peerId: p.peerId, userId: p.identity.userId, role: p.identity.role, resumeToken: token });
    this.#deps.repository.recordAttendance(this.id, p.identity.userId, p.identity.role).catch((err: unknown) => {
      this.#log.error({ err: { message: (err as Error).message }, peerId: p.peerId }, 'attendance not stored');
    });
    this.#broadcast((s) => s('room:peerJoined', this.#peerInfo(p)), p);
    this.#announceLobby();
    return this.#admittedState(p, token, false);
  }

  #admittedState(p: Participant, resumeToken: string, resumed: boolean): AdmittedState {
    return {
      status: 'admitted',
      self: this.#peerInfo(p),
      capabilities: p.capabilities,
      resumeToken,
      peers: [...this.#participants.values()].filter((o) => o !== p && o.inRoom).map((o) => this.#peerInfo(o)),
      routerRtpCapabilities: this.#currentMedia().router.rtpCapabilities,
      iceServers: this.#deps.iceServers(p.identity.userId),
      recording: this.#recording,
      consent: this.#consent,
      consentText: this.#deps.consentText,
      chat: this.#chat.history(),
      lobby: p.capabilities.admit ? this.#lobbyEntries() : [],
      resumed,
    };
  }

  #depart(p: Participant, reason: PeerLeaveReason): void {
    const wasInRoom = p.inRoom;
    clearTimeout(this.#graceTimers.get(p.peerId));
    this.#graceTimers.delete(p.peerId);
    this.#bandwidth.get(p.peerId)?.close();
    this.#bandwidth.delete(p.peerId);
    this.#media.get(p.peerId)?.close();
    this.#media.delete(p.peerId);
    this.#sendScores.delete(p.peerId);
    this.#receiveScores.delete(p.peerId);
    p.leave(reason);
    this.#participants.delete(p.peerId);
    if (wasInRoom) this.#deps.admissions?.departed(this.id, p.peerId);
    if (this.#activeSpeaker === p.peerId) this.#setActiveSpeaker(null);
    this.#log.info({ peerId: p.peerId, reason }, 'participant left');
    this.#audit(p, 'room.left', { peerId: p.peerId, reason, from: wasInRoom ? 'room' : 'lobby' });

    this.#chat.forget(p.peerId);
    if (wasInRoom) {
      this.#broadcast((s) => s('room:peerLeft', { peerId: p.peerId, reason }));
    } else {
      this.#announceLobby();
    }
    // Those sent away learn it on their own connection (also from the lobby).
    if (reason === 'removed' || reason === 'replaced' || reason === 'token_expired' || reason === 'suspended') {
      if (wasInRoom || reason === 'replaced' || reason === 'suspended') p.connection.send('room:peerLeft', { peerId: p.peerId, reason });
    }
  }

  /** An empty room releases its router; the next arrival opens a new one. */
  #closeIfEmpty(): void {
    if (this.#participants.size > 0 || this.#closed) return;
    this.#closed = true;
    clearInterval(this.#qualityTimer);
    this.#routerMedia?.close();
    this.#log.info('room empty; closed');
    // A copy that never admitted anyone (a restore that failed) leaves the ledger alone.
    if (this.#everAdmitted) this.#deps.admissions?.closed(this.id);
    this.observer.emit('close', 'empty');
    this.#deps.onClosed();
  }

  /** Creates the consumers `receiver` lacks for everything the others send. */
  #consumeAll(receiver: Participant): void {
    for (const sender of this.#participants.values()) {
      if (sender === receiver || !sender.inRoom) continue;
      for (const entry of this.#media.get(sender.peerId)?.producers() ?? []) this.#consume(receiver, sender, entry);
    }
  }

  #consume(receiver: Participant, sender: Participant, entry: ProducerEntry): void {
    const pm = this.#media.get(receiver.peerId);
    const transport = pm?.transport('recv');
    const media = this.#routerMedia;
    // Not ready yet (no device capabilities or receive transport), or away:
    // #consumeAll catches up when that changes.
    if (!pm || !transport || !media || receiver.state.kind !== 'admitted' || !receiver.rtpCapabilities) return;
    const { producer, source } = entry;
    if (producer.closed || !media.router.canConsume({ producerId: producer.id, rtpCapabilities: receiver.rtpCapabilities })) return;
    if (!pm.reserveConsume(transport.id, producer.id)) return;

    transport
      .consume({
        producerId: producer.id,
        rtpCapabilities: receiver.rtpCapabilities,
        paused: true,
        appData: { peerId: sender.peerId, source },
      })
      .then((consumer) => {
        pm.releaseConsume(transport.id, producer.id);
        // The receiver may have left, replaced its transport or been moved meanwhile.
        if (this.#media.get(receiver.peerId) !== pm || transport.closed || receiver.state.kind !== 'admitted') {
          consumer.close();
          return;
        }
        this.#wireConsumer(receiver, sender, source, consumer);
        pm.addConsumer({ consumer, peerId: sender.peerId, source });
        receiver.connection.send('room:newConsumer', {
          consumerId: consumer.id,
          producerId: producer.id,
          peerId: sender.peerId,
          source,
          kind: consumer.kind,
          rtpParameters: consumer.rtpParameters,
          producerPaused: consumer.producerPaused,
        });
        this.#bandwidth.get(receiver.peerId)?.reevaluate();
      })
      .catch((err: unknown) => {
        pm.releaseConsume(transport.id, producer.id);
        if (!producer.closed && !transport.closed) {
          this.#log.warn({ err: { message: (err as Error).message }, peerId: receiver.peerId }, 'could not create consumer');
        }
      });
  }

  #wireConsumer(receiver: Participant, sender: Participant, source: MediaSource, consumer: Consumer): void {
    const notice = { consumerId: consumer.id, peerId: sender.peerId, source };
    consumer.on('producerpause', () => receiver.connection.send('room:producerPaused', notice));
    consumer.on('producerresume', () => receiver.connection.send('room:producerResumed', notice));
    consumer.on('producerclose', () => receiver.connection.send('room:consumerClosed', { consumerId: consumer.id }));
    consumer.on('layerschange', (layers) =>
      receiver.connection.send('room:consumerLayers', {
        consumerId: consumer.id,
        spatialLayer: layers?.spatialLayer ?? null,
        temporalLayer: layers?.temporalLayer ?? null,
      }),
    );
    consumer.on('score', ({ score }) => this.#scoreMap(this.#receiveScores, receiver.peerId).set(consumer.id, score));
    consumer.observer.once('close', () => {
      this.#receiveScores.get(receiver.peerId)?.delete(consumer.id);
      this.#bandwidth.get(receiver.peerId)?.reevaluate();
    });
  }

  #attachMedia(media: RoomMedia): void {
    this.#routerMedia = media;
    media.on('dominantspeaker', (producerId) => {
      for (const [peerId, pm] of this.#media) {
        if (pm.producers().some((e) => e.producer.id === producerId)) this.#setActiveSpeaker(peerId);
      }
    });
    media.once('lost', () => void this.#rebuild());
  }

  /** The worker under the router died: set the room up again on a live one. */
  async #rebuild(): Promise<void> {
    this.#log.error('room media server lost; moving the room to another worker');
    this.#routerMedia = null;
    for (const controller of this.#bandwidth.values()) controller.close();
    this.#bandwidth.clear();
    for (const pm of this.#media.values()) pm.forget();
    this.#sendScores.clear();
    this.#receiveScores.clear();

    const deadline = Date.now() + REBUILD_DEADLINE_MS;
    while (!this.#closed) {
      try {
        const media = await RoomMedia.create(this.#deps.pool, this.#deps.network, this.id, this.#deps.transportFactory);
        if (this.#closed) {
          media.close();
          return;
        }
        this.#attachMedia(media);
        this.#log.info('room media rebuilt');
        this.#broadcast((s) => s('room:mediaReset', { routerRtpCapabilities: media.router.rtpCapabilities }));
        return;
      } catch (err) {
        if (Date.now() > deadline) {
          this.#log.error({ err: { message: (err as Error).message } }, 'no worker for the room; closing it');
          this.close('server_shutdown');
          return;
        }
        // Wait for a replacement worker (or a little while) and try again.
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            this.#deps.pool.events.off('workeradded', done);
            resolve();
          };
          const timer = setTimeout(done, 1000);
          this.#deps.pool.events.once('workeradded', done);
        });
      }
    }
  }

  #currentMedia(): RoomMedia {
    if (!this.#routerMedia || this.#routerMedia.closed) {
      throw new MediaUnavailableError('the room is moving to another media server; try again in a moment');
    }
    return this.#routerMedia;
  }

  #mediaOf(p: Participant): ParticipantMedia {
    const pm = this.#media.get(p.peerId);
    if (!pm) throw new InvalidStateError('you are not in the room');
    return pm;
  }

  #admitted(peerId: string): Participant {
    this.#assertOpen();
    const p = this.participant(peerId);
    if (p.state.kind !== 'admitted') throw new InvalidStateError('wait until you are admitted');
    return p;
  }

  #require(peerId: string, capability: keyof Omit<Capabilities, 'produce'>): Participant {
    const p = this.#admitted(peerId);
    if (!p.capabilities[capability]) throw new ForbiddenError();
    return p;
  }

  #waiting(peerId: string): Participant {
    const p = this.#participants.get(peerId);
    if (!p || p.state.kind !== 'waiting') throw new NotFoundError('nobody with that id is waiting');
    return p;
  }

  #assertOpen(): void {
    if (this.#closed) throw new InvalidStateError('this room has closed');
  }

  #hostPresent(): boolean {
    return [...this.#participants.values()].some((p) => p.state.kind === 'admitted' && p.capabilities.admit);
  }

  #lobbyEntries(): LobbyEntry[] {
    return [...this.#participants.values()]
      .filter((p) => p.state.kind === 'waiting')
      .map((p) => ({
        peerId: p.peerId,
        userId: p.identity.userId,
        role: p.identity.role,
        displayName: p.identity.displayName,
        waitingSince: p.state.kind === 'waiting' ? p.state.since : 0,
      }));
  }

  #announceLobby(): void {
    const entries = this.#lobbyEntries();
    for (const p of this.#participants.values()) {
      if (p.state.kind === 'admitted' && p.capabilities.admit) p.connection.send('room:lobby', entries);
    }
  }

  #peerInfo(p: Participant): PeerInfo {
    return {
      peerId: p.peerId,
      userId: p.identity.userId,
      role: p.identity.role,
      displayName: p.identity.displayName,
      producers: (this.#media.get(p.peerId)?.producers() ?? []).map((e) => ({
        producerId: e.producer.id,
        source: e.source,
        paused: e.producer.paused,
      })),
      networkQuality: p.networkQuality,
    };
  }

  #announcePeerMedia(p: Participant): void {
    const producers = this.#peerInfo(p).producers;
    this.#broadcast((s) => s('room:peerMedia', { peerId: p.peerId, producers }), p);
  }

  #setActiveSpeaker(peerId: string | null): void {
    if (this.#activeSpeaker === peerId) return;
    this.#activeSpeaker = peerId;
    this.#broadcast((s) => s('room:activeSpeaker', { peerId }));
    for (const controller of this.#bandwidth.values()) controller.reevaluate();
  }

  #announceNetworkQuality(): void {
    for (const p of this.#participants.values()) {
      if (p.state.kind !== 'admitted') continue;
      const quality = networkQuality(
        [...(this.#sendScores.get(p.peerId)?.values() ?? [])],
        [...(this.#receiveScores.get(p.peerId)?.values() ?? [])],
      );
      if (quality === null || quality === p.networkQuality) continue;
      p.networkQuality = quality;
      this.#broadcast((s) => s('room:networkQuality', { peerId: p.peerId, quality }));
    }
  }

  #scoreMap(maps: Map<string, Map<string, number>>, peerId: string): Map<string, number> {
    let map = maps.get(peerId);
    if (!map) {
      map = new Map();
      maps.set(peerId, map);
    }
    return map;
  }

  /** Sends to every admitted participant (with a live connection), except `except`. */
  #broadcast(deliver: (send: Send) => void, except?: Participant): void {
    for (const p of this.#participants.values()) {
      if (p === except || p.state.kind !== 'admitted') continue;
      deliver(p.connection.send.bind(p.connection) as Send);
    }
  }
}
