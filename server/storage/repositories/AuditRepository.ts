/**
 * The audit trail in the database (migration 0005): appends under an
 * advisory lock, so that entries from several processes still form one
 * chain; reads in position order, in pages.
 */
import type { Queryable } from '../db/Database.ts';
import { AUDIT_GENESIS, auditHash, type AuditEntry, type AuditInput } from '../../domain/audit/auditEntry.ts';

/** pg_advisory_xact_lock key for appending ("HZA1"). */
const AUDIT_LOCK_KEY = 0x48_5a_41_31;

interface Row {
  seq: string | number;
  at: Date | string;
  actor: string;
  actor_role: string | null;
  action: string;
  subject: string | null;
  flagged: boolean;
  details: AuditEntry['details'] | string;
  prev_hash: string;
  hash: string;
}

function entryFrom(r: Row): AuditEntry {
  return {
    seq: Number(r.seq),
    at: new Date(r.at).toISOString(),
    actor: r.actor,
    actorRole: r.actor_role,
    action: r.action,
    subject: r.subject,
    flagged: r.flagged,
    details: typeof r.details === 'string' ? (JSON.parse(r.details) as AuditEntry['details']) : r.details,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export class AuditRepository {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** Appends within `tx` (which must be a transaction: the lock is held until it ends). */
  static async appendIn(tx: Queryable, input: AuditInput, at: Date): Promise<AuditEntry> {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK_KEY]);
    const last = await tx.query<{ seq: string | number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    const head = last.rows[0];
    const body = {
      at: at.toISOString(),
      actor: input.actor,
      actorRole: input.actorRole ?? null,
      action: input.action,
      subject: input.subject ?? null,
      flagged: input.flagged ?? false,
      details: input.details ?? {},
      prevHash: head ? head.hash : AUDIT_GENESIS,
    };
    const entry: AuditEntry = { ...body, seq: head ? Number(head.seq) + 1 : 1, hash: auditHash(body) };
    await tx.query(
      `INSERT INTO audit_log (seq, at, actor, actor_role, action, subject, flagged, details, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [entry.seq, entry.at, entry.actor, entry.actorRole, entry.action, entry.subject, entry.flagged, JSON.stringify(entry.details), entry.prevHash, entry.hash],
    );
    return entry;
  }

  async head(): Promise<{ seq: number; hash: string } | null> {
    const r = await this.#db.query<{ seq: string | number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    const row = r.rows[0];
    return row ? { seq: Number(row.seq), hash: row.hash } : null;
  }

  /** Every entry in position order, a page at a time. */
  async *all(pageSize = 1000): AsyncGenerator<AuditEntry> {
    let after = 0;
    for (;;) {
      const r = await this.#db.query<Row>('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2', [after, pageSize]);
      for (const row of r.rows) yield entryFrom(row);
      if (r.rows.length < pageSize) return;
      after = Number(r.rows[r.rows.length - 1]!.seq);
    }
  }

  /** The newest entry of one action, if any. */
  /** The latest entry of an action, optionally only among those whose details contain `details`. */
  async lastOf(action: string, details?: Record<string, string>): Promise<AuditEntry | null> {
    const r = await this.#db.query<Row>(
      'SELECT * FROM audit_log WHERE action = $1 AND ($2::jsonb IS NULL OR details @> $2::jsonb) ORDER BY seq DESC LIMIT 1',
      [action, details ? JSON.stringify(details) : null],
    );
    return r.rows[0] ? entryFrom(r.rows[0]) : null;
  }

  /** Entries about one subject (e.g. a recording), oldest first. */
  async forSubject(subject: string, limit = 500): Promise<AuditEntry[]> {
    const r = await this.#db.query<Row>('SELECT * FROM audit_log WHERE subject = $1 ORDER BY seq LIMIT $2', [subject, limit]);
    return r.rows.map(entryFrom);
  }

  /** The newest entries, newest first, optionally flagged only. */
  async recent(limit: number, options: { flaggedOnly?: boolean } = {}): Promise<AuditEntry[]> {
    const r = await this.#db.query<Row>(`SELECT * FROM audit_log ${options.flaggedOnly ? 'WHERE flagged' : ''} ORDER BY seq DESC LIMIT $1`, [limit]);
    return r.rows.map(entryFrom);
  }
}
