/**
 * Playback requests, their signed decisions, and what approval needs to
 * know about recordings (migration 0005).
 */
import type { Queryable } from '../db/Database.ts';
import type { RequestKind, RequestStatus } from '../../protocol/playback.ts';
import type { TierSnapshot } from '../../domain/approvals/PlaybackRequest.ts';

export interface StoredRequest {
  requestId: string;
  recordingId: string;
  kind: RequestKind;
  requesterId: string;
  requesterRole: string;
  requesterName: string | null;
  purpose: string;
  caseReference: string;
  department: string | null;
  categories: string[];
  tiers: TierSnapshot[];
  policyHash: string;
  grantHours: number;
  maxPlays: number;
  status: RequestStatus;
  createdAt: Date;
  expiresAt: Date;
  decidedAt: Date | null;
  grantExpiresAt: Date | null;
  playsUsed: number;
  endedBy: string | null;
  endReason: string | null;
  reviewTier: TierSnapshot | null;
  reviewDueAt: Date | null;
  reviewedBy: string | null;
  reviewedAt: Date | null;
  reviewOutcome: 'justified' | 'unjustified' | null;
  reviewComment: string | null;
  /** When the expiry sweep flagged a break-glass review as overdue (once). */
  reviewOverdueAt: Date | null;
}

export interface StoredDecision {
  requestId: string;
  tierIndex: number;
  tierId: string;
  decision: 'approve' | 'deny';
  approverId: string;
  approverName: string | null;
  approverPosition: string;
  approverDepartment: string | null;
  comment: string;
  decidedAt: Date;
  signatureKeyId: string;
  signature: string;
}

export interface RecordingFacts {
  recordingId: string;
  roomId: string;
  status: string;
  startedAt: Date;
  endedAt: Date | null;
  department: string | null;
  categories: string[];
  legalHold: boolean;
  retainUntil: Date;
  /** Everyone who took part: admitted to the visit, sent media, started the recording, consented or recorded consent. */
  participants: Set<string>;
  participantRoles: string[];
}

type Row = Record<string, unknown>;
const date = (v: unknown): Date => new Date(v as string | Date);
const maybeDate = (v: unknown): Date | null => (v ? date(v) : null);
const json = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));

function requestFrom(r: Row): StoredRequest {
  return {
    requestId: r['request_id'] as string,
    recordingId: r['recording_id'] as string,
    kind: r['kind'] as RequestKind,
    requesterId: r['requester_id'] as string,
    requesterRole: r['requester_role'] as string,
    requesterName: (r['requester_name'] as string | null) ?? null,
    purpose: r['purpose'] as string,
    caseReference: r['case_reference'] as string,
    department: (r['department'] as string | null) ?? null,
    categories: json<string[]>(r['categories']),
    tiers: json<TierSnapshot[]>(r['tiers']),
    policyHash: r['policy_hash'] as string,
    grantHours: Number(r['grant_hours']),
    maxPlays: Number(r['max_plays']),
    status: r['status'] as RequestStatus,
    createdAt: date(r['created_at']),
    expiresAt: date(r['expires_at']),
    decidedAt: maybeDate(r['decided_at']),
    grantExpiresAt: maybeDate(r['grant_expires_at']),
    playsUsed: Number(r['plays_used']),
    endedBy: (r['ended_by'] as string | null) ?? null,
    endReason: (r['end_reason'] as string | null) ?? null,
    reviewTier: r['review_tier'] ? json<TierSnapshot>(r['review_tier']) : null,
    reviewDueAt: maybeDate(r['review_due_at']),
    reviewedBy: (r['reviewed_by'] as string | null) ?? null,
    reviewedAt: maybeDate(r['reviewed_at']),
    reviewOutcome: (r['review_outcome'] as 'justified' | 'unjustified' | null) ?? null,
    reviewComment: (r['review_comment'] as string | null) ?? null,
    reviewOverdueAt: maybeDate(r['review_overdue_at']),
  };
}

function decisionFrom(r: Row): StoredDecision {
  return {
    requestId: r['request_id'] as string,
    tierIndex: Number(r['tier_index']),
    tierId: r['tier_id'] as string,
    decision: r['decision'] as 'approve' | 'deny',
    approverId: r['approver_id'] as string,
    approverName: (r['approver_name'] as string | null) ?? null,
    approverPosition: r['approver_position'] as string,
    approverDepartment: (r['approver_department'] as string | null) ?? null,
    comment: r['comment'] as string,
    decidedAt: date(r['decided_at']),
    signatureKeyId: r['signature_key_id'] as string,
    signature: r['signature'] as string,
  };
}

/** Columns that change after a request is made. */
export type RequestPatch = Partial<
  Pick<StoredRequest, 'status' | 'decidedAt' | 'grantExpiresAt' | 'playsUsed' | 'endedBy' | 'endReason' | 'reviewedBy' | 'reviewedAt' | 'reviewOutcome' | 'reviewComment' | 'reviewOverdueAt'>
>;

const PATCH_COLUMNS: Record<keyof RequestPatch, string> = {
  status: 'status',
  decidedAt: 'decided_at',
  grantExpiresAt: 'grant_expires_at',
  playsUsed: 'plays_used',
  endedBy: 'ended_by',
  endReason: 'end_reason',
  reviewedBy: 'reviewed_by',
  reviewedAt: 'reviewed_at',
  reviewOutcome: 'review_outcome',
  reviewComment: 'review_comment',
  reviewOverdueAt: 'review_overdue_at',
};

export class PlaybackRepository {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** Recordings that can be asked for (finalised, not destroyed), newest first. */
  async catalog(limit = 200): Promise<RecordingFacts[]> {
    const r = await this.#db.query<Row>(
      `SELECT recording_id FROM recordings WHERE status IN ('complete', 'interrupted') ORDER BY started_at DESC LIMIT $1`,
      [limit],
    );
    const out: RecordingFacts[] = [];
    for (const row of r.rows) {
      const facts = await this.recordingFacts(row['recording_id'] as string);
      if (facts) out.push(facts);
    }
    return out;
  }

  async recordingFacts(recordingId: string, db: Queryable = this.#db): Promise<RecordingFacts | null> {
    const r = await db.query<Row>('SELECT * FROM recordings WHERE recording_id = $1', [recordingId]);
    const rec = r.rows[0];
    if (!rec) return null;
    // Where a person's role is known (admitted to the visit, sent media)
    // it comes from there; whoever recorded consent is a participant too.
    const people = await db.query<{ user_id: string; role: string | null; rank: number }>(
      `SELECT user_id, role, 1 AS rank FROM room_attendance WHERE room_id = $1
       UNION SELECT user_id, role, 2 FROM recording_tracks WHERE recording_id = $2
       UNION SELECT started_by, 'host', 3 FROM recordings WHERE recording_id = $2
       UNION SELECT c.patient_user_id, 'patient', 4 FROM recording_consents c JOIN recordings r ON r.consent_id = c.consent_id WHERE r.recording_id = $2
       UNION SELECT c.recorded_by, NULL, 5 FROM recording_consents c JOIN recordings r ON r.consent_id = c.consent_id WHERE r.recording_id = $2
       ORDER BY rank`,
      [rec['room_id'], recordingId],
    );
    const byUser = new Map<string, string | null>();
    for (const p of people.rows) if (!byUser.has(p.user_id) || byUser.get(p.user_id) === null) byUser.set(p.user_id, p.role);
    return {
      recordingId,
      roomId: rec['room_id'] as string,
      status: rec['status'] as string,
      startedAt: date(rec['started_at']),
      endedAt: maybeDate(rec['ended_at']),
      department: (rec['department'] as string | null) ?? null,
      categories: json<string[]>(rec['categories']),
      legalHold: Boolean(rec['legal_hold']),
      retainUntil: date(rec['retain_until']),
      participants: new Set(byUser.keys()),
      participantRoles: [...byUser.values()].filter((r): r is string => r !== null).sort(),
    };
  }

  async insert(tx: Queryable, req: StoredRequest): Promise<void> {
    await tx.query(
      `INSERT INTO playback_requests (request_id, recording_id, kind, requester_id, requester_role, requester_name, purpose, case_reference,
         department, categories, tiers, policy_hash, grant_hours, max_plays, status, created_at, expires_at, decided_at, grant_expires_at,
         review_tier, review_due_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
      [
        req.requestId, req.recordingId, req.kind, req.requesterId, req.requesterRole, req.requesterName, req.purpose, req.caseReference,
        req.department, JSON.stringify(req.categories), JSON.stringify(req.tiers), req.policyHash, req.grantHours, req.maxPlays, req.status,
        req.createdAt, req.expiresAt, req.decidedAt, req.grantExpiresAt,
        req.reviewTier ? JSON.stringify(req.reviewTier) : null, req.reviewDueAt,
      ],
    );
  }

  /** One request; `forUpdate` locks its row until the transaction ends. */
  async get(requestId: string, db: Queryable = this.#db, forUpdate = false): Promise<StoredRequest | null> {
    const r = await db.query<Row>(`SELECT * FROM playback_requests WHERE request_id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [requestId]);
    return r.rows[0] ? requestFrom(r.rows[0]) : null;
  }

  async update(tx: Queryable, requestId: string, patch: RequestPatch): Promise<void> {
    const keys = Object.keys(patch) as Array<keyof RequestPatch>;
    if (keys.length === 0) return;
    const sets = keys.map((k, i) => `${PATCH_COLUMNS[k]} = $${i + 2}`);
    await tx.query(`UPDATE playback_requests SET ${sets.join(', ')} WHERE request_id = $1`, [requestId, ...keys.map((k) => patch[k])]);
  }

  async decisions(requestId: string, db: Queryable = this.#db): Promise<StoredDecision[]> {
    const r = await db.query<Row>('SELECT * FROM approval_decisions WHERE request_id = $1 ORDER BY tier_index', [requestId]);
    return r.rows.map(decisionFrom);
  }

  async insertDecision(tx: Queryable, d: StoredDecision): Promise<void> {
    await tx.query(
      `INSERT INTO approval_decisions (request_id, tier_index, tier_id, decision, approver_id, approver_name, approver_position,
         approver_department, comment, decided_at, signature_key_id, signature)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [d.requestId, d.tierIndex, d.tierId, d.decision, d.approverId, d.approverName, d.approverPosition, d.approverDepartment, d.comment, d.decidedAt, d.signatureKeyId, d.signature],
    );
  }

  async byRequester(userId: string, limit = 200): Promise<StoredRequest[]> {
    const r = await this.#db.query<Row>('SELECT * FROM playback_requests WHERE requester_id = $1 ORDER BY created_at DESC LIMIT $2', [userId, limit]);
    return r.rows.map(requestFrom);
  }

  /** Pending requests, granted ones and break-glass accesses awaiting review (for approvers). */
  async open(limit = 500): Promise<StoredRequest[]> {
    const r = await this.#db.query<Row>(
      `SELECT * FROM playback_requests
       WHERE status IN ('pending', 'granted') OR (kind = 'break_glass' AND reviewed_at IS NULL)
       ORDER BY created_at DESC LIMIT $1`,
      [limit],
    );
    return r.rows.map(requestFrom);
  }

  /** Requests whose time has run out but are not marked so yet. */
  async due(now: Date): Promise<string[]> {
    const r = await this.#db.query<{ request_id: string }>(
      `SELECT request_id FROM playback_requests
       WHERE (status = 'pending' AND expires_at <= $1) OR (status = 'granted' AND grant_expires_at <= $1)`,
      [now],
    );
    return r.rows.map((x) => x.request_id);
  }

  /** Break-glass accesses past their review date, not reviewed, not yet flagged as overdue. */
  async reviewsOverdue(now: Date): Promise<string[]> {
    const r = await this.#db.query<{ request_id: string }>(
      `SELECT request_id FROM playback_requests
       WHERE kind = 'break_glass' AND reviewed_at IS NULL AND review_overdue_at IS NULL AND review_due_at <= $1`,
      [now],
    );
    return r.rows.map((x) => x.request_id);
  }

  /** This person's break-glass access to this recording whose window is still open, if any. */
  async openBreakGlass(recordingId: string, requesterId: string, now: Date, db: Queryable = this.#db): Promise<StoredRequest | null> {
    const r = await db.query<Row>(
      `SELECT * FROM playback_requests WHERE recording_id = $1 AND requester_id = $2 AND kind = 'break_glass'
         AND status = 'granted' AND grant_expires_at > $3
       LIMIT 1`,
      [recordingId, requesterId, now],
    );
    return r.rows[0] ? requestFrom(r.rows[0]) : null;
  }

  /** Pending requests and grants of a recording (made under its classification at the time). */
  async openOf(recordingId: string, db: Queryable = this.#db): Promise<string[]> {
    const r = await db.query<{ request_id: string }>(
      `SELECT request_id FROM playback_requests WHERE recording_id = $1 AND status IN ('pending', 'granted') ORDER BY created_at`,
      [recordingId],
    );
    return r.rows.map((x) => x.request_id);
  }

  /**
   * Locks a recording's row until the transaction ends (break-glass and
   * classification serialise on it); false when there is no such recording.
   */
  async lockRecording(tx: Queryable, recordingId: string): Promise<boolean> {
    const r = await tx.query('SELECT 1 FROM recordings WHERE recording_id = $1 FOR UPDATE', [recordingId]);
    return r.rows.length > 0;
  }

  /** Sets the recording's categories and department (medical records' classification). */
  async classify(tx: Queryable, recordingId: string, change: { categories: string[]; department: string | null }): Promise<void> {
    await tx.query('UPDATE recordings SET categories = $2, department = $3 WHERE recording_id = $1', [recordingId, JSON.stringify(change.categories), change.department]);
  }

  /** The open request of this person for this recording, if any. */
  async openFor(recordingId: string, requesterId: string, now: Date): Promise<StoredRequest | null> {
    const r = await this.#db.query<Row>(
      `SELECT * FROM playback_requests WHERE recording_id = $1 AND requester_id = $2
         AND ((status = 'pending' AND expires_at > $3) OR (status = 'granted' AND grant_expires_at > $3))
       LIMIT 1`,
      [recordingId, requesterId, now],
    );
    return r.rows[0] ? requestFrom(r.rows[0]) : null;
  }
}
