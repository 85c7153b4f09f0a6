/**
 * The REST contract of recordings review, playback approval and playback,
 * shared with the browser client (types only).
 */
export type RequestStatus = 'pending' | 'granted' | 'denied' | 'expired' | 'revoked';
export type RequestKind = 'approval' | 'break_glass';
export type Label = { 'zh-CN': string; en: string };

/** What anyone allowed to request playback may see of a recording without approval. */
export interface RecordingSummary {
  recordingId: string;
  roomId: string;
  status: 'recording' | 'finalizing' | 'complete' | 'interrupted' | 'destroyed';
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number | null;
  department: string | null;
  categories: string[];
  /** Roles of the participants (no names, no ids). */
  participantRoles: string[];
  legalHold: boolean;
  retainUntil: string;
}

export interface DecisionView {
  decision: 'approve' | 'deny';
  approverId: string;
  approverName: string | null;
  comment: string;
  decidedAt: string;
  /** The server key that signed the decision. */
  signatureKeyId: string;
}

export interface TierView {
  id: string;
  label: Label;
  position: string;
  sameDepartment: boolean;
  decision: DecisionView | null;
}

export interface PlaybackRequestView {
  requestId: string;
  recordingId: string;
  kind: RequestKind;
  /** As it stands now (a request or grant past its time shows as expired). */
  status: RequestStatus;
  requester: { userId: string; role: string; name: string | null };
  purpose: string;
  caseReference: string;
  department: string | null;
  categories: string[];
  createdAt: string;
  /** A pending request expires at this time. */
  expiresAt: string;
  decidedAt: string | null;
  tiers: TierView[];
  /** The tier whose decision is awaited (pending requests). */
  nextTierId: string | null;
  grant: { expiresAt: string; playsUsed: number; maxPlays: number } | null;
  ended: { by: string | null; reason: string | null } | null;
  breakGlass: {
    reviewTier: { id: string; label: Label };
    reviewDueAt: string;
    review: { by: string; at: string; outcome: 'justified' | 'unjustified'; comment: string } | null;
  } | null;
  recording: RecordingSummary | null;
  /** What the caller can do with it now. */
  actions: {
    /** The tier the caller may decide now, or null. */
    decideTier: string | null;
    /** When the caller holds the awaited tier but separation of duties bars them: why (English), and as a code. */
    blockedReason: string | null;
    blocked: 'requester' | 'participant' | 'other_tier' | null;
    revoke: boolean;
    review: boolean;
    play: boolean;
  };
}

/**
 * A play session, as `POST /api/playback-requests/:id/plays` answers it. The
 * same response sets an HttpOnly cookie scoped to the session's path: the
 * URLs below work only together with it, i.e. from the page that started
 * the session.
 */
export interface PlayStart {
  sessionId: string;
  /** Same-origin URL for the <video> element; carries a one-session capability. Byte ranges only (206, at most 2 MiB each). */
  mediaUrl: string;
  /** Server-sent events: `revoked`, `expired`, `ended` (closed, idle, or its lifetime is over). */
  eventsUrl: string;
  /** DELETE here when the viewer closes the player. */
  endUrl: string;
  contentType: string;
  bytes: number;
  /** The session ends at this time at the latest (a multiple of the recording's length, never after the grant). */
  sessionEndsAt: string;
  watermark: { name: string; userId: string; requestId: string };
  grant: { expiresAt: string; playsUsed: number; maxPlays: number };
}

export interface CreatePlaybackRequest {
  recordingId: string;
  purpose: string;
  caseReference: string;
}

export interface DecideRequest {
  tier: string;
  decision: 'approve' | 'deny';
  comment: string;
}
