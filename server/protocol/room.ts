/**
 * Consultation-room types shared by the server and the browser client.
 */
import type { MediaKind, RtpCapabilities, RtpParameters } from 'mediasoup/types';
import type { LiveRole } from './roles.ts';

/** What a producer carries. A participant has at most one of each. */
export const MEDIA_SOURCES = ['mic', 'camera', 'screen'] as const;
export type MediaSource = (typeof MEDIA_SOURCES)[number];

/** Kind a source must have. */
export const SOURCE_KIND: Record<MediaSource, MediaKind> = { mic: 'audio', camera: 'video', screen: 'video' };

/**
 * Network quality of one participant, 0 (unusable) to 5 (excellent), from
 * the RTP scores of what they send and receive.
 */
export type NetworkQuality = 0 | 1 | 2 | 3 | 4 | 5;

export interface PeerInfo {
  peerId: string;
  userId: string;
  role: LiveRole;
  displayName: string | null;
  /** Sources this participant is currently sending, and whether each is paused. */
  producers: Array<{ producerId: string; source: MediaSource; paused: boolean }>;
  networkQuality: NetworkQuality | null;
}

export interface LobbyEntry {
  peerId: string;
  userId: string;
  role: LiveRole;
  displayName: string | null;
  /** Milliseconds since the epoch. */
  waitingSince: number;
}

export interface ChatMessage {
  /** Position in the room's chat, from 1; messages are delivered in this order. */
  seq: number;
  peerId: string;
  userId: string;
  role: LiveRole;
  displayName: string | null;
  text: string;
  /** ISO 8601. */
  sentAt: string;
}

export type RecordingState = { state: 'off' } | { state: 'recording'; since: string };

/** Whether the patient's consent to record this visit is on record. */
export type ConsentState =
  | { state: 'none' }
  | {
      state: 'given';
      patientUserId: string;
      method: 'in_app' | 'verbal_witnessed' | 'written';
      textVersion: string;
      consentedAt: string;
    };

/** The consent text the patient agrees to (from the hospital's recording policy). */
export interface ConsentText {
  version: string;
  'zh-CN': string;
  en: string;
}

/**
 * Why a room closed for everyone (closed set, shown translated).
 * `room_moved`: the room continues on another node (scale-out); the browser
 * rejoins it there by itself and shows no ending.
 */
export type RoomCloseReason = 'visit_ended' | 'server_shutdown' | 'room_moved';

/**
 * Why one participant is no longer in the room (closed set). `suspended`:
 * their institution suspended them (real-name rule; takes effect at once).
 */
export type PeerLeaveReason = 'left' | 'removed' | 'connection_lost' | 'token_expired' | 'replaced' | 'suspended';

/** What a participant may do, derived from the role in their token. */
export interface Capabilities {
  produce: MediaSource[];
  admit: boolean;
  remove: boolean;
  endVisit: boolean;
  chat: boolean;
}

export interface AdmittedState {
  status: 'admitted';
  self: PeerInfo;
  capabilities: Capabilities;
  /** Present to reconnect within the grace period (`room:join` with `resume`). */
  resumeToken: string;
  peers: PeerInfo[];
  routerRtpCapabilities: RtpCapabilities;
  iceServers: Array<{ urls: string[]; username?: string; credential?: string }>;
  recording: RecordingState;
  consent: ConsentState;
  consentText: ConsentText;
  chat: ChatMessage[];
  /** Only for those who may admit. */
  lobby: LobbyEntry[];
  /** True when this join resumed an existing participant after a reconnect. */
  resumed: boolean;
}

export interface WaitingState {
  status: 'waiting';
  peerId: string;
  /** Whether someone who can admit is in the room right now. */
  hostPresent: boolean;
}

/**
 * The room lives on another node of the cluster: connect to `node.url`
 * (signaling at `<url>/socket.io`, with the same token) and join there.
 */
export interface RedirectState {
  status: 'redirect';
  node: { nodeId: string; url: string };
}

/** Where a join leaves a participant in the room it reached. */
export type RoomJoinResult = AdmittedState | WaitingState;

export type JoinResult = RoomJoinResult | RedirectState;

/** A consumer the server created for this participant. */
export interface ConsumerInfo {
  consumerId: string;
  producerId: string;
  peerId: string;
  source: MediaSource;
  kind: MediaKind;
  rtpParameters: RtpParameters;
  /** The sender has paused this source (e.g. muted). */
  producerPaused: boolean;
}

/** Why the server paused or resumed a consumer on its own. */
export type ConsumerPauseReason = 'bandwidth';
