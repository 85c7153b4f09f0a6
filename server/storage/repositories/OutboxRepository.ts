/**
 * The supervision outbox (migrations 0006, 0009): events written in the
 * transaction of the change they report, claimed by a dispatcher when due.
 *
 * A claim is a lease: `claimDue` marks due, unclaimed (or lapsed) events as
 * the dispatcher's own until `claimed_until`, skipping rows another
 * dispatcher is claiming at that moment (FOR UPDATE SKIP LOCKED). Only the
 * holder of a pending event's claim can record its outcome (`delivered`,
 * `failed` answer false otherwise), which also releases the claim.
 */
import type { Queryable } from '../db/Database.ts';

export interface OutboxEvent {
  eventId: string;
  topic: string;
  payload: Record<string, unknown>;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
  claimedBy: string | null;
  claimedUntil: Date | null;
}

type Row = Record<string, unknown>;

function eventFrom(r: Row): OutboxEvent {
  return {
    eventId: r['event_id'] as string,
    topic: r['topic'] as string,
    payload: (typeof r['payload'] === 'string' ? JSON.parse(r['payload']) : r['payload']) as Record<string, unknown>,
    status: r['status'] as OutboxEvent['status'],
    attempts: Number(r['attempts']),
    nextAttemptAt: new Date(r['next_attempt_at'] as string),
    lastError: (r['last_error'] as string | null) ?? null,
    createdAt: new Date(r['created_at'] as string),
    deliveredAt: r['delivered_at'] ? new Date(r['delivered_at'] as string) : null,
    claimedBy: (r['claimed_by'] as string | null) ?? null,
    claimedUntil: r['claimed_until'] ? new Date(r['claimed_until'] as string) : null,
  };
}

export class OutboxRepository {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  static async enqueue(tx: Queryable, event: { eventId: string; topic: string; payload: Record<string, unknown> }): Promise<void> {
    await tx.query(`INSERT INTO supervision_outbox (event_id, topic, payload, status) VALUES ($1, $2, $3, 'pending')`, [event.eventId, event.topic, JSON.stringify(event.payload)]);
  }

  /**
   * Claims up to `limit` events due at `now` for `claimant`, for `leaseMs`
   * (on the database's clock), oldest first. Two dispatchers never get the
   * same event while a lease runs.
   */
  async claimDue(now: Date, claimant: string, leaseMs: number, limit = 20): Promise<OutboxEvent[]> {
    const r = await this.#db.query<Row>(
      `UPDATE supervision_outbox SET claimed_by = $2, claimed_until = now() + make_interval(secs => $3::double precision / 1000)
       WHERE event_id IN (
         SELECT event_id FROM supervision_outbox
         WHERE status = 'pending' AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until < now())
         ORDER BY created_at LIMIT $4
         FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [now, claimant, leaseMs, limit],
    );
    return r.rows.map(eventFrom).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  async get(eventId: string): Promise<OutboxEvent | null> {
    const r = await this.#db.query<Row>('SELECT * FROM supervision_outbox WHERE event_id = $1', [eventId]);
    return r.rows[0] ? eventFrom(r.rows[0]) : null;
  }

  async all(): Promise<OutboxEvent[]> {
    return (await this.#db.query<Row>('SELECT * FROM supervision_outbox ORDER BY created_at')).rows.map(eventFrom);
  }

  /** Records a delivery by the claim's holder; false when `claimant` no longer holds it (nothing changed). */
  async delivered(eventId: string, attempts: number, claimant: string): Promise<boolean> {
    const r = await this.#db.query(
      `UPDATE supervision_outbox SET status = 'delivered', attempts = $2, delivered_at = now(), last_error = NULL, claimed_by = NULL, claimed_until = NULL
       WHERE event_id = $1 AND status = 'pending' AND claimed_by = $3`,
      [eventId, attempts, claimant],
    );
    return r.rowCount === 1;
  }

  /** Records a failed attempt (retry at `next`, or dead-lettered when null) by the claim's holder; false when it no longer holds it. */
  async failed(eventId: string, attempts: number, error: string, next: Date | null, claimant: string): Promise<boolean> {
    const r = await this.#db.query(
      `UPDATE supervision_outbox SET attempts = $2, last_error = $3, status = $4, next_attempt_at = COALESCE($5, next_attempt_at), claimed_by = NULL, claimed_until = NULL
       WHERE event_id = $1 AND status = 'pending' AND claimed_by = $6`,
      [eventId, attempts, error.slice(0, 500), next ? 'pending' : 'dead', next, claimant],
    );
    return r.rowCount === 1;
  }

  async counts(): Promise<Record<'pending' | 'delivered' | 'dead', number>> {
    const r = await this.#db.query<{ status: string; n: string | number }>('SELECT status, count(*) AS n FROM supervision_outbox GROUP BY status');
    const out = { pending: 0, delivered: 0, dead: 0 };
    for (const row of r.rows) out[row.status as keyof typeof out] = Number(row.n);
    return out;
  }
}
