import { expect } from 'chai';
import {
  CONSULTATION_COMMANDS,
  FollowUpOnlyError,
  nextStatus,
  opinionOpen,
  type ConsultationCommand,
  type ConsultationFacts,
  type ConsultationKind,
} from '../../server/domain/consultations/consultationState.ts';
import { HuizhenError, InvalidStateError } from '../../server/errors.ts';
import { CONSULTATION_STATUSES, type ConsultationStatus } from '../../server/protocol/consultation.ts';

/** Everything a step could need is there: only the state decides. */
const ready = (kind: ConsultationKind, status: ConsultationStatus, over: Partial<ConsultationFacts> = {}): ConsultationFacts => ({
  kind,
  status,
  visitStatus: kind === 'visit' ? status : 'in_progress',
  documents: 1,
  hasConsent: true,
  hasExpert: true,
  hasSlot: true,
  hasOpinion: true,
  ...over,
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (err) {
    expect(err).to.be.instanceOf(HuizhenError);
    return (err as HuizhenError).code;
  }
}

/**
 * The legal transitions, written out independently of the implementation's
 * table: anything not listed must be refused with INVALID_STATE.
 */
const LEGAL: Record<ConsultationKind, Array<[ConsultationStatus, ConsultationCommand, ConsultationStatus]>> = {
  visit: [
    ['draft', 'submit', 'requested'],
    ['draft', 'cancel', 'cancelled'],
    ['requested', 'accept', 'accepted'],
    ['requested', 'cancel', 'cancelled'],
    ['accepted', 'schedule', 'scheduled'],
    ['accepted', 'cancel', 'cancelled'],
    ['scheduled', 'schedule', 'scheduled'],
    ['scheduled', 'confirm_follow_up', 'in_progress'],
    ['scheduled', 'terminate', 'terminated'],
    ['scheduled', 'cancel', 'cancelled'],
    ['in_progress', 'terminate', 'terminated'],
    ['in_progress', 'complete', 'completed'],
  ],
  escalation: [
    ['requested', 'accept', 'accepted'],
    ['requested', 'cancel', 'cancelled'],
    ['requested', 'close_with_visit', 'cancelled'],
    ['accepted', 'complete', 'completed'],
    ['accepted', 'cancel', 'cancelled'],
    ['accepted', 'close_with_visit', 'completed'],
  ],
};

describe('consultation state machine', () => {
  for (const kind of ['visit', 'escalation'] as const) {
    it(`${kind}: takes each legal transition and refuses every other one with INVALID_STATE`, () => {
      let refusedCount = 0;
      for (const status of CONSULTATION_STATUSES) {
        for (const command of CONSULTATION_COMMANDS) {
          const legal = LEGAL[kind].find(([from, c]) => from === status && c === command);
          if (legal) {
            expect(nextStatus(ready(kind, status), command), `${kind} ${status} → ${command}`).to.equal(legal[2]);
          } else {
            let error: unknown;
            try {
              nextStatus(ready(kind, status), command);
            } catch (err) {
              error = err;
            }
            expect(error, `${kind} ${status} → ${command} must be refused`).to.be.instanceOf(InvalidStateError);
            expect((error as InvalidStateError).code).to.equal('INVALID_STATE');
            refusedCount += 1;
          }
        }
      }
      expect(refusedCount).to.equal(CONSULTATION_STATUSES.length * CONSULTATION_COMMANDS.length - LEGAL[kind].length);
    });
  }

  it('refuses the classic mistakes with INVALID_STATE', () => {
    const cases: Array<[string, ConsultationKind, ConsultationStatus, ConsultationCommand]> = [
      ['accepting twice', 'visit', 'accepted', 'accept'],
      ['scheduling before accepting', 'visit', 'requested', 'schedule'],
      ['opening the room before scheduling', 'visit', 'accepted', 'confirm_follow_up'],
      ['opening the room twice', 'visit', 'in_progress', 'confirm_follow_up'],
      ['cancelling after completion', 'visit', 'completed', 'cancel'],
      ['cancelling a visit in progress (terminate and refer instead)', 'visit', 'in_progress', 'cancel'],
      ['completing a terminated visit', 'visit', 'terminated', 'complete'],
      ['terminating before the visit is scheduled', 'visit', 'accepted', 'terminate'],
      ['sending a request twice', 'visit', 'requested', 'submit'],
      ['reviving a cancelled request', 'visit', 'cancelled', 'submit'],
      ['closing a visit as if it were an escalation', 'visit', 'in_progress', 'close_with_visit'],
      ['scheduling an escalation', 'escalation', 'accepted', 'schedule'],
      ['confirming an escalation as a follow-up', 'escalation', 'accepted', 'confirm_follow_up'],
      ['terminating an escalation', 'escalation', 'accepted', 'terminate'],
      ['completing an escalation before it is accepted', 'escalation', 'requested', 'complete'],
      ['cancelling a completed escalation', 'escalation', 'completed', 'cancel'],
      ['closing an escalation twice', 'escalation', 'cancelled', 'close_with_visit'],
    ];
    for (const [what, kind, status, command] of cases) expect(codeOf(() => nextStatus(ready(kind, status), command)), what).to.equal('INVALID_STATE');
  });

  it('checks the preconditions of a legal transition, each with its own code', () => {
    const cases: Array<[string, ConsultationFacts, ConsultationCommand, string]> = [
      ['a request without a prior diagnosis document', ready('visit', 'draft', { documents: 0 }), 'submit', 'FOLLOW_UP_ONLY'],
      ['a request without consent', ready('visit', 'draft', { hasConsent: false }), 'submit', 'INVALID_STATE'],
      ['accepting without assigning an expert', ready('visit', 'requested', { hasExpert: false }), 'accept', 'INVALID_STATE'],
      ['scheduling without a document', ready('visit', 'accepted', { documents: 0 }), 'schedule', 'FOLLOW_UP_ONLY'],
      ['opening without a slot', ready('visit', 'scheduled', { hasSlot: false }), 'confirm_follow_up', 'INVALID_STATE'],
      ['opening without a document', ready('visit', 'scheduled', { documents: 0 }), 'confirm_follow_up', 'FOLLOW_UP_ONLY'],
      ['completing without a signed opinion', ready('visit', 'in_progress', { hasOpinion: false }), 'complete', 'INVALID_STATE'],
      ['accepting an escalation of a visit that ended', ready('escalation', 'requested', { visitStatus: 'completed' }), 'accept', 'INVALID_STATE'],
      ['completing an escalation of a visit that ended', ready('escalation', 'accepted', { visitStatus: 'terminated' }), 'complete', 'INVALID_STATE'],
      ['completing an escalation without an opinion', ready('escalation', 'accepted', { hasOpinion: false }), 'complete', 'INVALID_STATE'],
    ];
    for (const [what, facts, command, code] of cases) expect(codeOf(() => nextStatus(facts, command)), what).to.equal(code);
    expect(() => nextStatus(ready('visit', 'draft', { documents: 0 }), 'submit')).to.throw(FollowUpOnlyError);
  });

  it('closes an escalation with its visit: completed with a signed opinion, cancelled otherwise', () => {
    expect(nextStatus(ready('escalation', 'accepted', { visitStatus: 'completed' }), 'close_with_visit')).to.equal('completed');
    expect(nextStatus(ready('escalation', 'accepted', { visitStatus: 'terminated', hasOpinion: false }), 'close_with_visit')).to.equal('cancelled');
    expect(nextStatus(ready('escalation', 'requested', { visitStatus: 'completed', hasOpinion: false, hasExpert: false }), 'close_with_visit')).to.equal('cancelled');
  });

  it('opens the opinion only during the visit', () => {
    for (const status of CONSULTATION_STATUSES) {
      expect(opinionOpen({ kind: 'visit', status, visitStatus: status }), `visit ${status}`).to.equal(status === 'in_progress');
      expect(opinionOpen({ kind: 'escalation', status, visitStatus: 'in_progress' }), `escalation ${status}`).to.equal(status === 'accepted');
    }
    expect(opinionOpen({ kind: 'escalation', status: 'accepted', visitStatus: 'completed' }), 'its visit has ended').to.equal(false);
  });
});
