/**
 * The socket.io contract between the Huizhen server and its browser client,
 * typed once here and imported by both (the client with `import type`).
 *
 * Every client → server message is a request: a payload plus an ack callback
 * that receives `Ack<response>`. Server → client messages are notifications
 * without an ack.
 */
import type {
  DtlsParameters,
  IceCandidate,
  IceParameters,
  MediaKind,
  RtpCapabilities,
  RtpParameters,
} from 'mediasoup/types';
import type { AckCallback } from './ack.ts';
import type { Role } from './roles.ts';


/** What the client needs to create a mediasoup-client transport. */
export interface TransportOptions {
  id: string;
  iceParameters: IceParameters;
  iceCandidates: IceCandidate[];
  dtlsParameters: DtlsParameters;
}

/** A STUN/TURN server the client should hand to its RTCPeerConnection. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface SessionInfo {
  userId: string;
  role: Role;
  displayName: string | null;
  roomId: string | null;
  /** Token expiry, seconds since the epoch. */
  expiresAt: number;
  connectionId: string;
}

export interface SelfTestStarted {
  routerRtpCapabilities: RtpCapabilities;
  sendTransport: TransportOptions;
  recvTransport: TransportOptions;
  iceServers: IceServer[];
}

export interface ConsumerOptions {
  id: string;
  producerId: string;
  kind: MediaKind;
  rtpParameters: RtpParameters;
}

export interface SelfTestStats {
  producers: Array<{ id: string; kind: MediaKind; bytesReceived: number; packetsReceived: number }>;
  consumers: Array<{ id: string; kind: MediaKind; bytesSent: number; packetsSent: number }>;
}

/**
 * Client → server requests: `[payload, response]` per event name.
 *
 * `selftest:*` is the media self-test (设备与网络自检): the browser sends its
 * camera and microphone to the SFU and receives them back through a
 * consumer, which proves ICE, DTLS-SRTP and RTP forwarding work end to end
 * before a doctor joins a consultation.
 */
export interface Requests {
  'session:whoami': { request: Record<string, never>; response: SessionInfo };
  'selftest:start': { request: Record<string, never>; response: SelfTestStarted };
  'selftest:connectTransport': {
    request: { transportId: string; dtlsParameters: DtlsParameters };
    response: Record<string, never>;
  };
  'selftest:produce': {
    request: { transportId: string; kind: MediaKind; rtpParameters: RtpParameters };
    response: { producerId: string };
  };
  'selftest:consume': {
    request: { producerId: string; rtpCapabilities: RtpCapabilities };
    response: ConsumerOptions;
  };
  'selftest:resumeConsumer': {
    request: { consumerId: string };
    response: Record<string, never>;
  };
  'selftest:stats': { request: Record<string, never>; response: SelfTestStats };
  'selftest:stop': { request: Record<string, never>; response: Record<string, never> };
}

export type RequestName = keyof Requests;
export type RequestPayload<K extends RequestName> = Requests[K]['request'];
export type ResponseData<K extends RequestName> = Requests[K]['response'];

/** Why the server closed a connection (closed set, shown translated). */
export type DisconnectReason = 'server_shutdown' | 'token_expired' | 'kicked';

export type ClientToServerEvents = {
  [K in RequestName]: (payload: RequestPayload<K>, ack: AckCallback<ResponseData<K>>) => void;
};

export interface ServerToClientEvents {
  /** Sent just before the server closes the connection on purpose. */
  'session:closing': (notice: { reason: DisconnectReason }) => void;
}

export type InterServerEvents = Record<string, never>;
