/**
 * A Huizhen server in this process whose rooms make PlainTransports instead
 * of WebRTC transports (its room transport factory), so that the benchmark
 * can send pre-encoded RTP into a room and count what the room forwards,
 * without browsers. Participants join, are admitted, produce and are given
 * consumers through the room's own code; their "connection" resumes every
 * consumer it is offered, as the browser does.
 */
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import type { PlainTransport, Router, RtpParameters } from 'mediasoup/types';
import { startHuizhen, type HuizhenServer } from '../../server/app.ts';
import { loadConfig } from '../../server/config/index.ts';
import type { PeerConnection } from '../../server/domain/rooms/PeerConnection.ts';
import type { Room } from '../../server/domain/rooms/Room.ts';
import type { MediaTransport, TransportFactory } from '../../server/media/transports.ts';
import { createLogger } from '../../server/observability/logger.ts';
import type { LiveRole } from '../../server/protocol/roles.ts';
import type { Clip } from './clips.ts';
import { replay, type Replayer } from './replay.ts';
import { sleep } from './stats.ts';

const SRTP_SUITE = 'AES_CM_128_HMAC_SHA1_80' as const;

/** A receiving PlainTransport to the sink (SRTP when asked). */
export async function receiverTransport(router: Router, sinkPort: number, srtp: boolean): Promise<PlainTransport> {
  const t = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
    rtcpMux: true,
    comedia: false,
    ...(srtp ? { enableSrtp: true, srtpCryptoSuite: SRTP_SUITE } : {}),
  });
  await t.connect({
    ip: '127.0.0.1',
    port: sinkPort,
    ...(srtp ? { srtpParameters: { cryptoSuite: SRTP_SUITE, keyBase64: crypto.randomBytes(30).toString('base64') } } : {}),
  });
  return t;
}

/** A sending PlainTransport that learns the generator's address from its first packet. */
export function senderTransport(router: Router): Promise<PlainTransport> {
  return router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
}

export function producerParameters(clip: Clip, ssrc: number): RtpParameters {
  return clip.kind === 'video'
    ? {
        codecs: [{ mimeType: 'video/VP8', payloadType: clip.payloadType, clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }] }],
        encodings: [{ ssrc }],
      }
    : { codecs: [{ mimeType: 'audio/opus', payloadType: clip.payloadType, clockRate: 48000, channels: 2 }], encodings: [{ ssrc }] };
}

export interface PlainHuizhen {
  server: HuizhenServer;
  /** Joins `userId` to the room (admitted by `admitter` when the role waits in the lobby); returns the participant id. */
  join(room: Room, userId: string, role: LiveRole, admitter?: string): string;
  /** The participant sends the clips (camera and microphone) from RTP generators. */
  send(room: Room, peerId: string, clips: Clip[]): Promise<Replayer[]>;
  /** The participant receives everything in the room at the sink. */
  receive(room: Room, peerId: string): Promise<void>;
  /** Waits until the room has this many consumers, and every one was resumed. */
  settled(room: Room, consumers: number): Promise<void>;
  close(): Promise<void>;
}

export async function startPlainHuizhen(options: { dataDir: string; sinkPort: number; srtp?: boolean; workers?: number }): Promise<PlainHuizhen> {
  const made = new Map<string, MediaTransport>();
  const factory: TransportFactory = async (router, { peerId, direction }) => {
    const t = direction === 'send' ? await senderTransport(router) : await receiverTransport(router, options.sinkPort, options.srtp ?? false);
    made.set(`${peerId}:${direction}`, t);
    return t;
  };
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir: options.dataDir,
      http: { port: 0 },
      log: { level: 'silent' },
      media: { workers: options.workers ?? 1 },
      rooms: { adaptVideoToBandwidth: false },
      consultations: { seedDemoDirectory: false },
    },
  });
  const server = await startHuizhen(config, { log: createLogger('silent'), mediaTransports: factory });
  const resuming: Array<Promise<void>> = [];
  const generators: Replayer[] = [];
  const sockets: dgram.Socket[] = [];
  let ssrc = 100_000;
  return {
    server,
    join(room, userId, role, admitter) {
      let peerId = '';
      const connection: PeerConnection = {
        id: `bench-${userId}`,
        send(event, ...args) {
          if (event === 'room:newConsumer') resuming.push(room.resumeConsumer(peerId, (args[0] as { consumerId: string }).consumerId).catch(() => undefined));
        },
      };
      const result = room.join({ userId, role, displayName: null }, connection);
      peerId = result.status === 'admitted' ? result.self.peerId : result.peerId;
      if (result.status === 'waiting') {
        if (!admitter) throw new Error(`${userId} waits in the lobby and nobody admits them`);
        room.admit(admitter, peerId);
      }
      return peerId;
    },
    async send(room, peerId, clips) {
      const { id } = await room.createTransport(peerId, 'send');
      const transport = made.get(`${peerId}:send`) as PlainTransport;
      const started: Replayer[] = [];
      // One source address for everything this participant sends (the transport learns it from the first packet).
      const socket = dgram.createSocket('udp4');
      sockets.push(socket);
      for (const clip of clips) {
        ssrc += 1;
        await room.produce(peerId, id, clip.kind, clip.kind === 'video' ? 'camera' : 'mic', producerParameters(clip, ssrc));
        started.push(replay(clip, { ip: '127.0.0.1', port: transport.tuple.localPort }, ssrc, socket));
      }
      generators.push(...started);
      return started;
    },
    async receive(room, peerId) {
      room.setRtpCapabilities(peerId, room.router!.rtpCapabilities);
      await room.createTransport(peerId, 'recv');
    },
    async settled(room, consumers) {
      const deadline = Date.now() + 30_000;
      while (room.consumerCount < consumers && Date.now() < deadline) await sleep(20);
      await Promise.all(resuming.splice(0));
    },
    async close() {
      for (const g of generators.splice(0)) g.stop();
      for (const s of sockets.splice(0)) s.close();
      await server.close();
    },
  };
}
