/**
 * The supervision outbox (migration 0006): events written in the
 * transaction of the change they report, claimed by the dispatcher when
 * due.
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

  async due(now: Date, limit = 20): Promise<OutboxEvent[]> {
    const r = await this.#db.query<Row>(`SELECT * FROM supervision_outbox WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY created_at LIMIT $2`, [now, limit]);
    return r.rows.map(eventFrom);
  }

  async get(eventId: string): Promise<OutboxEvent | null> {
    const r = await this.#db.query<Row>('SELECT * FROM supervision_outbox WHERE event_id = $1', [eventId]);
    return r.rows[0] ? eventFrom(r.rows[0]) : null;
  }

  async all(): Promise<OutboxEvent[]> {
    return (await this.#db.query<Row>('SELECT * FROM supervision_outbox ORDER BY created_at')).rows.map(eventFrom);
  }

  async delivered(eventId: string, attempts: number): Promise<void> {
    await this.#db.query(`UPDATE supervision_outbox SET status = 'delivered', attempts = $2, delivered_at = now(), last_error = NULL WHERE event_id = $1`, [eventId, attempts]);
  }

  async failed(eventId: string, attempts: number, error: string, next: Date | null): Promise<void> {
    await this.#db.query(
      `UPDATE supervision_outbox SET attempts = $2, last_error = $3, status = $4, next_attempt_at = COALESCE($5, next_attempt_at) WHERE event_id = $1`,
      [eventId, attempts, error.slice(0, 500), next ? 'pending' : 'dead', next],
    );
  }

  async counts(): Promise<Record<'pending' | 'delivered' | 'dead', number>> {
    const r = await this.#db.query<{ status: string; n: string | number }>('SELECT status, count(*) AS n FROM supervision_outbox GROUP BY status');
    const out = { pending: 0, delivered: 0, dead: 0 };
    for (const row of r.rows) out[row.status as keyof typeof out] = Number(row.n);
    return out;
  }
}
