import { expect } from 'chai';
import { ApprovalError } from '../../server/domain/approvals/approvalErrors.ts';
import { effectiveState, transition, type RequestCommand, type RequestState, type TierSnapshot } from '../../server/domain/approvals/PlaybackRequest.ts';
import { checkMayDecide, type Approver, type RequestFacts } from '../../server/domain/approvals/separationOfDuties.ts';

const now = new Date('2026-11-23T10:00:00Z');
const later = (h: number) => new Date(now.getTime() + h * 3600_000);

const pending = (nextTier = 0, tierCount = 2): RequestState => ({ status: 'pending', nextTier, tierCount, expiresAt: later(72) });
const granted = (playsUsed = 0): RequestState => ({ status: 'granted', grantExpiresAt: later(24), playsUsed, maxPlays: 3 });

const approve = (tierIndex: number): RequestCommand => ({ type: 'approve', tierIndex, grantExpiresAt: later(24), maxPlays: 3 });
const deny = (tierIndex: number): RequestCommand => ({ type: 'deny', tierIndex });

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    expect(err).to.be.instanceOf(ApprovalError);
    return (err as ApprovalError).code;
  }
}

describe('playback request state machine', () => {
  it('approves tier by tier, in order, and grants after the last tier', () => {
    const afterFirst = transition(pending(0, 2), approve(0), now);
    expect(afterFirst).to.deep.include({ status: 'pending', nextTier: 1 });
    const afterSecond = transition(afterFirst, approve(1), now);
    expect(afterSecond).to.deep.equal({ status: 'granted', grantExpiresAt: later(24), playsUsed: 0, maxPlays: 3 });
  });

  it('refuses a tier out of order: a later tier before an earlier one, or a tier twice', () => {
    expect(codeOf(() => transition(pending(0, 3), approve(1), now))).to.equal('TIER_OUT_OF_ORDER');
    expect(codeOf(() => transition(pending(0, 3), deny(2), now))).to.equal('TIER_OUT_OF_ORDER');
    expect(codeOf(() => transition(pending(1, 3), approve(0), now))).to.equal('TIER_OUT_OF_ORDER');
  });

  it('is denied by a denial at any tier', () => {
    expect(transition(pending(1, 2), deny(1), now)).to.deep.equal({ status: 'denied' });
  });

  it('answers every illegal step with its own code', () => {
    const terminal: Array<[string, RequestState]> = [
      ['granted', granted()],
      ['denied', { status: 'denied' }],
      ['expired', { status: 'expired' }],
      ['revoked', { status: 'revoked' }],
    ];
    const expected: Record<string, Record<string, string | null>> = {
      granted: { approve: 'REQUEST_DECIDED', deny: 'REQUEST_DECIDED', revoke: null, play: null, expire: 'INVALID_STATE' },
      denied: { approve: 'REQUEST_DECIDED', deny: 'REQUEST_DECIDED', revoke: 'REQUEST_DECIDED', play: 'GRANT_NOT_ACTIVE', expire: 'REQUEST_DECIDED' },
      expired: { approve: 'REQUEST_EXPIRED', deny: 'REQUEST_EXPIRED', revoke: 'REQUEST_EXPIRED', play: 'GRANT_EXPIRED', expire: null },
      revoked: { approve: 'REQUEST_REVOKED', deny: 'REQUEST_REVOKED', revoke: 'REQUEST_REVOKED', play: 'GRANT_REVOKED', expire: 'REQUEST_REVOKED' },
    };
    const commands: Record<string, RequestCommand> = { approve: approve(0), deny: deny(0), revoke: { type: 'revoke' }, play: { type: 'play' }, expire: { type: 'expire' } };
    for (const [name, state] of terminal) {
      for (const [command, c] of Object.entries(commands)) {
        expect(codeOf(() => transition(state, c, now)), `${command} when ${name}`).to.equal(expected[name]![command]);
      }
    }
    expect(codeOf(() => transition(pending(), { type: 'play' }, now)), 'play when pending').to.equal('GRANT_NOT_ACTIVE');
    expect(codeOf(() => transition(pending(), { type: 'expire' }, now)), 'expire before time').to.equal('INVALID_STATE');
  });

  it('counts plays and refuses one more than the grant allows', () => {
    let state = granted();
    for (let i = 1; i <= 3; i += 1) {
      state = transition(state, { type: 'play' }, now);
      expect(state).to.deep.include({ status: 'granted', playsUsed: i });
    }
    expect(codeOf(() => transition(state, { type: 'play' }, now))).to.equal('GRANT_EXHAUSTED');
  });

  it('lets time run out: a pending request and a grant both expire at their time, not before', () => {
    expect(effectiveState(pending(), later(71.9)).status).to.equal('pending');
    expect(effectiveState(pending(), later(72)).status).to.equal('expired');
    expect(codeOf(() => transition(pending(), approve(0), later(73)))).to.equal('REQUEST_EXPIRED');
    expect(codeOf(() => transition(granted(), { type: 'play' }, later(24)))).to.equal('GRANT_EXPIRED');
    expect(transition(granted(), { type: 'expire' }, later(25))).to.deep.equal({ status: 'expired' });
  });

  it('can be withdrawn while pending and revoked while granted', () => {
    expect(transition(pending(), { type: 'revoke' }, now)).to.deep.equal({ status: 'revoked' });
    expect(transition(granted(1), { type: 'revoke' }, now)).to.deep.equal({ status: 'revoked' });
  });
});

describe('separation of duties', () => {
  const head: TierSnapshot = { id: 'department_head', label: { 'zh-CN': '科室主任', en: 'Head of department' }, position: 'department_head', sameDepartment: true };
  const affairs: TierSnapshot = { id: 'medical_affairs', label: { 'zh-CN': '医务处', en: 'Medical affairs office' }, position: 'medical_affairs', sameDepartment: false };
  const facts = (over: Partial<RequestFacts> = {}): RequestFacts => ({
    requesterId: 'qr-zhao',
    department: 'cardiology',
    participants: new Set(['dr-li', 'pt-wang']),
    decidedBy: [],
    ...over,
  });
  const approver = (over: Partial<Approver> = {}): Approver => ({ userId: 'ap-chen', role: 'approver', department: 'cardiology', positions: ['department_head'], ...over });

  function check(a: Approver, tier: TierSnapshot, tierIndex: number, f: RequestFacts): string | null {
    return codeOf(() => checkMayDecide(a, tier, tierIndex, f));
  }

  it('the matrix: who may decide a tier, and why not', () => {
    const rows: Array<[string, Approver, TierSnapshot, number, RequestFacts, string | null]> = [
      ['head of the recording’s department', approver(), head, 0, facts(), null],
      ['head of another department', approver({ department: 'neurology' }), head, 0, facts(), 'NOT_TIER_APPROVER'],
      ['head without a department in the token', approver({ department: null }), head, 0, facts(), 'NOT_TIER_APPROVER'],
      ['recording without a department', approver(), head, 0, facts({ department: null }), 'NOT_TIER_APPROVER'],
      ['medical affairs, any department', approver({ userId: 'ap-sun', department: 'admin_office', positions: ['medical_affairs'] }), affairs, 1, facts(), null],
      ['the right position but not an approver account', approver({ role: 'quality_reviewer' }), head, 0, facts(), 'NOT_TIER_APPROVER'],
      ['another position', approver({ positions: ['medical_affairs'] }), head, 0, facts(), 'NOT_TIER_APPROVER'],
      ['the requester', approver({ userId: 'qr-zhao' }), head, 0, facts(), 'SEPARATION_OF_DUTIES'],
      ['the doctor of the recorded visit', approver({ userId: 'dr-li' }), head, 0, facts(), 'SEPARATION_OF_DUTIES'],
      ['the patient of the recorded visit', approver({ userId: 'pt-wang', positions: ['medical_affairs'] }), affairs, 1, facts(), 'SEPARATION_OF_DUTIES'],
      [
        'someone who approved tier 1, at tier 2',
        approver({ positions: ['department_head', 'medical_affairs'] }),
        affairs,
        1,
        facts({ decidedBy: [{ tierIndex: 0, approverId: 'ap-chen' }] }),
        'SEPARATION_OF_DUTIES',
      ],
      ['a second person at tier 2 after tier 1', approver({ userId: 'ap-sun', positions: ['medical_affairs'] }), affairs, 1, facts({ decidedBy: [{ tierIndex: 0, approverId: 'ap-chen' }] }), null],
    ];
    for (const [who, a, tier, index, f, code] of rows) expect(check(a, tier, index, f), who).to.equal(code);
  });
});
