/**
 * The browser side of a consultation room: signaling, the mediasoup-client
 * device and transports, and what this participant sends. The page listens
 * to its events and calls its methods; it never touches the socket.
 *
 * Reconnects: socket.io reconnects by itself; the session then resumes the
 * same participant with its resume token and restarts ICE on its
 * transports. If the server no longer has them (media server replaced, or
 * the page was away too long) it sets media up from scratch.
 */
import type { Device } from 'mediasoup-client';
import type { Consumer, Producer, Transport } from 'mediasoup-client/types';
import type { AdmittedState, ConsumerInfo, JoinResult, MediaSource } from '../../../server/protocol/room.ts';
import type { ServerToClientEvents } from '../../../server/protocol/socketEvents.ts';
import type { PrescriptionItem } from '../../../server/protocol/consultation.ts';
import { loadDevice } from '../media/device.ts';
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

export class RoomSession {
  readonly #socket: HuizhenClientSocket;
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
    this.#socket = connect(token);
    this.#wire();
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
  async join(): Promise<JoinResult> {
    await whenConnected(this.#socket);
    const result = await request(this.#socket, 'room:join', {});
    this.#waiting = result.status === 'waiting';
    if (result.status === 'admitted') await this.#admitted(result);
    return result;
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
    // A reconnect handshake must present the fresh token, not the first one.
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

  #wire(): void {
    const s = this.#socket;
    const forward = <E extends keyof ServerEvents & keyof SessionEvents>(event: E) => {
      (s.on as (e: E, l: (p: ServerEvents[E]) => void) => void)(event, (payload) => this.#emit(event, payload as never));
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
      'room:closed',
      'chat:message',
    ] as const) {
      forward(event);
    }
    s.on('room:admitted', (state) => {
      this.#waiting = false;
      void this.#admitted(state).catch((err: unknown) => this.#emit('failure', err));
      this.#emit('room:admitted', state);
    });
    s.on('room:newConsumer', (info) => void this.#consume(info).catch((err: unknown) => this.#emit('failure', err)));
    s.on('room:consumerClosed', ({ consumerId }) => {
      const consumer = this.#consumers.get(consumerId);
      if (consumer) consumer.close();
      else this.#closedConsumers.add(consumerId);
      this.#consumers.delete(consumerId);
    });
    s.on('room:mediaReset', ({ routerRtpCapabilities }) => {
      if (!this.#state) return;
      this.#emit('mediaRestarting', undefined);
      this.#state = { ...this.#state, routerRtpCapabilities };
      this.#queueRestart();
    });
    s.io.on('reconnect_attempt', () => this.#emit('connection', 'reconnecting'));
    s.on('disconnect', (reason) => {
      if (!this.#closed && reason !== 'io server disconnect') this.#emit('connection', 'reconnecting');
    });
    s.on('connect', () => {
      if (this.#closed) return;
      if (this.#state) void this.#resume();
      else if (this.#waiting) void this.#rejoinLobby();
    });
  }

  /** A dropped connection took this person out of the lobby: ask again. */
  async #rejoinLobby(): Promise<void> {
    try {
      const result = await request(this.#socket, 'room:join', {});
      this.#emit('connection', 'connected');
      if (result.status === 'admitted') {
        this.#waiting = false;
        await this.#admitted(result);
        this.#emit('room:admitted', result);
      }
    } catch (err) {
      this.#emit('resumeFailed', err);
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
      // Too late (grace period over) or refused: this participant is gone.
      this.#state = null;
      this.#emit('resumeFailed', err);
      return;
    }
    if (resumed.status !== 'admitted') return;
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
