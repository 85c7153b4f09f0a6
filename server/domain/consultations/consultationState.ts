/**
 * The life of a consultation (会诊), as a pure state machine. There are two
 * kinds, and each has its own path.
 *
 * A visit (the root consultation, which owns the room):
 *
 *   draft ─submit─▶ requested ─accept─▶ accepted ─schedule─▶ scheduled
 *     │               │                   │                     │ confirm follow-up
 *     └──cancel──▶ cancelled ◀──cancel────┴─────────────────────┤
 *                                                               ▼
 *                   completed ◀──complete (signed opinion)── in_progress
 *                   terminated ◀──terminate (reason + referral)──┘ (also from scheduled)
 *
 * An escalation (a consultation the host opened during the visit, inviting
 * another expert into the same room) lives inside its visit: it has no
 * schedule or follow-up confirmation of its own, and is not terminated —
 * the visit's expert terminates the visit.
 *
 *   requested ─accept (visit in progress)─▶ accepted ─complete (signed opinion, visit in progress)─▶ completed
 *       │                                      │
 *       └───────────cancel─────────────▶ cancelled
 *
 *   When the visit ends (completed, terminated or cancelled), its open
 *   escalations close with it (`close_with_visit`): completed when their
 *   expert has signed an opinion, cancelled otherwise.
 *
 * Preconditions that are about the consultation itself (a prior diagnosis
 * document, consent, an opinion, the visit being in progress) are checked
 * here; who may act is the service's business.
 */
import { HuizhenError, InvalidStateError } from '../../errors.ts';
import type { ConsultationStatus } from '../../protocol/consultation.ts';

export class FollowUpOnlyError extends HuizhenError {
  constructor(message: string) {
    super('FOLLOW_UP_ONLY', 409, message);
  }
}

export type ConsultationKind = 'visit' | 'escalation';

export interface ConsultationFacts {
  kind: ConsultationKind;
  status: ConsultationStatus;
  /** The status of the visit: the consultation's own for a visit, its parent's for an escalation. */
  visitStatus: ConsultationStatus;
  documents: number;
  hasConsent: boolean;
  hasExpert: boolean;
  hasSlot: boolean;
  hasOpinion: boolean;
}

export type ConsultationCommand = 'submit' | 'accept' | 'schedule' | 'confirm_follow_up' | 'terminate' | 'complete' | 'cancel' | 'close_with_visit';

export const CONSULTATION_COMMANDS: readonly ConsultationCommand[] = ['submit', 'accept', 'schedule', 'confirm_follow_up', 'terminate', 'complete', 'cancel', 'close_with_visit'];

const FROM: Record<ConsultationKind, Record<ConsultationCommand, readonly ConsultationStatus[]>> = {
  visit: {
    submit: ['draft'],
    accept: ['requested'],
    schedule: ['accepted', 'scheduled'],
    confirm_follow_up: ['scheduled'],
    terminate: ['scheduled', 'in_progress'],
    complete: ['in_progress'],
    cancel: ['draft', 'requested', 'accepted', 'scheduled'],
    close_with_visit: [],
  },
  escalation: {
    submit: [],
    accept: ['requested'],
    schedule: [],
    confirm_follow_up: [],
    terminate: [],
    complete: ['accepted'],
    cancel: ['requested', 'accepted'],
    close_with_visit: ['requested', 'accepted'],
  },
};

const VERB: Record<ConsultationCommand, string> = {
  submit: 'sent',
  accept: 'accepted',
  schedule: 'scheduled',
  confirm_follow_up: 'opened',
  terminate: 'terminated',
  complete: 'completed',
  cancel: 'cancelled',
  close_with_visit: 'closed with its visit',
};

/** Whether `command` is possible now (state only, no preconditions). */
export function allowedFrom(facts: Pick<ConsultationFacts, 'kind' | 'status'>, command: ConsultationCommand): boolean {
  return FROM[facts.kind][command].includes(facts.status);
}

/** Whether the expert may sign (or amend) the opinion now: during the visit. */
export function opinionOpen(facts: Pick<ConsultationFacts, 'kind' | 'status' | 'visitStatus'>): boolean {
  switch (facts.kind) {
    case 'visit':
      return facts.status === 'in_progress';
    case 'escalation':
      return facts.status === 'accepted' && facts.visitStatus === 'in_progress';
    default: {
      const never: never = facts.kind;
      throw new Error(`unknown kind ${String(never)}`);
    }
  }
}

/** The next status, or the coded error that explains why not. */
export function nextStatus(facts: ConsultationFacts, command: ConsultationCommand): ConsultationStatus {
  if (!allowedFrom(facts, command)) {
    if (facts.kind === 'escalation' && FROM.escalation[command].length === 0) {
      throw new InvalidStateError(`an escalated consultation is not ${VERB[command]} on its own: it takes place in the visit it was escalated from`);
    }
    if (facts.kind === 'visit' && FROM.visit[command].length === 0) throw new InvalidStateError(`a visit is not ${VERB[command]}`);
    throw new InvalidStateError(`a consultation that is ${facts.status} cannot be ${VERB[command]}`);
  }
  switch (command) {
    case 'submit':
      if (facts.documents === 0) throw new FollowUpOnlyError('attach at least one prior diagnosis document: internet consultations are follow-ups only');
      if (!facts.hasConsent) throw new InvalidStateError('record the patient’s informed consent before sending the request');
      return 'requested';
    case 'accept':
      if (!facts.hasExpert) throw new InvalidStateError('assign an expert when accepting');
      if (facts.kind === 'escalation' && facts.visitStatus !== 'in_progress') throw new InvalidStateError('an escalation is accepted while its visit is in progress');
      return 'accepted';
    case 'schedule':
      if (facts.documents === 0) throw new FollowUpOnlyError('a visit cannot be scheduled without a prior diagnosis document');
      return 'scheduled';
    case 'confirm_follow_up':
      if (!facts.hasSlot) throw new InvalidStateError('schedule the visit first');
      if (facts.documents === 0) throw new FollowUpOnlyError('no prior diagnosis document: this cannot be a follow-up');
      return 'in_progress';
    case 'complete':
      if (!facts.hasOpinion) throw new InvalidStateError('sign the consultation opinion before completing');
      if (facts.kind === 'escalation' && facts.visitStatus !== 'in_progress') throw new InvalidStateError('an escalation is completed while its visit is in progress');
      return 'completed';
    case 'terminate':
      return 'terminated';
    case 'cancel':
      return 'cancelled';
    case 'close_with_visit':
      // An opinion given in the visit stands; an invitation never answered lapses.
      return facts.status === 'accepted' && facts.hasOpinion ? 'completed' : 'cancelled';
    default: {
      const never: never = command;
      throw new Error(`unknown command ${String(never)}`);
    }
  }
}

export function isOpen(status: ConsultationStatus): boolean {
  return status !== 'completed' && status !== 'terminated' && status !== 'cancelled';
}
