import { expect } from 'chai';
import { AUDIT_GENESIS, auditHash, type AuditEntry } from '../../server/domain/audit/auditEntry.ts';
import { verifyChain } from '../../server/domain/audit/verifyChain.ts';

function chain(n: number): AuditEntry[] {
  const entries: AuditEntry[] = [];
  let prev = AUDIT_GENESIS;
  for (let seq = 1; seq <= n; seq += 1) {
    const body = {
      at: new Date(Date.UTC(2026, 10, 23, 10, 0, seq)).toISOString(),
      actor: seq % 2 ? 'dr-li' : 'system',
      actorRole: seq % 2 ? 'host' : null,
      action: 'room.joined',
      subject: 'room:r1',
      flagged: seq === 3,
      details: { peerId: `p-${seq}`, nested: { b: 2, a: ['1', 'x'] } },
      prevHash: prev,
    };
    const entry = { ...body, seq, hash: auditHash(body) };
    entries.push(entry);
    prev = entry.hash;
  }
  return entries;
}

describe('audit chain verification', () => {
  it('accepts an intact chain, whatever order the details were stored in', async () => {
    const entries = chain(6);
    // jsonb gives keys back in its own order: the hash is over canonical JSON.
    entries[2] = { ...entries[2]!, details: { nested: { a: ['1', 'x'], b: 2 }, peerId: 'p-3' } };
    const report = await verifyChain(entries);
    expect(report.problems).to.deep.equal([]);
    expect(report).to.deep.include({ entries: 6, flagged: 1 });
    expect(report.head).to.deep.equal({ seq: 6, hash: entries[5]!.hash });
  });

  it('names a modified entry', async () => {
    const entries = chain(6);
    entries[3] = { ...entries[3]!, actor: 'someone-else' };
    const report = await verifyChain(entries);
    expect(report.problems.map((p) => [p.kind, p.seq])).to.deep.equal([['modified', 4]]);
  });

  it('names a deleted entry, and one deleted with the rest renumbered', async () => {
    const entries = chain(6);
    const gap = entries.filter((e) => e.seq !== 3);
    expect((await verifyChain(gap)).problems.map((p) => [p.kind, p.seq])).to.deep.equal([['deleted', 3]]);
    const renumbered = gap.map((e, i) => ({ ...e, seq: i + 1 }));
    expect((await verifyChain(renumbered)).problems.map((p) => [p.kind, p.seq])).to.deep.equal([['deleted', 3]]);
  });

  it('names reordered entries', async () => {
    const entries = chain(6);
    const swapped = [entries[0]!, entries[1]!, { ...entries[3]!, seq: 3 }, { ...entries[2]!, seq: 4 }, entries[4]!, entries[5]!];
    const report = await verifyChain(swapped);
    expect(report.problems.map((p) => p.kind)).to.include('reordered');
    expect(report.problems[0]!.seq).to.equal(3);
  });

  it('catches a trail cut short or rewritten, with signed checkpoints', async () => {
    const entries = chain(6);
    const truncated = entries.slice(0, 4);
    expect((await verifyChain(truncated)).problems).to.deep.equal([]);
    const cp = { seq: 6, hash: entries[5]!.hash, at: '2026-11-23T10:05:00Z' };
    expect((await verifyChain(truncated, [cp])).problems.map((p) => [p.kind, p.seq])).to.deep.equal([['truncated', 6]]);
    // Rewritten from scratch by someone who can recompute hashes: consistent
    // on its own, but not what the server signed while it ran.
    const other: AuditEntry[] = [];
    let prev = AUDIT_GENESIS;
    for (const e of entries) {
      const body = { ...e, actor: e.seq === 2 ? 'nobody' : e.actor, prevHash: prev };
      const hash = auditHash(body);
      other.push({ ...body, hash });
      prev = hash;
    }
    expect((await verifyChain(other)).problems, 'a rewritten chain is consistent on its own').to.deep.equal([]);
    const mid = { seq: 4, hash: entries[3]!.hash, at: '2026-11-23T10:03:00Z' };
    expect((await verifyChain(other, [mid])).problems.map((p) => [p.kind, p.seq])).to.deep.equal([['checkpoint_mismatch', 4]]);
  });
});
