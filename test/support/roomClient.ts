/**
 * A consultation-room participant in Node: a real socket.io client speaking
 * the real protocol, with mediasoup-client's FakeHandler standing in for
 * the browser's WebRTC stack (it produces real RTP parameters, but no
 * media flows — the Chromium tests cover media).
 */
import { Device, FakeHandler, testFakeParameters } from 'mediasoup-client';
import type { Consumer, Producer, Transport } from 'mediasoup-client/types';
import { FakeMediaStreamTrack } from 'fake-mediastreamtrack';
import type { Ack } from '../../server/protocol/ack.ts';
import type { AdmittedState, ConsumerInfo, JoinResult, MediaSource } from '../../server/protocol/room.ts';
import type { RequestName, RequestPayload, ResponseData, ServerToClientEvents } from '../../server/protocol/socketEvents.ts';
import { io as ioClient } from 'socket.io-client';
import { connectSocket, socketClient, type ClientSocket, type TestServer } from './server.ts';

export class RequestFailed extends Error {
  readonly code: string;
  constructor(name: string, code: string, message: string) {
    super(`${name} failed: ${code} ${message}`);
    this.code = code;
  }
}

type Received = { [E in keyof ServerToClientEvents]?: Array<Parameters<ServerToClientEvents[E]>[0]> };

export class RoomClient {
  readonly socket: ClientSocket;
  readonly received: Received = {};
  readonly consumers = new Map<string, Consumer>();
  joined: JoinResult | null = null;
  admitted: AdmittedState | null = null;
  device: Device | null = null;
  send: Transport | null = null;
  recv: Transport | null = null;
  readonly producers = new Map<MediaSource, Producer>();
  #waiters: Array<() => void> = [];
  #recvReady: Promise<void> = Promise.resolve();
  #listening = false;

  private constructor(socket: ClientSocket) {
    this.socket = socket;
    this.socket.onAny((event: string, payload: unknown) => {
      const list = ((this.received as Record<string, unknown[]>)[event] ??= []);
      list.push(payload);
      if (event === 'room:admitted') this.admitted = payload as AdmittedState;
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /**
   * A client of a server in another process (scale-out tests): `url` is a
   * node's base URL, possibly with a path (its signaling is at `<url>/socket.io`).
   */
  static async connectTo(url: string, ca: string, token: string): Promise<RoomClient> {
    const u = new URL(url);
    const socket: ClientSocket = ioClient(u.origin, {
      path: `${u.pathname.replace(/\/+$/, '')}/socket.io`,
      auth: { token },
      transports: ['websocket'],
      ca,
      autoConnect: false,
      reconnection: false,
      forceNew: true,
    });
    const result = await connectSocket(socket);
    if (!result.connected) throw new Error(`connect refused: ${JSON.stringify(result.data)}`);
    return new RoomClient(socket);
  }

  static async connect(server: TestServer, token: string): Promise<RoomClient> {
    const socket = socketClient(server, token);
    const result = await connectSocket(socket);
    if (!result.connected) throw new Error(`connect refused: ${JSON.stringify(result.data)}`);
    return new RoomClient(socket);
  }

  /** A request that must succeed. */
  async request<K extends RequestName>(name: K, payload: RequestPayload<K>): Promise<ResponseData<K>> {
    const ack = await this.attempt(name, payload);
    if (!ack.ok) throw new RequestFailed(name, ack.error.code, ack.error.message);
    return ack.data;
  }

  /** A request whose outcome the test inspects. */
  attempt<K extends RequestName>(name: K, payload: RequestPayload<K>): Promise<Ack<ResponseData<K>>> {
    const emit = this.socket.timeout(10_000) as unknown as {
      emitWithAck(e: K, p: RequestPayload<K>): Promise<Ack<ResponseData<K>>>;
    };
    return emit.emitWithAck(name, payload);
  }

  async join(resume?: { peerId: string; resumeToken: string }): Promise<JoinResult> {
    this.joined = await this.request('room:join', resume ? { resume } : {});
    if (this.joined.status === 'admitted') this.admitted = this.joined;
    return this.joined;
  }

  get peerId(): string {
    if (!this.joined) throw new Error('not joined');
    switch (this.joined.status) {
      case 'admitted':
        return this.joined.self.peerId;
      case 'waiting':
        return this.joined.peerId;
      case 'redirect':
        throw new Error(`redirected to node ${this.joined.node.nodeId}`);
    }
  }

  /** Resolves when `event` has been received `count` times (bounded by `timeoutMs`). */
  async waitFor<E extends keyof ServerToClientEvents>(
    event: E,
    predicate: (payload: Parameters<ServerToClientEvents[E]>[0]) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<Parameters<ServerToClientEvents[E]>[0]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // findIndex, not find: some events carry no payload at all.
      const list = (this.received[event] ?? []) as Array<Parameters<ServerToClientEvents[E]>[0]>;
      const index = list.findIndex(predicate);
      if (index >= 0) return list[index] as Parameters<ServerToClientEvents[E]>[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${event}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  count(event: keyof ServerToClientEvents): number {
    return this.received[event]?.length ?? 0;
  }

  /** Loads a fake device and creates both transports, as the browser client does after admission. */
  async setUpMedia(state: { routerRtpCapabilities: AdmittedState['routerRtpCapabilities'] } | null = this.admitted): Promise<void> {
    if (!state) throw new Error('not admitted');
    this.consumers.clear();
    this.producers.clear();
    // Consumers announced before the receive transport exists wait for it.
    let recvReady!: () => void;
    this.#recvReady = new Promise<void>((resolve) => {
      recvReady = resolve;
    });
    if (!this.#listening) {
      this.#listening = true;
      this.socket.on('room:newConsumer', (info) => void this.#consume(info));
    }
    const device = new Device({
      handlerFactory: FakeHandler.createFactory({
        generateNativeRtpCapabilities: testFakeParameters.generateNativeRtpCapabilities,
        generateLocalDtlsParameters: testFakeParameters.generateLocalDtlsParameters,
      }),
    });
    await device.load({ routerRtpCapabilities: state.routerRtpCapabilities as never });
    this.device = device;
    await this.request('room:setRtpCapabilities', { rtpCapabilities: device.recvRtpCapabilities as never });

    if (state === this.admitted && this.admitted?.capabilities.produce.length === 0) {
      // Roles that only receive get no send transport.
      await this.#createRecv(device);
      recvReady();
      return;
    }
    await this.#createSend(device);
    await this.#createRecv(device);
    recvReady();
  }

  async #createSend(device: Device): Promise<void> {
    const sendOptions = await this.request('room:createTransport', { direction: 'send' });
    this.send = device.createSendTransport(sendOptions as never);
    this.send.on('connect', ({ dtlsParameters }, ok, fail) => {
      this.request('room:connectTransport', { transportId: this.send!.id, dtlsParameters: dtlsParameters as never }).then(() => ok(), fail);
    });
    this.send.on('produce', ({ kind, rtpParameters, appData }, ok, fail) => {
      this.request('room:produce', {
        transportId: this.send!.id,
        kind,
        source: appData['source'] as MediaSource,
        rtpParameters: rtpParameters as never,
      }).then(({ producerId }) => ok({ id: producerId }), fail);
    });
  }

  async #createRecv(device: Device): Promise<void> {
    const recvOptions = await this.request('room:createTransport', { direction: 'recv' });
    this.recv = device.createRecvTransport(recvOptions as never);
    this.recv.on('connect', ({ dtlsParameters }, ok, fail) => {
      this.request('room:connectTransport', { transportId: this.recv!.id, dtlsParameters: dtlsParameters as never }).then(() => ok(), fail);
    });
  }

  async produce(source: MediaSource): Promise<Producer> {
    // Without a send transport, ask for one: the server's answer is the outcome.
    if (!this.send) await this.#createSend(this.device as Device);
    if (!this.send) throw new Error('no send transport');
    const kind = source === 'mic' ? 'audio' : 'video';
    const track = new FakeMediaStreamTrack({ kind });
    const producer = await this.send.produce({
      // A fake track stands in for the browser's MediaStreamTrack.
      track: track as never,
      appData: { source },
      ...(source === 'camera'
        ? { encodings: [{ rid: 'r0', maxBitrate: 100_000 }, { rid: 'r1', maxBitrate: 300_000 }, { rid: 'r2', maxBitrate: 900_000 }] }
        : {}),
    });
    this.producers.set(source, producer);
    return producer;
  }

  async #consume(info: ConsumerInfo): Promise<void> {
    await this.#recvReady;
    if (!this.recv) return;
    const consumer = await this.recv.consume({
      id: info.consumerId,
      producerId: info.producerId,
      kind: info.kind,
      rtpParameters: info.rtpParameters as never,
    });
    this.consumers.set(info.consumerId, consumer);
    await this.request('room:resumeConsumer', { consumerId: info.consumerId }).catch(() => undefined);
  }

  close(): void {
    this.socket.disconnect();
  }
}
