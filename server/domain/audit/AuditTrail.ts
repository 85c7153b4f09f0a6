/**
 * The audit trail as the rest of Huizhen uses it.
 *
 * - `append(input, tx?)` records an entry and resolves once it is stored;
 *   inside a caller's transaction the entry commits (or not) together with
 *   the change it describes (approval decisions, grants, plays).
 * - `record(input)` is for events that must not wait on the database (a
 *   participant joining): entries are written one after another in the
 *   order they were recorded; a failure is logged and counted, never thrown.
 *   `flush()` waits for them (shutdown runs it before closing the database).
 * - Checkpoints: the head of the chain, signed by the server's key, is
 *   written to object storage periodically and at shutdown, outside the
 *   database's reach, so a trail cut short or rewritten from scratch is
 *   caught by `audit verify`.
 */
import type { Logger } from 'pino';
import type { Database, Queryable } from '../../storage/db/Database.ts';
import type { ObjectStore } from '../../storage/objects/ObjectStore.ts';
import { AuditRepository } from '../../storage/repositories/AuditRepository.ts';
import { signCanonical, verifyCanonical, type DetachedSignature, type Signer } from '../../pki/signatures.ts';
import type { AuditEntry, AuditInput } from './auditEntry.ts';
import type { Checkpoint } from './verifyChain.ts';

export const CHECKPOINT_PREFIX = 'audit/checkpoints/';

/** What domain components are given: they record, they never read or change. */
export interface AuditSink {
  record(input: AuditInput): void;
  append(input: AuditInput, tx?: Queryable): Promise<AuditEntry>;
}

/** For components built without an audit trail (unit tests). */
export const NO_AUDIT: AuditSink = {
  record: () => undefined,
  append: (input) => Promise.resolve({ seq: 0, at: new Date().toISOString(), actor: input.actor, actorRole: null, action: input.action, subject: null, flagged: false, details: {}, prevHash: '', hash: '' }),
};

export interface AuditTrailDeps {
  db: Database;
  log: Logger;
  clock?: () => Date;
  onFailure?: () => void;
}

export class AuditTrail implements AuditSink {
  readonly #deps: AuditTrailDeps;
  readonly repository: AuditRepository;
  #queue: Promise<void> = Promise.resolve();
  #pending = 0;

  constructor(deps: AuditTrailDeps) {
    this.#deps = deps;
    this.repository = new AuditRepository(deps.db);
  }

  get pending(): number {
    return this.#pending;
  }

  append(input: AuditInput, tx?: Queryable): Promise<AuditEntry> {
    const at = (this.#deps.clock ?? (() => new Date()))();
    if (tx) return AuditRepository.appendIn(tx, input, at);
    return this.#deps.db.transaction((t) => AuditRepository.appendIn(t, input, at));
  }

  record(input: AuditInput): void {
    this.#pending += 1;
    this.#queue = this.#queue
      .then(() => this.append(input))
      .then(
        () => undefined,
        (err: unknown) => {
          this.#deps.onFailure?.();
          this.#deps.log.error({ err: { message: (err as Error).message }, action: input.action, subject: input.subject }, 'audit entry could not be stored');
        },
      )
      .finally(() => {
        this.#pending -= 1;
      });
  }

  /** Resolves when every recorded entry has been written (or has failed and been logged). */
  flush(): Promise<void> {
    return this.#queue;
  }
}

/** A checkpoint as stored in object storage. */
export interface SignedCheckpoint extends Checkpoint {
  format: 'huizhen-audit-checkpoint/1';
  signature: DetachedSignature;
}

export function checkpointKey(seq: number): string {
  return `${CHECKPOINT_PREFIX}${String(seq).padStart(16, '0')}.json`;
}

/** Writes a signed checkpoint of the chain head when it has moved since the last one. */
export class AuditCheckpointer {
  readonly #trail: AuditTrail;
  readonly #store: ObjectStore;
  readonly #signer: Signer;
  readonly #log: Logger;
  #lastSeq = 0;
  #running: Promise<SignedCheckpoint | null> | null = null;

  constructor(deps: { trail: AuditTrail; store: ObjectStore; signer: Signer; log: Logger }) {
    this.#trail = deps.trail;
    this.#store = deps.store;
    this.#signer = deps.signer;
    this.#log = deps.log;
  }

  checkpoint(): Promise<SignedCheckpoint | null> {
    this.#running ??= this.#write().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #write(): Promise<SignedCheckpoint | null> {
    await this.#trail.flush();
    const head = await this.#trail.repository.head();
    if (!head || head.seq === this.#lastSeq) return null;
    const body: Checkpoint & { format: SignedCheckpoint['format'] } = { format: 'huizhen-audit-checkpoint/1', seq: head.seq, hash: head.hash, at: new Date().toISOString() };
    const signed: SignedCheckpoint = { ...body, signature: signCanonical(body, this.#signer) };
    try {
      await this.#store.put(checkpointKey(head.seq), Buffer.from(JSON.stringify(signed, null, 2)), { contentType: 'application/json' });
      this.#lastSeq = head.seq;
      return signed;
    } catch (err) {
      this.#log.warn({ err: { message: (err as Error).message }, seq: head.seq }, 'audit checkpoint not written (object store unreachable); retried later');
      return null;
    }
  }
}

/**
 * Every checkpoint in object storage whose signature verifies with a known
 * key; a checkpoint that does not verify is reported, not trusted.
 */
export async function readCheckpoints(store: ObjectStore, publicKey: (keyId: string) => Promise<string | null>): Promise<{ valid: Checkpoint[]; invalid: string[] }> {
  const valid: Checkpoint[] = [];
  const invalid: string[] = [];
  for await (const object of store.list(CHECKPOINT_PREFIX)) {
    try {
      const cp = JSON.parse((await store.getBuffer(object.key)).toString('utf8')) as SignedCheckpoint;
      const { signature, ...body } = cp;
      const pem = signature?.keyId ? await publicKey(signature.keyId) : null;
      if (!pem || !verifyCanonical(body, signature, pem) || object.key !== checkpointKey(cp.seq)) invalid.push(object.key);
      else valid.push({ seq: cp.seq, hash: cp.hash, at: cp.at });
    } catch {
      invalid.push(object.key);
    }
  }
  return { valid: valid.sort((a, b) => a.seq - b.seq), invalid };
}
