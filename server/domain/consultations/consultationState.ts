/**
 * The life of a consultation (会诊), as a pure state machine:
 *
 *   draft ─submit─▶ requested ─accept─▶ accepted ─schedule─▶ scheduled
 *     │               │                   │                     │ confirm follow-up
 *     └──cancel──▶ cancelled ◀──cancel────┴─────────────────────┤
 *                                                               ▼
 *                   completed ◀──complete (signed opinion)── in_progress
 *                   terminated ◀──terminate (reason + referral)──┘ (also from scheduled)
 *
 * Preconditions that are about the consultation itself (a prior diagnosis
 * document, consent, an opinion) are checked here; who may act is the
 * service's business.
 */
import { HuizhenError, InvalidStateError } from '../../errors.ts';
import type { ConsultationStatus } from '../../protocol/consultation.ts';

export class FollowUpOnlyError extends HuizhenError {
  constructor(message: string) {
    super('FOLLOW_UP_ONLY', 409, message);
  }
}

export interface ConsultationFacts {
  status: ConsultationStatus;
  documents: number;
  hasConsent: boolean;
  hasExpert: boolean;
  hasSlot: boolean;
  hasOpinion: boolean;
}

export type ConsultationCommand = 'submit' | 'accept' | 'schedule' | 'confirm_follow_up' | 'terminate' | 'complete' | 'cancel';

const FROM: Record<ConsultationCommand, readonly ConsultationStatus[]> = {
  submit: ['draft'],
  accept: ['requested'],
  schedule: ['accepted', 'scheduled'],
  confirm_follow_up: ['scheduled'],
  terminate: ['scheduled', 'in_progress'],
  complete: ['in_progress'],
  cancel: ['draft', 'requested', 'accepted', 'scheduled'],
};

const TO: Record<ConsultationCommand, ConsultationStatus> = {
  submit: 'requested',
  accept: 'accepted',
  schedule: 'scheduled',
  confirm_follow_up: 'in_progress',
  terminate: 'terminated',
  complete: 'completed',
  cancel: 'cancelled',
};

/** Whether `command` is possible now (state only, no preconditions). */
export function allowedFrom(facts: Pick<ConsultationFacts, 'status'>, command: ConsultationCommand): boolean {
  return FROM[command].includes(facts.status);
}

/** The next status, or the coded error that explains why not. */
export function nextStatus(facts: ConsultationFacts, command: ConsultationCommand): ConsultationStatus {
  if (!allowedFrom(facts, command)) {
    throw new InvalidStateError(`a consultation that is ${facts.status} cannot be ${TO[command] === 'in_progress' ? 'opened' : TO[command]}`);
  }
  switch (command) {
    case 'submit':
      if (facts.documents === 0) throw new FollowUpOnlyError('attach at least one prior diagnosis document: internet consultations are follow-ups only');
      if (!facts.hasConsent) throw new InvalidStateError('record the patient’s informed consent before sending the request');
      break;
    case 'accept':
      if (!facts.hasExpert) throw new InvalidStateError('assign an expert when accepting');
      break;
    case 'schedule':
      if (facts.documents === 0) throw new FollowUpOnlyError('a visit cannot be scheduled without a prior diagnosis document');
      break;
    case 'confirm_follow_up':
      if (!facts.hasSlot) throw new InvalidStateError('schedule the visit first');
      if (facts.documents === 0) throw new FollowUpOnlyError('no prior diagnosis document: this cannot be a follow-up');
      break;
    case 'complete':
      if (!facts.hasOpinion) throw new InvalidStateError('sign the consultation opinion before completing');
      break;
    case 'terminate':
    case 'cancel':
      break;
    default: {
      const never: never = command;
      throw new Error(`unknown command ${String(never)}`);
    }
  }
  return TO[command];
}

export function isOpen(status: ConsultationStatus): boolean {
  return status !== 'completed' && status !== 'terminated' && status !== 'cancelled';
}
