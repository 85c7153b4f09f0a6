/**
 * Verification of the audit trail: every entry's hash must match its
 * content, every entry must name its predecessor's hash, and positions must
 * run without gaps. Problems are named by position so an auditor can go
 * straight to where the chain breaks; signed checkpoints (taken while the
 * server ran) also catch a trail that was cut short or rewritten from
 * scratch.
 */
import { AUDIT_GENESIS, auditHash, type AuditEntry } from './auditEntry.ts';

export type ChainProblem =
  | { kind: 'modified'; seq: number; message: string }
  | { kind: 'deleted'; seq: number; message: string }
  | { kind: 'reordered'; seq: number; message: string }
  | { kind: 'checkpoint_mismatch'; seq: number; message: string }
  | { kind: 'truncated'; seq: number; message: string };

export interface Checkpoint {
  seq: number;
  hash: string;
  at: string;
}

export interface ChainReport {
  entries: number;
  head: { seq: number; hash: string } | null;
  flagged: number;
  checkpointsChecked: number;
  problems: ChainProblem[];
}

/** Walks the entries in position order (`seq` ascending). */
export async function verifyChain(entries: AsyncIterable<AuditEntry> | Iterable<AuditEntry>, checkpoints: readonly Checkpoint[] = []): Promise<ChainReport> {
  const problems: ChainProblem[] = [];
  const hashAt = new Map<string, number>();
  const prevOf: Array<{ seq: number; prevHash: string }> = [];
  const seen = new Map<number, string>();
  let previous: AuditEntry | null = null;
  let count = 0;
  let flagged = 0;
  for await (const entry of entries) {
    count += 1;
    if (entry.flagged) flagged += 1;
    seen.set(entry.seq, entry.hash);
    hashAt.set(entry.hash, entry.seq);
    if (auditHash(entry) !== entry.hash) {
      problems.push({ kind: 'modified', seq: entry.seq, message: `entry #${entry.seq} was modified: its content no longer matches its hash` });
    }
    const expectedSeq = previous ? previous.seq + 1 : 1;
    const expectedPrev = previous ? previous.hash : AUDIT_GENESIS;
    if (entry.seq !== expectedSeq) {
      const last = entry.seq - 1;
      problems.push({
        kind: 'deleted',
        seq: expectedSeq,
        message: last === expectedSeq ? `entry #${expectedSeq} is missing (deleted)` : `entries #${expectedSeq}–#${last} are missing (deleted)`,
      });
    } else if (entry.prevHash !== expectedPrev) {
      prevOf.push({ seq: entry.seq, prevHash: entry.prevHash });
    }
    previous = entry;
  }
  // A predecessor hash that exists elsewhere in the trail means entries were
  // moved; one that exists nowhere means the predecessor was replaced or
  // removed and the positions renumbered.
  for (const { seq, prevHash } of prevOf) {
    const at = hashAt.get(prevHash);
    if (at !== undefined) {
      problems.push({ kind: 'reordered', seq, message: `entry #${seq} does not follow #${seq - 1}: it was written after #${at} (entries reordered)` });
    } else {
      problems.push({ kind: 'deleted', seq, message: `the chain breaks before entry #${seq}: the entry it was written after is gone (deleted or replaced)` });
    }
  }
  const headSeq = previous?.seq ?? 0;
  for (const cp of checkpoints) {
    const hash = seen.get(cp.seq);
    if (hash === undefined) {
      if (cp.seq > headSeq) {
        problems.push({ kind: 'truncated', seq: cp.seq, message: `the trail ends at #${headSeq}, but a signed checkpoint of ${cp.at} saw it reach #${cp.seq} (entries deleted from the end)` });
      }
    } else if (hash !== cp.hash) {
      problems.push({ kind: 'checkpoint_mismatch', seq: cp.seq, message: `entry #${cp.seq} differs from the signed checkpoint of ${cp.at} (the trail was rewritten)` });
    }
  }
  problems.sort((a, b) => a.seq - b.seq);
  return {
    entries: count,
    head: previous ? { seq: previous.seq, hash: previous.hash } : null,
    flagged,
    checkpointsChecked: checkpoints.length,
    problems,
  };
}
