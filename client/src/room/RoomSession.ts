/**
 * The browser side of a consultation room: signaling, the mediasoup-client
 * device and transports, and what this participant sends. The page listens
 * to its events and calls its methods; it never touches the socket.
 *
 * Reconnects: socket.io reconnects by itself; the session then resumes the
 * same participant with its resume token and restarts ICE on its
 * transports. If the server no longer has them (media server replaced, or
 * the page was away too long) it sets media up from scratch.
 *
 * Scale-out: a join may answer that the room lives on another node; the
 * session connects there and joins again. When that node is lost (its
 * connection fails to come back) or the room moves (`room_moved`), the
 * session goes back to the entry (the load balancer), which sends it to the
 * room's new node, and resumes there as the same participant.
 */
import type { Device } from 'mediasoup-client';
import type { Consumer, Producer, Transport } from 'mediasoup-client/types';
import type { AdmittedState, ConsumerInfo, JoinResult, MediaSource, RoomJoinResult } from '../../../server/protocol/room.ts';
import type { ServerToClientEvents } from '../../../server/protocol/socketEvents.ts';
import type { PrescriptionItem } from '../../../server/protocol/consultation.ts';
import { loadDevice } from '../media/device.ts';
import { MARKS, markOnce } from './timing.ts';
import { clientRoomConsumerOptions, clientRtpCapabilities } from '../media/wire.ts';
import { SignalingError, connect, request, whenConnected, type HuizhenClientSocket } from '../signaling.ts';

export interface RemoteTrack {
  consumerId: string;
  peerId: string;
  source: MediaSource;
  track: MediaStreamTrack;
  producerPaused: boolean;
}

type ServerEvents = { [E in keyof ServerToClientEvents]: Parameters<ServerToClientEvents[E]>[0] };

export interface SessionEvents extends Omit<ServerEvents, 'room:newConsumer'> {
  /** A remote track is ready to play (its consumer was resumed). */
  track: RemoteTrack;
  /** Signaling connection state. */
  connection: 'connected' | 'reconnecting';
  /** Media had to be set up again (worker failure or a long absence). */
  mediaRestarting: undefined;
  /** …and is set up again. */
  mediaRestored: undefined;
  /** Back in the room after a reconnect, with the room as it is now. */
  resumed: AdmittedState;
  /** The reconnect came too late (or was refused): this participant is no longer in the room. */
  resumeFailed: unknown;
  /** Something failed in the background; the page shows it. */
  failure: unknown;
}

type Listener<T> = (payload: T) => void;

/** Three simulcast layers; the server's bandwidth policy assumes these caps (bandwidthPolicy.ts). */
const SIMULCAST_ENCODINGS: RTCRtpEncodingParameters[] = [
  { rid: 'r0', scaleResolutionDownBy: 4, maxBitrate: 100_000 },
  { rid: 'r1', scaleResolutionDownBy: 2, maxBitrate: 300_000 },
  { rid: 'r2', scaleResolutionDownBy: 1, maxBitrate: 900_000 },
];

/** How long a session keeps trying to get back into a room that is moving between nodes. */
const RELOCATE_DEADLINE_MS = 90_000;
const RELOCATE_RETRY_MS = 1000;
/** A join that keeps being redirected (nodes disagreeing) gives up after this many hops. */
const MAX_REDIRECTS = 4;

export class RoomSession {
  #socket: HuizhenClientSocket;
  #token: string;
  /** Connected to the entry (not to a node the room was found on). */
  #onEntry = true;
  /** While getting back into a room that moves: give up after this time. */
  #relocatingUntil: number | null = null;
  #relocateTimer: number | null = null;
  #lastRelocation = 0;
  /** Redirects followed in a row (reset once in a room or its lobby). */
  #redirects = 0;
  readonly #listeners = new Map<keyof SessionEvents, Set<Listener<never>>>();
  #state: AdmittedState | null = null;
  #device: Device | null = null;
  #send: Transport | null = null;
  #recv: Transport | null = null;
  readonly #producers = new Map<MediaSource, Producer>();
  readonly #consumers = new Map<string, Consumer>();
  /** Consumers the server closed before we finished creating them locally. */
  readonly #closedConsumers = new Set<string>();
  #waiting = false;
  /** Tracks we send, kept to produce them again after a media reset. */
  readonly #localTracks = new Map<MediaSource, MediaStreamTrack>();
  #settingUp: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(token: string) {
    this.#token = token;
    this.#socket = this.#open(undefined);
  }

  on<E extends keyof SessionEvents>(event: E, listener: Listener<SessionEvents[E]>): void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
  }

  get state(): AdmittedState | null {
    return this.#state;
  }

  get socket(): HuizhenClientSocket {
    return this.#socket;
  }

  /** Connects and asks to enter: admitted at once, or waiting in the lobby. */
  async join(): Promise<RoomJoinResult> {
    for (let hops = 0; ; hops++) {
      await whenConnected(this.#socket);
      const result = await request(this.#socket, 'room:join', {});
      if (result.status === 'redirect') {
        if (hops >= MAX_REDIRECTS) throw new SignalingError({ code: 'ROOM_RELOCATING', message: 'the room could not be found on any server' });
        this.#moveTo(result.node.url);
        continue;
      }
      this.#waiting = result.status === 'waiting';
      if (result.status === 'admitted') await this.#admitted(result);
      return result;
    }
  }

  /** Starts sending the given tracks (microphone and camera). */
  async publish(tracks: { mic?: MediaStreamTrack; camera?: MediaStreamTrack }): Promise<void> {
    await this.#settingUp;
    for (const source of ['mic', 'camera'] as const) {
      const track = tracks[source];
      if (track && this.#state?.capabilities.produce.includes(source)) await this.#produce(source, track);
    }
  }

  async setMuted(source: 'mic' | 'camera', muted: boolean): Promise<void> {
    const producer = this.#producers.get(source);
    if (!producer) return;
    if (muted) producer.pause();
    else producer.resume();
    try {
      await request(this.#socket, muted ? 'room:pauseProducer' : 'room:resumeProducer', { producerId: producer.id });
    } catch (err) {
      // Keep both sides in agreement: undo locally what the server refused.
      if (muted) producer.resume();
      else producer.pause();
      throw err;
    }
  }

  isMuted(source: MediaSource): boolean {
    return this.#producers.get(source)?.paused ?? true;
  }

  sending(source: MediaSource): boolean {
    return this.#producers.has(source);
  }

  async replaceTrack(source: 'mic' | 'camera', track: MediaStreamTrack): Promise<void> {
    this.#localTracks.set(source, track);
    await this.#producers.get(source)?.replaceTrack({ track });
  }

  async startScreenShare(): Promise<MediaStreamTrack> {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false });
    const track = stream.getVideoTracks()[0];
    if (!track) throw new Error('no screen track');
    track.addEventListener('ended', () => void this.stopScreenShare());
    await this.#produce('screen', track);
    return track;
  }

  async stopScreenShare(): Promise<void> {
    const producer = this.#producers.get('screen');
    this.#localTracks.get('screen')?.stop();
    this.#localTracks.delete('screen');
    if (!producer) return;
    this.#producers.delete('screen');
    producer.close();
    await request(this.#socket, 'room:closeProducer', { producerId: producer.id }).catch(() => undefined);
  }

  admit(peerId: string): Promise<unknown> {
    return request(this.#socket, 'room:admit', { peerId });
  }

  deny(peerId: string): Promise<unknown> {
    return request(this.#socket, 'room:deny', { peerId });
  }

  remove(peerId: string): Promise<unknown> {
    return request(this.#socket, 'room:remove', { peerId });
  }

  sendChat(text: string) {
    return request(this.#socket, 'chat:send', { text });
  }

  async refreshToken(token: string) {
    const result = await request(this.#socket, 'session:refreshToken', { token });
    // A reconnect handshake (here or on another node) must present the fresh token, not the first one.
    this.#token = token;
    this.#socket.auth = { token };
    return result;
  }

  giveConsent(input: { method: 'in_app' | 'verbal_witnessed' | 'written'; patientUserId?: string; textVersion: string }) {
    return request(this.#socket, 'recording:giveConsent', input);
  }

  withdrawConsent() {
    return request(this.#socket, 'recording:withdrawConsent', {});
  }

  /** `categories`: sensitive categories of the visit (they add playback approval tiers). */
  startRecording(categories: readonly string[] = []) {
    return request(this.#socket, 'recording:start', categories.length > 0 ? { categories: [...categories] } : {});
  }

  stopRecording() {
    return request(this.#socket, 'recording:stop', {});
  }

  /** Writes a prescription in person (the only way one is made); it then awaits a pharmacist's review. */
  createPrescription(items: PrescriptionItem[]) {
    return request(this.#socket, 'prescription:create', { items });
  }

  async end(): Promise<void> {
    await request(this.#socket, 'room:end', {});
  }

  /** Leaves the room (if in it) and disconnects. Idempotent. */
  async close(options: { leave: boolean } = { leave: true }): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (options.leave && this.#state) await request(this.#socket, 'room:leave', {}, 3000).catch(() => undefined);
    this.#teardownMedia();
    // The screen capture belongs to the session; camera and microphone to the page.
    this.#localTracks.get('screen')?.stop();
    this.#socket.disconnect();
  }

  // --- internals ---------------------------------------------------------------

  #emit<E extends keyof SessionEvents>(event: E, payload: SessionEvents[E]): void {
    for (const listener of this.#listeners.get(event) ?? []) (listener as Listener<SessionEvents[E]>)(payload);
  }

  /** A signaling connection to the entry (`undefined`) or to a node, wired to this session. */
  #open(nodeUrl: string | undefined): HuizhenClientSocket {
    const socket = connect(this.#token, nodeUrl);
    this.#wire(socket);
    return socket;
  }

  /**
   * Continues on another connection: a node the room lives on, or the entry
   * (`undefined`). The old connection's events are ignored from now on.
   */
  #moveTo(nodeUrl: string | undefined): void {
    const old = this.#socket;
    this.#onEntry = nodeUrl === undefined;
    this.#socket = this.#open(nodeUrl);
    old.disconnect();
  }

  /**
   * The room is between nodes: back to the entry, and in again. Paced: a
   * lost node can be named by the entry for a few seconds more (until its
   * reports and lease lapse), and each round trip must not be a busy loop.
   */
  #relocate(): void {
    if (this.#closed || this.#relocateTimer !== null) return;
    this.#relocatingUntil ??= Date.now() + RELOCATE_DEADLINE_MS;
    if (Date.now() > this.#relocatingUntil) {
      // The room did not come back anywhere in time.
      this.#state = null;
      this.#emit('resumeFailed', new SignalingError({ code: 'ROOM_RELOCATING', message: 'the room could not be found again' }));
      return;
    }
    this.#emit('connection', 'reconnecting');
    const wait = Math.max(0, this.#lastRelocation + RELOCATE_RETRY_MS - Date.now());
    this.#relocateTimer = window.setTimeout(() => {
      this.#relocateTimer = null;
      this.#lastRelocation = Date.now();
      if (!this.#closed) this.#moveTo(undefined);
    }, wait);
  }

  /** Goes to the node a join was redirected to; too many redirects in a row go back to the entry, paced. */
  #follow(nodeUrl: string): void {
    this.#redirects += 1;
    if (this.#redirects > MAX_REDIRECTS) {
      this.#redirects = 0;
      this.#relocate();
      return;
    }
    this.#moveTo(nodeUrl);
  }

  /** After a ROOM_RELOCATING or unavailable answer: try again shortly, until the deadline. */
  #retryLater(then: () => void, err: unknown): boolean {
    const code = err instanceof SignalingError ? err.body.code : null;
    if (code !== 'ROOM_RELOCATING' && code !== 'SERVICE_UNAVAILABLE' && code !== 'MEDIA_UNAVAILABLE') return false;
    this.#relocatingUntil ??= Date.now() + RELOCATE_DEADLINE_MS;
    if (Date.now() > this.#relocatingUntil) return false;
    const socket = this.#socket;
    setTimeout(() => {
      if (!this.#closed && socket === this.#socket && socket.connected) then();
    }, RELOCATE_RETRY_MS);
    return true;
  }

  #wire(s: HuizhenClientSocket): void {
    // Only the current connection speaks for the session.
    const current = () => s === this.#socket && !this.#closed;
    const forward = <E extends keyof ServerEvents & keyof SessionEvents>(event: E) => {
      (s.on as (e: E, l: (p: ServerEvents[E]) => void) => void)(event, (payload) => {
        if (current()) this.#emit(event, payload as never);
      });
    };
    for (const event of [
      'session:closing',
      'session:expiring',
      'room:denied',
      'room:peerJoined',
      'room:peerLeft',
      'room:lobby',
      'room:consumerClosed',
      'room:producerPaused',
      'room:producerResumed',
      'room:consumerPaused',
      'room:consumerResumed',
      'room:consumerLayers',
      'room:activeSpeaker',
      'room:networkQuality',
      'room:peerMedia',
      'room:recording',
      'room:consent',
      'chat:message',
    ] as const) {
      forward(event);
    }
    s.on('room:closed', (payload) => {
      if (!current()) return;
      // Scale-out: the room continues on another node; so does this participant.
      if (payload.reason === 'room_moved' && (this.#state || this.#waiting)) this.#relocate();
      else this.#emit('room:closed', payload);
    });
    s.on('room:admitted', (state) => {
      if (!current()) return;
      this.#waiting = false;
      void this.#admitted(state).catch((err: unknown) => this.#emit('failure', err));
      this.#emit('room:admitted', state);
    });
    s.on('room:newConsumer', (info) => {
      if (current()) void this.#consume(info).catch((err: unknown) => this.#emit('failure', err));
    });
    s.on('room:consumerClosed', ({ consumerId }) => {
      if (!current()) return;
      const consumer = this.#consumers.get(consumerId);
      if (consumer) consumer.close();
      else this.#closedConsumers.add(consumerId);
      this.#consumers.delete(consumerId);
    });
    s.on('room:mediaReset', ({ routerRtpCapabilities }) => {
      if (!current() || !this.#state) return;
      this.#emit('mediaRestarting', undefined);
      this.#state = { ...this.#state, routerRtpCapabilities };
      this.#queueRestart();
    });
    s.io.on('reconnect_attempt', () => {
      if (current()) this.#emit('connection', 'reconnecting');
    });
    // Scale-out: the node the room was on does not answer any more (lost):
    // the entry knows where the room is now.
    s.io.on('reconnect_error', () => {
      if (current() && !this.#onEntry && (this.#state || this.#waiting)) this.#relocate();
    });
    s.on('connect_error', () => {
      if (current() && !this.#onEntry && (this.#state || this.#waiting)) this.#relocate();
    });
    s.on('disconnect', (reason) => {
      if (current() && reason !== 'io server disconnect') this.#emit('connection', 'reconnecting');
    });
    s.on('connect', () => {
      if (!current()) return;
      markOnce(MARKS.signalingConnected);
      if (this.#state) void this.#resume();
      else if (this.#waiting) void this.#rejoinLobby();
    });
  }

  /** A dropped connection took this person out of the lobby: ask again. */
  async #rejoinLobby(): Promise<void> {
    try {
      const result = await request(this.#socket, 'room:join', {});
      if (result.status === 'redirect') {
        this.#follow(result.node.url);
        return;
      }
      this.#relocatingUntil = null;
      this.#redirects = 0;
      this.#emit('connection', 'connected');
      if (result.status === 'admitted') {
        this.#waiting = false;
        await this.#admitted(result);
        this.#emit('room:admitted', result);
      }
    } catch (err) {
      if (!this.#retryLater(() => void this.#rejoinLobby(), err)) this.#emit('resumeFailed', err);
    }
  }

  /** Media restarts run one after another, never interleaved. */
  #queueRestart(): Promise<void> {
    this.#settingUp = this.#settingUp
      .catch(() => undefined)
      .then(() => this.#restartMedia())
      .catch((err: unknown) => this.#emit('failure', err));
    return this.#settingUp;
  }

  async #admitted(state: AdmittedState): Promise<void> {
    this.#state = state;
    this.#settingUp = this.#setUpMedia();
    await this.#settingUp;
  }

  async #setUpMedia(): Promise<void> {
    const state = this.#state;
    if (!state) return;
    this.#device = await loadDevice(clientRtpCapabilities(state.routerRtpCapabilities));
    await request(this.#socket, 'room:setRtpCapabilities', { rtpCapabilities: this.#device.recvRtpCapabilities as never });
    if (state.capabilities.produce.length > 0) {
      const options = await request(this.#socket, 'room:createTransport', { direction: 'send' });
      this.#send = this.#device.createSendTransport({ ...options, iceServers: state.iceServers } as never);
      this.#send.on('connect', ({ dtlsParameters }, ok, fail) => {
        request(this.#socket, 'room:connectTransport', { transportId: this.#send!.id, dtlsParameters: dtlsParameters as never }).then(() => ok(), fail);
      });
      this.#send.on('produce', ({ kind, rtpParameters, appData }, ok, fail) => {
        request(this.#socket, 'room:produce', {
          transportId: this.#send!.id,
          kind,
          source: appData['source'] as MediaSource,
          rtpParameters: rtpParameters as never,
        }).then(({ producerId }) => ok({ id: producerId }), fail);
      });
      this.#send.on('connectionstatechange', (st) => {
        if (st === 'disconnected' || st === 'failed') void this.#restartIce(this.#send);
      });
    }
    const options = await request(this.#socket, 'room:createTransport', { direction: 'recv' });
    this.#recv = this.#device.createRecvTransport({ ...options, iceServers: state.iceServers } as never);
    this.#recv.on('connect', ({ dtlsParameters }, ok, fail) => {
      request(this.#socket, 'room:connectTransport', { transportId: this.#recv!.id, dtlsParameters: dtlsParameters as never }).then(() => ok(), fail);
    });
    this.#recv.on('connectionstatechange', (st) => {
      if (st === 'disconnected' || st === 'failed') void this.#restartIce(this.#recv);
    });
  }

  async #produce(source: MediaSource, track: MediaStreamTrack): Promise<void> {
    if (!this.#send) return;
    this.#localTracks.set(source, track);
    const producer = await this.#send.produce({
      track,
      // The tracks outlive producers: after a media reset the same camera
      // and microphone are sent again, and the page keeps its preview.
      stopTracks: false,
      appData: { source },
      ...(source === 'camera' ? { encodings: SIMULCAST_ENCODINGS, codecOptions: { videoGoogleStartBitrate: 600 } } : {}),
      // A muted microphone sends no RTP at all (the transceiver goes
      // inactive), not even DTX comfort packets: nothing of it leaves the room.
      ...(source === 'mic' ? { codecOptions: { opusDtx: true, opusFec: true }, zeroRtpOnPause: true } : {}),
    });
    this.#producers.set(source, producer);
  }

  async #consume(info: ConsumerInfo): Promise<void> {
    await this.#settingUp;
    if (!this.#recv || this.#closedConsumers.delete(info.consumerId)) return;
    const consumer = await this.#recv.consume(clientRoomConsumerOptions(info));
    // Closed by the server while we were setting it up.
    if (this.#closedConsumers.delete(info.consumerId)) {
      consumer.close();
      return;
    }
    this.#consumers.set(info.consumerId, consumer);
    try {
      await request(this.#socket, 'room:resumeConsumer', { consumerId: info.consumerId });
    } catch (err) {
      // Gone meanwhile (its producer closed): nothing to show.
      if (err instanceof SignalingError && err.body.code === 'NOT_FOUND') {
        consumer.close();
        this.#consumers.delete(info.consumerId);
        return;
      }
      throw err;
    }
    this.#emit('track', {
      consumerId: info.consumerId,
      peerId: info.peerId,
      source: info.source,
      track: consumer.track,
      producerPaused: info.producerPaused,
    });
  }

  async #restartIce(transport: Transport | null): Promise<void> {
    if (!transport || transport.closed || !this.#socket.connected) return;
    try {
      const { iceParameters } = await request(this.#socket, 'room:restartIce', { transportId: transport.id });
      await transport.restartIce({ iceParameters: iceParameters as never });
    } catch (err) {
      if (err instanceof SignalingError && err.body.code === 'NOT_FOUND') return;
      this.#emit('failure', err);
    }
  }

  /** After a reconnect: the same participant, then ICE restarts (or media from scratch). */
  async #resume(): Promise<void> {
    const state = this.#state;
    if (!state) return;
    let resumed: JoinResult;
    try {
      resumed = await request(this.#socket, 'room:join', { resume: { peerId: state.self.peerId, resumeToken: state.resumeToken } });
    } catch (err) {
      // The room is between nodes: again in a moment.
      if (this.#retryLater(() => void this.#resume(), err)) return;
      // Too late (grace period over) or refused: this participant is gone.
      this.#state = null;
      this.#emit('resumeFailed', err);
      return;
    }
    // Scale-out: the room lives on another node now; resume there.
    if (resumed.status === 'redirect') {
      this.#follow(resumed.node.url);
      return;
    }
    if (resumed.status !== 'admitted') return;
    this.#relocatingUntil = null;
    this.#redirects = 0;
    this.#state = resumed;
    // What closed while we were away is no longer on the server.
    const live = new Set(resumed.peers.flatMap((p) => p.producers.map((x) => x.producerId)));
    for (const [consumerId, consumer] of this.#consumers) {
      if (!live.has(consumer.producerId)) {
        consumer.close();
        this.#consumers.delete(consumerId);
        this.#emit('room:consumerClosed', { consumerId });
      }
    }
    this.#emit('resumed', resumed);
    this.#emit('connection', 'connected');
    const mediaIntact = this.#send === null || resumed.self.producers.length === this.#producers.size;
    try {
      if (!mediaIntact) throw new Error('media lost');
      for (const transport of [this.#send, this.#recv]) {
        if (!transport) continue;
        const { iceParameters } = await request(this.#socket, 'room:restartIce', { transportId: transport.id });
        await transport.restartIce({ iceParameters: iceParameters as never });
      }
    } catch {
      this.#emit('mediaRestarting', undefined);
      await this.#queueRestart();
    }
  }

  /** Drops every transport and sets media up again, re-sending the same tracks. */
  async #restartMedia(): Promise<void> {
    const tracks = new Map(this.#localTracks);
    const muted = new Map([...this.#producers].map(([source, p]) => [source, p.paused]));
    this.#teardownMedia();
    await this.#setUpMedia();
    for (const [source, track] of tracks) {
      if (track.readyState !== 'live') continue;
      const wasMuted = muted.get(source) === true && source !== 'screen';
      // A muted microphone must not be heard, not even for a round trip:
      // it is sent disabled (silence) and then paused.
      if (wasMuted) track.enabled = false;
      await this.#produce(source, track);
      if (wasMuted && (source === 'mic' || source === 'camera')) await this.setMuted(source, true);
    }
    this.#emit('mediaRestored', undefined);
  }

  #teardownMedia(): void {
    this.#closedConsumers.clear();
    this.#send?.close();
    this.#recv?.close();
    this.#send = null;
    this.#recv = null;
    this.#producers.clear();
    for (const consumer of this.#consumers.values()) consumer.close();
    this.#consumers.clear();
  }
}
