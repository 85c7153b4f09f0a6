/**
 * Prescriptions (处方), under the rules: written by the practitioner in
 * person, and nothing released before a pharmacist's review (药师审核).
 *
 * - There is exactly one way to create a prescription: the signaling
 *   request `prescription:create`, from the live, admitted connection of a
 *   verified practitioner of the visit (the requesting doctor, or the
 *   accepted expert of the visit or of an open escalation of it), while the
 *   visit is in progress and while that connection is sending a live (not
 *   paused) camera: the practitioner is seen in the visit when writing it
 *   (IN_PERSON_REQUIRED otherwise). A bearer token alone, used from a
 *   script, joins no camera. No REST route, no batch, no other account
 *   creates one. The prescription records the room, participant and
 *   connection it was written in, and is signed with the practitioner's
 *   certificate.
 * - Narcotic and psychotropic medicines are refused (controlledDrugs.ts).
 * - It starts `pending_review`. Only a verified pharmacist of either
 *   institution, never the prescriber, approves or rejects it. Views for
 *   anyone but the practitioners show approved prescriptions only.
 */
import crypto from 'node:crypto';
import type { Identity } from '../../edge/auth/identity.ts';
import { ForbiddenError, HuizhenError, InvalidStateError, NotFoundError, ValidationError } from '../../errors.ts';
import { controlledSubstance } from './controlledDrugs.ts';
import type { PrescriptionItem, PrescriptionView } from '../../protocol/consultation.ts';
import type { Database } from '../../storage/db/Database.ts';
import type { ConsultationRepository, StoredConsultation, StoredPrescription } from '../../storage/repositories/ConsultationRepository.ts';
import type { AuditSink } from '../audit/AuditTrail.ts';
import type { DirectoryService } from '../directory/DirectoryService.ts';

export interface InPersonSession {
  identity: Identity;
  roomId: string;
  peerId: string;
  connectionId: string;
  /** Whether this connection is admitted and sending a live (unpaused) camera in the room now. */
  onCamera: boolean;
}

/** The practitioner is not on camera in the visit: a prescription is written in person. */
export class InPersonRequiredError extends HuizhenError {
  constructor(message: string) {
    super('IN_PERSON_REQUIRED', 403, message);
  }
}

export class PrescriptionService {
  readonly #deps: { db: Database; consultations: ConsultationRepository; directory: DirectoryService; audit: AuditSink };

  constructor(deps: { db: Database; consultations: ConsultationRepository; directory: DirectoryService; audit: AuditSink }) {
    this.#deps = deps;
  }

  /** Only from a live visit connection (the signaling handler is the sole caller). */
  async create(session: InPersonSession, items: PrescriptionItem[]): Promise<PrescriptionView> {
    const { identity } = session;
    for (const item of items) {
      const controlled = controlledSubstance(item.drug);
      if (controlled) throw new ValidationError(`${item.drug}: narcotic and psychotropic medicines (${controlled}) cannot be prescribed online`);
    }
    const rows = await this.#deps.consultations.byRoom(session.roomId);
    const visit = rows.find((c) => c.parentId === null);
    if (!visit) throw new ForbiddenError('Prescriptions are written in a consultation visit.');
    if (visit.status !== 'in_progress') throw new InvalidStateError('the visit is not in progress');
    // The consultation it is written under: the visit itself (in progress), or an
    // open escalation of it whose expert has accepted — never a cancelled,
    // completed or unaccepted one.
    const open = (c: StoredConsultation) => c.acceptedAt !== null && (c === visit ? c.status === 'in_progress' : c.parentId === visit.consultationId && c.status === 'accepted');
    const own = rows.find((c) => c.expertId === identity.userId && open(c)) ?? (visit.requesterId === identity.userId ? visit : undefined);
    if (!own) throw new ForbiddenError('Only a practitioner of this visit writes its prescriptions.');
    const practitioner = await this.#deps.directory.requireVerified(identity.userId);
    if (practitioner.profession === 'pharmacist') throw new ForbiddenError('Pharmacists review prescriptions; they do not write them.');
    if (!session.onCamera) throw new InPersonRequiredError('turn your camera on: a prescription is written by the practitioner seen in the visit');
    const prescriptionId = `rx-${crypto.randomUUID()}`;
    const createdAt = new Date();
    const body = { format: 'huizhen-prescription/1', prescriptionId, consultationId: own.consultationId, prescriberId: identity.userId, items, createdAt: createdAt.toISOString() };
    const { signature } = await this.#deps.directory.signAs(identity.userId, body);
    const stored: StoredPrescription = {
      prescriptionId,
      consultationId: own.consultationId,
      prescriberId: identity.userId,
      items,
      status: 'pending_review',
      createdIn: { roomId: session.roomId, peerId: session.peerId, connectionId: session.connectionId },
      signature,
      createdAt,
      reviewedBy: null,
      reviewedAt: null,
      reviewComment: null,
    };
    await this.#deps.db.transaction(async (tx) => {
      await this.#deps.consultations.insertPrescription(stored, tx);
      await this.#deps.audit.append(
        { action: 'prescription.created', actor: identity.userId, actorRole: identity.role, subject: `consultation:${own.consultationId}`, details: { prescriptionId, items: items.length, peerId: session.peerId, connectionId: session.connectionId, onCamera: true } },
        tx,
      );
    });
    return prescriptionView(stored);
  }

  async review(identity: Identity, prescriptionId: string, input: { decision: 'approve' | 'reject'; comment: string }): Promise<PrescriptionView> {
    const pharmacist = await this.#deps.directory.requireVerified(identity.userId);
    if (pharmacist.profession !== 'pharmacist') throw new ForbiddenError('Only a pharmacist reviews prescriptions.');
    const result = await this.#deps.db.transaction(async (tx) => {
      const p = await this.#deps.consultations.prescription(prescriptionId, tx, true);
      if (!p) throw new NotFoundError('no such prescription');
      const c = await this.#deps.consultations.get(p.consultationId, tx);
      if (!c || (pharmacist.institutionId !== c.requestingInstitutionId && pharmacist.institutionId !== c.invitedInstitutionId)) throw new NotFoundError('no such prescription');
      if (p.prescriberId === identity.userId) throw new ForbiddenError('Nobody reviews their own prescription.');
      if (p.status !== 'pending_review') throw new InvalidStateError(`the prescription was already ${p.status}`);
      const status = input.decision === 'approve' ? 'approved' : 'rejected';
      await this.#deps.consultations.reviewPrescription(tx, prescriptionId, { status, by: identity.userId, comment: input.comment });
      await this.#deps.audit.append(
        { action: 'prescription.reviewed', actor: identity.userId, actorRole: identity.role, subject: `consultation:${p.consultationId}`, details: { prescriptionId, decision: status, comment: input.comment } },
        tx,
      );
      return prescriptionId;
    });
    return prescriptionView((await this.#deps.consultations.prescription(result))!);
  }

  /** Prescriptions waiting for this pharmacist's institution. */
  async pendingFor(identity: Identity): Promise<PrescriptionView[]> {
    const pharmacist = await this.#deps.directory.requireVerified(identity.userId);
    if (pharmacist.profession !== 'pharmacist') throw new ForbiddenError('Only a pharmacist reviews prescriptions.');
    const r = await this.#deps.db.query<{ prescription_id: string }>(
      `SELECT p.prescription_id FROM prescriptions p JOIN consultations c ON c.consultation_id = p.consultation_id
       WHERE p.status = 'pending_review' AND (c.requesting_institution_id = $1 OR c.invited_institution_id = $1) ORDER BY p.created_at`,
      [pharmacist.institutionId],
    );
    const out: PrescriptionView[] = [];
    for (const row of r.rows) out.push(prescriptionView((await this.#deps.consultations.prescription(row.prescription_id))!));
    return out;
  }
}

/** A stored prescription as the API shows it. */
export function prescriptionView(p: StoredPrescription): PrescriptionView {
  return {
    prescriptionId: p.prescriptionId,
    prescriberId: p.prescriberId,
    items: p.items,
    status: p.status,
    createdAt: p.createdAt.toISOString(),
    reviewedBy: p.reviewedBy,
    reviewedAt: p.reviewedAt?.toISOString() ?? null,
    reviewComment: p.reviewComment,
  };
}
