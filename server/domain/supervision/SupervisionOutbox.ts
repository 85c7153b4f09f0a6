/**
 * Reporting to the supervision platform (监管平台) through a transactional
 * outbox. A completed or terminated consultation writes its event in the
 * same transaction as the change; the dispatcher then POSTs it as signed
 * JSON to the configured endpoint:
 *
 *   X-Huizhen-Event-Id   the event id (the receiver de-duplicates on it)
 *   X-Huizhen-Signature  RSASSA-PKCS1-v1_5-SHA256 of the canonical body, base64
 *   X-Huizhen-Key-Id     the server key that signed
 *
 * A 2xx answer ends it. Anything else is retried with exponential backoff;
 * after `maxAttempts` the event is dead-lettered (kept, flagged in the
 * audit trail, counted in /metrics as huizhen_supervision_outbox_events
 * {status="dead"}) for an operator.
 *
 * Several server processes may dispatch from one database: each pass first
 * claims its events (OutboxRepository.claimDue, a lease long enough for the
 * whole batch), so an event is sent by one dispatcher at a time, and only
 * the claim's holder records the outcome. A dispatcher that dies mid-pass
 * leaves its claims to lapse; another then takes the events up (the
 * receiver still de-duplicates on the event id for that case).
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import { signCanonical, type Signer } from '../../pki/signatures.ts';
import type { Queryable } from '../../storage/db/Database.ts';
import { OutboxRepository, type OutboxEvent } from '../../storage/repositories/OutboxRepository.ts';
import { canonicalJson } from '../../util/canonicalJson.ts';
import type { AuditSink } from '../audit/AuditTrail.ts';

export interface SupervisionConfig {
  /** Where events go; null keeps them pending (nothing is lost). */
  endpoint: string | null;
  maxAttempts: number;
  /** First retry delay; doubled per attempt, capped at one hour. */
  retryBaseMs: number;
  timeoutMs: number;
}

export function enqueueSupervisionEvent(tx: Queryable, topic: string, payload: Record<string, unknown>): Promise<void> {
  return OutboxRepository.enqueue(tx, { eventId: `evt-${crypto.randomUUID()}`, topic, payload });
}

/** Events claimed per pass. */
const BATCH = 20;

export class SupervisionDispatcher {
  readonly repository: OutboxRepository;
  /** Who this dispatcher is in the outbox's claims (host, process, instance). */
  readonly claimant = `${os.hostname()}:${process.pid}:${crypto.randomUUID()}`;
  readonly #config: SupervisionConfig;
  readonly #signer: Signer;
  readonly #audit: AuditSink;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<number> | null = null;
  #closed = false;
  #warnedNoEndpoint = false;

  constructor(deps: { db: Queryable; config: SupervisionConfig; signer: Signer; audit: AuditSink; log: Logger }) {
    this.repository = new OutboxRepository(deps.db);
    this.#config = deps.config;
    this.#signer = deps.signer;
    this.#audit = deps.audit;
    this.#log = deps.log.child({ component: 'supervision' });
  }

  /** Polls every `intervalMs` until closed. */
  start(intervalMs: number): void {
    const tick = () => {
      if (this.#closed) return;
      void this.deliverDue().finally(() => {
        if (!this.#closed) this.#timer = setTimeout(tick, intervalMs).unref();
      });
    };
    this.#timer = setTimeout(tick, intervalMs).unref();
  }

  /** One pass over the events that are due; resolves with how many were delivered. Passes never overlap. */
  deliverDue(now = new Date()): Promise<number> {
    this.#running ??= this.#pass(now).finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }

  async #pass(now: Date): Promise<number> {
    if (!this.#config.endpoint) {
      if (!this.#warnedNoEndpoint) this.#log.warn('no supervision endpoint configured; events stay in the outbox');
      this.#warnedNoEndpoint = true;
      return 0;
    }
    let delivered = 0;
    // The lease covers the whole batch sent one after another, each bounded by the timeout, with a margin.
    const leaseMs = BATCH * this.#config.timeoutMs + 60_000;
    for (const event of await this.repository.claimDue(now, this.claimant, leaseMs, BATCH)) {
      // Closing mid-pass: the rest of the claims lapse and another pass (or process) takes them.
      if (this.#closed) break;
      if (await this.#deliver(event, this.#config.endpoint)) delivered += 1;
    }
    return delivered;
  }

  async #deliver(event: OutboxEvent, endpoint: string): Promise<boolean> {
    const attempts = event.attempts + 1;
    const body = { eventId: event.eventId, topic: event.topic, occurredAt: event.createdAt.toISOString(), payload: event.payload };
    const signature = signCanonical(body, this.#signer);
    let error: string | null = null;
    try {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-Huizhen-Event-Id': event.eventId,
          'X-Huizhen-Signature': signature.value,
          'X-Huizhen-Key-Id': signature.keyId,
        },
        body: canonicalJson(body),
        signal: AbortSignal.timeout(this.#config.timeoutMs),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) {
        if (!(await this.repository.delivered(event.eventId, attempts, this.claimant))) {
          this.#log.warn({ eventId: event.eventId }, 'supervision event delivered after its claim lapsed; the receiver de-duplicates on the event id');
          return false;
        }
        this.#audit.record({ action: 'supervision.delivered', actor: 'system', subject: `event:${event.eventId}`, details: { topic: event.topic, attempts } });
        return true;
      }
      error = `HTTP ${response.status}`;
    } catch (err) {
      error = (err as Error).name === 'TimeoutError' ? 'timed out' : (err as Error).message;
    }
    if (attempts >= this.#config.maxAttempts) {
      if (!(await this.repository.failed(event.eventId, attempts, error, null, this.claimant))) return false;
      this.#audit.record({ action: 'supervision.dead_lettered', actor: 'system', subject: `event:${event.eventId}`, flagged: true, details: { topic: event.topic, attempts, error } });
      this.#log.error({ eventId: event.eventId, attempts, error }, 'supervision event dead-lettered');
    } else {
      const delay = Math.min(this.#config.retryBaseMs * 2 ** (attempts - 1), 3600_000);
      if (!(await this.repository.failed(event.eventId, attempts, error, new Date(Date.now() + delay), this.claimant))) return false;
      this.#log.warn({ eventId: event.eventId, attempts, error, retryInMs: delay }, 'supervision delivery failed; will retry');
    }
    return false;
  }
}
