/**
 * What the audit trail records: one closed set of actions, each entry with
 * who did it (user id and role, or `system`), to what (a subject such as
 * `recording:rec-…`), and identifiers only in its details — never names of
 * patients, tokens or keys.
 *
 * Each entry's hash is SHA-256 over the previous entry's hash and the
 * entry's canonical content, so the entries form a chain in which a changed,
 * deleted or reordered entry is detected (verifyChain.ts).
 */
import crypto from 'node:crypto';
import { canonicalJson } from '../../util/canonicalJson.ts';

export const AUDIT_ACTIONS = [
  // Consultation rooms
  'room.joined',
  'room.left',
  'room.lobby_admitted',
  'room.lobby_refused',
  'room.visit_ended',
  // Consent and recording
  'consent.given',
  'consent.withdrawn',
  'recording.started',
  'recording.stopped',
  'recording.finalized',
  'recording.resumed',
  'recording.handed_over',
  'recording.legal_hold',
  'recording.classified',
  'recording.destroyed',
  // Keys
  'key.registered',
  'key.data_key_wrapped',
  'key.data_key_unwrapped',
  'key.data_key_destroyed',
  'key.unwrapped',
  // Configuration
  'config.loaded',
  'config.changed',
  // Directory and real-name verification
  'directory.institution_created',
  'directory.agreement_created',
  'directory.practitioner_registered',
  'directory.practitioner_verified',
  'directory.practitioner_suspended',
  'directory.practitioner_reinstated',
  // Consultations
  'consultation.drafted',
  'consultation.document_uploaded',
  'consultation.consent_recorded',
  'consultation.requested',
  'consultation.accepted',
  'consultation.scheduled',
  'consultation.follow_up_confirmed',
  'consultation.viewed',
  'consultation.document_viewed',
  'consultation.opinion_signed',
  'consultation.completed',
  'consultation.terminated',
  'consultation.cancelled',
  'consultation.escalated',
  'consultation.room_refused',
  'prescription.created',
  'prescription.reviewed',
  'supervision.delivered',
  'supervision.dead_lettered',
  // Playback approval and playback
  'playback.requested',
  'playback.approved',
  'playback.denied',
  'playback.granted',
  'playback.expired',
  'playback.revoked',
  'playback.play_started',
  'playback.range_served',
  'playback.play_ended',
  'playback.break_glass',
  'playback.break_glass_reviewed',
  'playback.break_glass_review_overdue',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export type AuditDetails = { [key: string]: string | number | boolean | null | string[] | AuditDetails | AuditDetails[] };

/** What a component asks to record. */
export interface AuditInput {
  action: AuditAction;
  /** User id, or `system` for the server itself. */
  actor: string;
  actorRole?: string | null;
  /** What it concerns, as `kind:id` (e.g. `recording:rec-1`, `room:r1`). */
  subject?: string | null;
  /** Shown prominently to auditors (break-glass access, refused tampering). */
  flagged?: boolean;
  details?: AuditDetails;
}

/** An entry as stored. */
export interface AuditEntry {
  seq: number;
  /** ISO 8601, milliseconds. */
  at: string;
  actor: string;
  actorRole: string | null;
  action: string;
  subject: string | null;
  flagged: boolean;
  details: AuditDetails;
  prevHash: string;
  hash: string;
}

export const AUDIT_GENESIS = '0'.repeat(64);

/** The hash of an entry: over the previous hash and everything but its position (the chain is the order). */
export function auditHash(entry: Omit<AuditEntry, 'hash' | 'seq'>): string {
  const content = canonicalJson({
    at: entry.at,
    actor: entry.actor,
    actorRole: entry.actorRole,
    action: entry.action,
    subject: entry.subject,
    flagged: entry.flagged,
    details: entry.details,
  });
  return crypto.createHash('sha256').update(`${entry.prevHash}\n${content}`, 'utf8').digest('hex');
}
