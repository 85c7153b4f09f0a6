/**
 * Consents, recordings, their wrapped keys, tracks and sealed segments
 * (migration 0003). Appending a segment takes the recording row's lock, so
 * the hash chain stays a chain even if two writers ever raced.
 */
import type { Database, Queryable } from '../db/Database.ts';

export interface TrackRow {
  trackId: string;
  role: string;
  userId: string;
  source: 'mic' | 'camera' | 'screen';
  kind: 'audio' | 'video';
  codec: string;
  container: 'webm' | 'matroska';
  startOffsetMs: number;
  endOffsetMs: number | null;
}

export interface SegmentRow {
  seq: number;
  trackId: string;
  index: number;
  objectKey: string;
  bytes: number;
  sha256: string;
  chain: string;
}

/** How a segment extends the hash chain (the recording domain decides). */
export type ChainLink = (previous: string, segment: Pick<SegmentRow, 'seq' | 'trackId' | 'index' | 'sha256'>) => string;

export type ConsentMethod = 'in_app' | 'verbal_witnessed' | 'written';
export type RecordingStatus = 'recording' | 'finalizing' | 'complete' | 'interrupted' | 'destroyed';

export interface StoredConsent {
  consentId: string;
  roomId: string;
  patientUserId: string;
  method: ConsentMethod;
  recordedBy: string;
  textVersion: string;
  consentedAt: Date;
  withdrawnAt: Date | null;
}

export interface StoredRecording {
  recordingId: string;
  roomId: string;
  consentId: string;
  status: RecordingStatus;
  stopReason: string | null;
  startedBy: string;
  startedAt: Date;
  endedAt: Date | null;
  segmentSeconds: number;
  retentionYears: number;
  retainUntil: Date;
  legalHold: boolean;
  chainHead: string;
  manifestKey: string | null;
  /** The host's department when recording started (playback approval). */
  department: string | null;
  /** Sensitive categories (e.g. minor, psychiatry): they add approval tiers. */
  categories: string[];
}

export interface StoredSegment extends SegmentRow {
  durationMs: number;
  state: 'spooled' | 'uploaded';
  sealedAt: Date;
}

type Row = Record<string, unknown>;
const date = (v: unknown) => new Date(v as string | Date);
/** A jsonb array column (PGlite and node-postgres both parse jsonb; be lenient with text). */
const jsonArray = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? (JSON.parse(v) as string[]) : []);

function consentFrom(r: Row): StoredConsent {
  return {
    consentId: r['consent_id'] as string,
    roomId: r['room_id'] as string,
    patientUserId: r['patient_user_id'] as string,
    method: r['method'] as ConsentMethod,
    recordedBy: r['recorded_by'] as string,
    textVersion: r['text_version'] as string,
    consentedAt: date(r['consented_at']),
    withdrawnAt: r['withdrawn_at'] ? date(r['withdrawn_at']) : null,
  };
}

function recordingFrom(r: Row): StoredRecording {
  return {
    recordingId: r['recording_id'] as string,
    roomId: r['room_id'] as string,
    consentId: r['consent_id'] as string,
    status: r['status'] as RecordingStatus,
    stopReason: (r['stop_reason'] as string | null) ?? null,
    startedBy: r['started_by'] as string,
    startedAt: date(r['started_at']),
    endedAt: r['ended_at'] ? date(r['ended_at']) : null,
    segmentSeconds: Number(r['segment_seconds']),
    retentionYears: Number(r['retention_years']),
    retainUntil: date(r['retain_until']),
    legalHold: Boolean(r['legal_hold']),
    chainHead: r['chain_head'] as string,
    manifestKey: (r['manifest_key'] as string | null) ?? null,
    department: (r['department'] as string | null) ?? null,
    categories: jsonArray(r['categories']),
  };
}

/**
 * Scale-out: the recording is run by another node now (it took it over
 * after this node lost its room's lease). Nothing more may be added here.
 */
export class RecordingMovedError extends Error {
  constructor(recordingId: string) {
    super(`recording ${recordingId} is run by another node now`);
    this.name = 'RecordingMovedError';
  }
}

export function segmentFrom(r: Record<string, unknown>): StoredSegment {
  return {
    seq: Number(r['seq']),
    trackId: r['track_id'] as string,
    index: Number(r['idx']),
    objectKey: r['object_key'] as string,
    bytes: Number(r['bytes']),
    sha256: r['sha256'] as string,
    chain: r['chain'] as string,
    durationMs: Number(r['duration_ms']),
    state: r['state'] as 'spooled' | 'uploaded',
    sealedAt: date(r['sealed_at']),
  };
}

export class RecordingRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  // --- consent ---------------------------------------------------------------

  async recordConsent(c: Omit<StoredConsent, 'consentedAt' | 'withdrawnAt'>): Promise<StoredConsent> {
    const r = await this.#db.query(
      `INSERT INTO recording_consents (consent_id, room_id, patient_user_id, method, recorded_by, text_version)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [c.consentId, c.roomId, c.patientUserId, c.method, c.recordedBy, c.textVersion],
    );
    return consentFrom(r.rows[0] as Row);
  }

  async activeConsent(roomId: string): Promise<StoredConsent | null> {
    const r = await this.#db.query(
      `SELECT * FROM recording_consents WHERE room_id = $1 AND withdrawn_at IS NULL ORDER BY consented_at DESC LIMIT 1`,
      [roomId],
    );
    return r.rows[0] ? consentFrom(r.rows[0] as Row) : null;
  }

  async consent(consentId: string): Promise<StoredConsent | null> {
    const r = await this.#db.query('SELECT * FROM recording_consents WHERE consent_id = $1', [consentId]);
    return r.rows[0] ? consentFrom(r.rows[0] as Row) : null;
  }

  /** Withdraws every active consent of the room; returns how many. */
  async withdrawConsent(roomId: string, by: string): Promise<number> {
    const r = await this.#db.query(
      `UPDATE recording_consents SET withdrawn_at = now(), withdrawn_by = $2 WHERE room_id = $1 AND withdrawn_at IS NULL`,
      [roomId, by],
    );
    return r.rowCount;
  }

  // --- recordings ------------------------------------------------------------

  async create(
    rec: Pick<StoredRecording, 'recordingId' | 'roomId' | 'consentId' | 'startedBy' | 'segmentSeconds' | 'retentionYears' | 'retainUntil' | 'chainHead' | 'department' | 'categories'>,
    key: { keyId: string; algorithm: string; wrapped: Buffer },
  ): Promise<StoredRecording> {
    return this.#db.transaction(async (tx) => {
      const r = await tx.query(
        `INSERT INTO recordings (recording_id, room_id, consent_id, status, started_by, segment_seconds, retention_years, retain_until, chain_head, department, categories)
         VALUES ($1, $2, $3, 'recording', $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
        [rec.recordingId, rec.roomId, rec.consentId, rec.startedBy, rec.segmentSeconds, rec.retentionYears, rec.retainUntil, rec.chainHead, rec.department, JSON.stringify(rec.categories)],
      );
      await tx.query('INSERT INTO recording_keys (recording_id, key_id, algorithm, wrapped_key) VALUES ($1, $2, $3, $4)', [
        rec.recordingId,
        key.keyId,
        key.algorithm,
        key.wrapped,
      ]);
      return recordingFrom(r.rows[0] as Row);
    });
  }

  async get(recordingId: string): Promise<StoredRecording | null> {
    const r = await this.#db.query('SELECT * FROM recordings WHERE recording_id = $1', [recordingId]);
    return r.rows[0] ? recordingFrom(r.rows[0] as Row) : null;
  }

  async byStatus(statuses: RecordingStatus[]): Promise<StoredRecording[]> {
    const r = await this.#db.query('SELECT * FROM recordings WHERE status = ANY($1) ORDER BY started_at', [statuses]);
    return r.rows.map((row) => recordingFrom(row as Row));
  }

  async wrappedKey(recordingId: string): Promise<{ keyId: string; algorithm: string; wrapped: Buffer } | null> {
    const r = await this.#db.query<{ key_id: string; algorithm: string; wrapped_key: Uint8Array }>(
      'SELECT key_id, algorithm, wrapped_key FROM recording_keys WHERE recording_id = $1',
      [recordingId],
    );
    const row = r.rows[0];
    return row ? { keyId: row.key_id, algorithm: row.algorithm, wrapped: Buffer.from(row.wrapped_key) } : null;
  }

  /**
   * Moves a recording on; the end time is set once (now, or `endedAt` when
   * the true end is known, e.g. the last sealed segment of a crashed run).
   */
  async setStatus(recordingId: string, status: RecordingStatus, stopReason?: string, endedAt?: Date): Promise<void> {
    await this.#db.query(
      `UPDATE recordings SET status = $2, stop_reason = COALESCE($3, stop_reason),
         ended_at = CASE WHEN $2 IN ('finalizing', 'interrupted', 'complete') THEN COALESCE(ended_at, $4, now()) ELSE ended_at END
       WHERE recording_id = $1`,
      [recordingId, status, stopReason ?? null, endedAt ?? null],
    );
  }

  async finalize(recordingId: string, status: 'complete' | 'interrupted', manifestKey: string, retainUntil: Date): Promise<void> {
    await this.#db.query(
      `UPDATE recordings SET status = $2, manifest_key = $3, retain_until = $4, ended_at = COALESCE(ended_at, now())
       WHERE recording_id = $1`,
      [recordingId, status, manifestKey, retainUntil],
    );
  }

  async setLegalHold(recordingId: string, hold: boolean): Promise<void> {
    await this.#db.query('UPDATE recordings SET legal_hold = $2 WHERE recording_id = $1', [recordingId, hold]);
  }

  /** Finished recordings past retention and not under legal hold. */
  async expired(now: Date): Promise<StoredRecording[]> {
    const r = await this.#db.query(
      `SELECT * FROM recordings WHERE status IN ('complete', 'interrupted') AND retain_until < $1 AND NOT legal_hold
       ORDER BY retain_until, recording_id`,
      [now],
    );
    return r.rows.map((row) => recordingFrom(row as Row));
  }

  /**
   * Crypto-shredding, if the recording is still expired and not on legal
   * hold at this moment (a hold placed while a sweep runs wins): the wrapped
   * key goes; the row stays as the record that it existed. Returns whether
   * it was destroyed.
   */
  async destroyIfExpired(recordingId: string, now: Date): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      const r = await tx.query(
        `UPDATE recordings SET status = 'destroyed', destroyed_at = now()
         WHERE recording_id = $1 AND status IN ('complete', 'interrupted') AND retain_until < $2 AND NOT legal_hold
         RETURNING recording_id`,
        [recordingId, now],
      );
      if (r.rowCount === 0) return false;
      await tx.query('DELETE FROM recording_keys WHERE recording_id = $1', [recordingId]);
      return true;
    });
  }

  // --- tracks ----------------------------------------------------------------

  /**
   * `series`: which series of the recording the track belongs to (1 unless
   * the recording moved between nodes). `owner`: in a cluster, the node
   * that must still run the recording (RecordingMovedError otherwise).
   */
  async addTrack(recordingId: string, t: TrackRow, series = 1, owner?: string): Promise<void> {
    const r = await this.#db.query(
      `INSERT INTO recording_tracks (recording_id, track_id, user_id, role, source, kind, codec, container, start_offset_ms, series)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
        WHERE $11::text IS NULL OR EXISTS (SELECT 1 FROM recordings WHERE recording_id = $1 AND node_id = $11)`,
      [recordingId, t.trackId, t.userId, t.role, t.source, t.kind, t.codec, t.container, t.startOffsetMs, series, owner ?? null],
    );
    if (r.rowCount === 0) throw new RecordingMovedError(recordingId);
  }

  async setTrackStart(recordingId: string, trackId: string, startOffsetMs: number): Promise<void> {
    await this.#db.query('UPDATE recording_tracks SET start_offset_ms = $3 WHERE recording_id = $1 AND track_id = $2', [
      recordingId,
      trackId,
      startOffsetMs,
    ]);
  }

  async endTrack(recordingId: string, trackId: string, endOffsetMs: number): Promise<void> {
    await this.#db.query(
      'UPDATE recording_tracks SET end_offset_ms = COALESCE(end_offset_ms, $3) WHERE recording_id = $1 AND track_id = $2',
      [recordingId, trackId, endOffsetMs],
    );
  }

  async tracks(recordingId: string): Promise<TrackRow[]> {
    const r = await this.#db.query('SELECT * FROM recording_tracks WHERE recording_id = $1 ORDER BY start_offset_ms, track_id', [recordingId]);
    return r.rows.map((row) => {
      const x = row as Row;
      return {
        trackId: x['track_id'] as string,
        userId: x['user_id'] as string,
        role: x['role'] as string,
        source: x['source'] as TrackRow['source'],
        kind: x['kind'] as TrackRow['kind'],
        codec: x['codec'] as string,
        container: x['container'] as TrackRow['container'],
        startOffsetMs: Number(x['start_offset_ms']),
        endOffsetMs: x['end_offset_ms'] === null ? null : Number(x['end_offset_ms']),
      };
    });
  }

  // --- segments --------------------------------------------------------------

  /** Appends a sealed segment to the chain; returns it with its seq and chain hash. */
  async appendSegment(
    recordingId: string,
    s: Pick<SegmentRow, 'trackId' | 'index' | 'objectKey' | 'bytes' | 'sha256'> & { durationMs: number },
    chainLink: ChainLink,
    owner?: string,
  ): Promise<StoredSegment> {
    return this.#db.transaction(async (tx: Queryable) => {
      const lock = await tx.query<{ next_seq: number; chain_head: string; status: RecordingStatus; node_id: string | null }>(
        'SELECT next_seq, chain_head, status, node_id FROM recordings WHERE recording_id = $1 FOR UPDATE',
        [recordingId],
      );
      const head = lock.rows[0];
      if (!head) throw new Error(`recording ${recordingId} does not exist`);
      // Scale-out: the database is the arbiter of who records; one chain, one writer.
      if (owner !== undefined && head.node_id !== owner) throw new RecordingMovedError(recordingId);
      // Once a recording is finalising its manifest is being built: nothing
      // may join the chain behind it.
      if (head.status !== 'recording') throw new Error(`recording ${recordingId} is ${head.status}; no segment can be added`);
      const seq = Number(head.next_seq);
      const chain = chainLink(head.chain_head, { seq, trackId: s.trackId, index: s.index, sha256: s.sha256 });
      const r = await tx.query(
        `INSERT INTO recording_segments (recording_id, seq, track_id, idx, object_key, bytes, sha256, chain, duration_ms, state)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'spooled') RETURNING *`,
        [recordingId, seq, s.trackId, s.index, s.objectKey, s.bytes, s.sha256, chain, s.durationMs],
      );
      await tx.query('UPDATE recordings SET next_seq = $2, chain_head = $3 WHERE recording_id = $1', [recordingId, seq + 1, chain]);
      return segmentFrom(r.rows[0] as Row);
    });
  }

  /** Declares a segment of a track lost before it could be sealed. */
  async addGap(recordingId: string, trackId: string, index: number, reason: string): Promise<void> {
    await this.#db.query(
      `INSERT INTO recording_gaps (recording_id, track_id, idx, reason) VALUES ($1, $2, $3, $4)
       ON CONFLICT (recording_id, track_id, idx) DO NOTHING`,
      [recordingId, trackId, index, reason],
    );
  }

  async gaps(recordingId: string): Promise<Array<{ trackId: string; index: number; reason: string }>> {
    const r = await this.#db.query('SELECT track_id, idx, reason FROM recording_gaps WHERE recording_id = $1 ORDER BY track_id, idx', [recordingId]);
    return r.rows.map((row) => {
      const x = row as Row;
      return { trackId: x['track_id'] as string, index: Number(x['idx']), reason: x['reason'] as string };
    });
  }

  async markUploaded(recordingId: string, seq: number): Promise<void> {
    await this.#db.query(
      `UPDATE recording_segments SET state = 'uploaded', uploaded_at = now() WHERE recording_id = $1 AND seq = $2`,
      [recordingId, seq],
    );
  }

  async segments(recordingId: string): Promise<StoredSegment[]> {
    const r = await this.#db.query('SELECT * FROM recording_segments WHERE recording_id = $1 ORDER BY seq', [recordingId]);
    return r.rows.map((row) => segmentFrom(row as Row));
  }

  /** Every segment not yet in object storage, oldest first. */
  async pendingSegments(): Promise<Array<StoredSegment & { recordingId: string }>> {
    const r = await this.#db.query(`SELECT * FROM recording_segments WHERE state = 'spooled' ORDER BY sealed_at, seq`);
    return r.rows.map((row) => ({ ...segmentFrom(row as Row), recordingId: (row as Row)['recording_id'] as string }));
  }
}
