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
import type { ClusterNotice } from './cluster.ts';
import type { PrescriptionItem, PrescriptionView } from './consultation.ts';
import type {
  ChatMessage,
  ConsumerInfo,
  ConsumerPauseReason,
  JoinResult,
  AdmittedState,
  LobbyEntry,
  MediaSource,
  NetworkQuality,
  PeerInfo,
  PeerLeaveReason,
  RecordingState,
  ConsentState,
  RoomCloseReason,
} from './room.ts';
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

  /** Replaces the connection's token before it expires (same user, role and room). */
  'session:refreshToken': { request: { token: string }; response: { expiresAt: number } };

  /**
   * Enter the room named in the token. Hosts are admitted at once; everyone
   * else waits in the lobby until a host admits them (`room:admitted`).
   * `resume` continues a participant whose connection dropped, within the
   * grace period, with the token from its last admission.
   */
  'room:join': {
    request: { resume?: { peerId: string; resumeToken: string } };
    response: JoinResult;
  };
  /** The device's receive capabilities; consumers are created only after this. */
  'room:setRtpCapabilities': { request: { rtpCapabilities: RtpCapabilities }; response: Record<string, never> };
  'room:createTransport': { request: { direction: 'send' | 'recv' }; response: TransportOptions };
  'room:connectTransport': {
    request: { transportId: string; dtlsParameters: DtlsParameters };
    response: Record<string, never>;
  };
  'room:restartIce': { request: { transportId: string }; response: { iceParameters: IceParameters } };
  'room:produce': {
    request: { transportId: string; kind: MediaKind; source: MediaSource; rtpParameters: RtpParameters };
    response: { producerId: string };
  };
  'room:pauseProducer': { request: { producerId: string }; response: Record<string, never> };
  'room:resumeProducer': { request: { producerId: string }; response: Record<string, never> };
  'room:closeProducer': { request: { producerId: string }; response: Record<string, never> };
  /** Consumers start paused; the client resumes each once its track is set up. */
  'room:resumeConsumer': { request: { consumerId: string }; response: Record<string, never> };
  /** The client does not show this consumer now (e.g. minimised tile). */
  'room:pauseConsumer': { request: { consumerId: string }; response: Record<string, never> };
  'room:setPreferredLayers': {
    request: { consumerId: string; spatialLayer: number; temporalLayer?: number };
    response: Record<string, never>;
  };
  'room:admit': { request: { peerId: string }; response: Record<string, never> };
  'room:deny': { request: { peerId: string }; response: Record<string, never> };
  'room:remove': { request: { peerId: string }; response: Record<string, never> };
  /** Ends the visit for everyone (host or expert). */
  'room:end': { request: Record<string, never>; response: Record<string, never> };
  'room:leave': { request: Record<string, never>; response: Record<string, never> };
  'chat:send': { request: { text: string }; response: ChatMessage };

  /**
   * Consent to record this visit: the patient agrees in the app
   * (`in_app`), or the host records a patient's verbal or written consent.
   * `textVersion` is the version of the consent text that was shown.
   */
  'recording:giveConsent': {
    request: { method: 'in_app' | 'verbal_witnessed' | 'written'; patientUserId?: string; textVersion: string };
    response: ConsentState;
  };
  'recording:withdrawConsent': { request: Record<string, never>; response: Record<string, never> };
  /** `categories`: sensitive categories of the visit (approval policy), which add playback approval tiers. */
  'recording:start': { request: { categories?: string[] }; response: RecordingState };
  'recording:stop': { request: Record<string, never>; response: Record<string, never> };
  /**
   * The only way a prescription comes into being: written in person by a
   * verified practitioner of the visit, from their admitted connection. It
   * waits for a pharmacist's review before it counts.
   */
  'prescription:create': { request: { items: PrescriptionItem[] }; response: PrescriptionView };
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
  /** The token runs out at `expiresAt` (seconds); refresh it with `session:refreshToken`. */
  'session:expiring': (notice: { expiresAt: number }) => void;

  /** This participant was admitted from the lobby. */
  'room:admitted': (state: AdmittedState) => void;
  /** This participant's request to enter was refused by the host. */
  'room:denied': () => void;
  /** Someone (else) was admitted. */
  'room:peerJoined': (peer: PeerInfo) => void;
  /** Someone left; `removed` when the host removed them. Sent to this participant too when removed. */
  'room:peerLeft': (notice: { peerId: string; reason: PeerLeaveReason }) => void;
  /** The waiting list changed (only to those who may admit). */
  'room:lobby': (entries: LobbyEntry[]) => void;
  'room:newConsumer': (consumer: ConsumerInfo) => void;
  'room:consumerClosed': (notice: { consumerId: string }) => void;
  /** The sender paused or resumed the source behind a consumer (e.g. muted). */
  'room:producerPaused': (notice: { consumerId: string; peerId: string; source: MediaSource }) => void;
  'room:producerResumed': (notice: { consumerId: string; peerId: string; source: MediaSource }) => void;
  /** The server paused or resumed a consumer itself, e.g. video when bandwidth collapsed. */
  'room:consumerPaused': (notice: { consumerId: string; reason: ConsumerPauseReason }) => void;
  'room:consumerResumed': (notice: { consumerId: string; reason: ConsumerPauseReason }) => void;
  'room:consumerLayers': (notice: { consumerId: string; spatialLayer: number | null; temporalLayer: number | null }) => void;
  'room:activeSpeaker': (notice: { peerId: string | null }) => void;
  'room:networkQuality': (notice: { peerId: string; quality: NetworkQuality }) => void;
  /** Another participant started or stopped a source. */
  'room:peerMedia': (notice: { peerId: string; producers: PeerInfo['producers'] }) => void;
  'room:recording': (state: RecordingState) => void;
  'room:consent': (state: ConsentState) => void;
  /**
   * The room's media server failed and the room was rebuilt on another one:
   * transports, producers and consumers are gone; create them again.
   */
  'room:mediaReset': (notice: { routerRtpCapabilities: RtpCapabilities }) => void;
  /** The room closed for everyone. */
  'room:closed': (notice: { reason: RoomCloseReason }) => void;
  'chat:message': (message: ChatMessage) => void;
}

/** Between the nodes of a cluster (server-side events over the Redis adapter). */
export interface InterServerEvents {
  'cluster:notice': (notice: ClusterNotice) => void;
}
