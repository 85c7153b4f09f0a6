/**
 * Consultations (会诊) and the rules of internet diagnosis, in code:
 *
 * - Only verified, unsuspended practitioners take part (DirectoryService).
 * - The department must be approved for both institutions and covered by a
 *   cooperation agreement in force (DEPARTMENT_NOT_COVERED).
 * - Follow-ups only: no request is sent, no visit scheduled or opened,
 *   without a prior diagnosis document (FOLLOW_UP_ONLY); the receiving
 *   expert confirms follow-up eligibility before the room opens, or
 *   terminates with a reason code and a referral to an in-person clinic.
 * - History only after accepting: before the assigned expert has accepted,
 *   views leave out everything that identifies the patient; the documents
 *   and the patient's past consultations open only to the accepted expert
 *   (NOT_ACCEPTED). Every view is audited.
 * - The opinion is signed with the expert's certificate; a completed or
 *   terminated consultation is reported to the supervision platform
 *   through the outbox, in the same transaction.
 */
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { Identity } from '../../edge/auth/identity.ts';
import { ForbiddenError, HuizhenError, InvalidStateError, NotFoundError, ValidationError } from '../../errors.ts';
import type { KeyEncryptionService } from '../../pki/KeyEncryptionService.ts';
import { openItem, sealItem } from '../../pki/sealedSecret.ts';
import type {
  ConsultationActions,
  ConsultationSummary,
  ConsultationView,
  DocumentKind,
  PatientDetails,
  TerminationReason,
} from '../../protocol/consultation.ts';
import type { Database, Queryable } from '../../storage/db/Database.ts';
import type { ObjectStore } from '../../storage/objects/ObjectStore.ts';
import { ConsultationRepository, type StoredConsultation, type StoredDocument } from '../../storage/repositories/ConsultationRepository.ts';
import type { StoredPractitioner } from '../../storage/repositories/DirectoryRepository.ts';
import type { AuditSink } from '../audit/AuditTrail.ts';
import type { DirectoryService } from '../directory/DirectoryService.ts';
import { enqueueSupervisionEvent } from '../supervision/SupervisionOutbox.ts';
import { allowedFrom, nextStatus, type ConsultationCommand } from './consultationState.ts';
import { prescriptionView } from './PrescriptionService.ts';

export class DepartmentNotCoveredError extends HuizhenError {
  constructor(message: string) {
    super('DEPARTMENT_NOT_COVERED', 409, message);
  }
}

export class NotAcceptedError extends HuizhenError {
  constructor(message: string) {
    super('NOT_ACCEPTED', 403, message);
  }
}

export interface ConsultationServiceDeps {
  db: Database;
  directory: DirectoryService;
  kek: KeyEncryptionService;
  store: ObjectStore;
  audit: AuditSink;
  log: Logger;
  /** Medical records are kept this long (15 years). */
  recordRetentionYears: number;
  /** Called when a visit's room must close (terminated, completed). */
  onRoomClosed?: (roomId: string) => void;
}

const YEAR_MS = 365.25 * 24 * 3600 * 1000;
/** For steps whose checks run inside the transaction (passing `tx` to the directory). */
const ALREADY_IN_STEP = async (): Promise<void> => undefined;
const documentContext = (consultationId: string, documentId: string) => `consultation-document:${consultationId}:${documentId}`;

type Relation = 'requester' | 'expert' | 'invited_admin' | 'invited_colleague' | 'none';

export class ConsultationService {
  readonly repository: ConsultationRepository;
  readonly #deps: ConsultationServiceDeps;
  readonly #log: Logger;

  constructor(deps: ConsultationServiceDeps) {
    this.#deps = deps;
    this.repository = new ConsultationRepository(deps.db);
    this.#log = deps.log.child({ component: 'consultations' });
  }

  // --- Requesting side --------------------------------------------------------

  async draft(
    identity: Identity,
    input: { invitedInstitutionId: string; department: string; patient: PatientDetails; summary: ConsultationSummary },
  ): Promise<ConsultationView> {
    const requester = await this.#practitioner(identity);
    if (requester.profession === 'pharmacist') throw new ForbiddenError('Pharmacists do not request consultations.');
    if (input.invitedInstitutionId === requester.institutionId) throw new ValidationError('invite another institution');
    const agreementId = await this.#coveringAgreement(requester.institutionId, input.invitedInstitutionId, input.department);
    const consultationId = `cons-${crypto.randomUUID()}`;
    const c: StoredConsultation = {
      consultationId,
      parentId: null,
      status: 'draft',
      requestingInstitutionId: requester.institutionId,
      requesterId: requester.practitionerId,
      invitedInstitutionId: input.invitedInstitutionId,
      agreementId,
      department: input.department,
      patient: input.patient,
      patientKey: patientKey(requester.institutionId, input.patient.mrn),
      summary: input.summary,
      consent: null,
      expertId: null,
      acceptedBy: null,
      acceptedAt: null,
      slotStart: null,
      slotEnd: null,
      roomId: `visit-${consultationId.slice(5)}`,
      followUpConfirmedBy: null,
      followUpConfirmedAt: null,
      termination: null,
      cancellation: null,
      createdAt: new Date(),
      requestedAt: null,
      endedAt: null,
    };
    await this.#deps.db.transaction(async (tx) => {
      await this.repository.insert(c, tx);
      await this.#audit(tx, identity, 'consultation.drafted', c, { invited: c.invitedInstitutionId, department: c.department });
    });
    return this.view(identity, consultationId, { audit: false });
  }

  /** A prior diagnosis document, sealed into object storage under its own key. */
  async uploadDocument(identity: Identity, id: string, input: { kind: DocumentKind; fileName: string; contentType: string; data: Buffer }): Promise<ConsultationView> {
    const c = await this.#get(id);
    await this.#requireRequester(identity, c);
    if (c.status !== 'draft' && c.status !== 'requested') throw new InvalidStateError('documents are added before the consultation is accepted');
    if (input.data.length === 0) throw new ValidationError('the document is empty');
    const documentId = `doc-${crypto.randomUUID()}`;
    const sealed = await sealItem(this.#deps.kek, documentContext(id, documentId), input.data);
    const objectKey = `consultations/${id}/documents/${documentId}.sealed`;
    await this.#deps.store.put(objectKey, sealed.sealed, { contentType: 'application/octet-stream', retainUntil: new Date(Date.now() + this.#deps.recordRetentionYears * YEAR_MS) });
    const doc: StoredDocument = {
      documentId,
      consultationId: id,
      kind: input.kind,
      fileName: input.fileName,
      contentType: input.contentType,
      bytes: input.data.length,
      sha256: crypto.createHash('sha256').update(input.data).digest('hex'),
      objectKey,
      key: sealed.key,
      uploadedBy: identity.userId,
      uploadedAt: new Date(),
    };
    await this.#deps.db.transaction(async (tx) => {
      await this.repository.insertDocument(doc, tx);
      await this.#audit(tx, identity, 'consultation.document_uploaded', c, { documentId, kind: input.kind, bytes: doc.bytes, sha256: doc.sha256 });
    });
    return this.view(identity, id, { audit: false });
  }

  async recordConsent(identity: Identity, id: string, input: { method: 'written' | 'verbal_witnessed' | 'in_app'; textVersion: string }): Promise<ConsultationView> {
    const c = await this.#get(id);
    await this.#requireRequester(identity, c);
    if (c.status !== 'draft') throw new InvalidStateError('consent is recorded while the request is a draft');
    const consent = { method: input.method, recordedBy: identity.userId, at: new Date().toISOString(), textVersion: input.textVersion };
    await this.#deps.db.transaction(async (tx) => {
      await this.repository.update(tx, id, { consent });
      await this.#audit(tx, identity, 'consultation.consent_recorded', c, { method: input.method, textVersion: input.textVersion });
    });
    return this.view(identity, id, { audit: false });
  }

  async submit(identity: Identity, id: string): Promise<ConsultationView> {
    return this.#step(identity, id, 'submit', ALREADY_IN_STEP, async (c, tx) => {
      await this.#requireRequester(identity, c, tx);
      // The agreement must still be in force when the request goes out.
      const agreementId = await this.#coveringAgreement(c.requestingInstitutionId, c.invitedInstitutionId, c.department, tx);
      await this.repository.update(tx, id, { status: 'requested', requestedAt: new Date(), agreementId });
      return { action: 'consultation.requested', details: { invited: c.invitedInstitutionId, department: c.department } };
    });
  }

  // --- Invited side --------------------------------------------------------------

  /** The invited institution accepts and assigns an expert of the consultation's department. */
  async accept(identity: Identity, id: string, input: { expertId: string }): Promise<ConsultationView> {
    const expert = await this.#deps.directory.requireVerified(input.expertId);
    return this.#step(identity, id, 'accept', async (c) => {
      this.#requireInvitedAdmin(identity, c);
    }, async (c, tx) => {
      if (expert.institutionId !== c.invitedInstitutionId) throw new ValidationError('the expert must belong to the invited institution');
      if (expert.department !== c.department) throw new DepartmentNotCoveredError(`the expert works in ${expert.department}, the consultation is for ${c.department}`);
      if (expert.profession === 'pharmacist' || expert.profession === 'village_doctor') throw new ValidationError('assign a physician or specialist');
      await this.repository.update(tx, id, { status: 'accepted', expertId: expert.practitionerId, acceptedBy: identity.userId, acceptedAt: new Date() });
      return { action: 'consultation.accepted', details: { expertId: expert.practitionerId } };
    }, { hasExpert: true });
  }

  async schedule(identity: Identity, id: string, input: { start: Date; end: Date }): Promise<ConsultationView> {
    if (!(input.end > input.start)) throw new ValidationError('the slot must end after it starts');
    if (input.end.getTime() - input.start.getTime() > 8 * 3600_000) throw new ValidationError('a slot lasts at most 8 hours');
    return this.#step(identity, id, 'schedule', async (c) => {
      if (!(this.#isInvitedAdmin(identity, c) || identity.userId === c.expertId)) throw new ForbiddenError('The invited institution or its assigned expert schedules the visit.');
    }, async (c, tx) => {
      await this.repository.update(tx, id, { status: 'scheduled', slotStart: input.start, slotEnd: input.end });
      return { action: 'consultation.scheduled', details: { start: input.start.toISOString(), end: input.end.toISOString() } };
    });
  }

  /** The receiving expert confirms the visit is a follow-up; the room opens. */
  async confirmFollowUp(identity: Identity, id: string): Promise<ConsultationView> {
    return this.#step(identity, id, 'confirm_follow_up', ALREADY_IN_STEP, async (c, tx) => {
      await this.#requireExpert(identity, c, tx);
      await this.repository.update(tx, id, { status: 'in_progress', followUpConfirmedBy: identity.userId, followUpConfirmedAt: new Date() });
      return { action: 'consultation.follow_up_confirmed', details: { roomId: c.roomId } };
    });
  }

  /** 终止并引导线下就诊: a first visit, a changed condition, or not suitable for remote care. */
  async terminate(
    identity: Identity,
    id: string,
    input: { reason: TerminationReason; note: string; referral: { institution: string; department: string; advice: string } },
  ): Promise<ConsultationView> {
    const view = await this.#step(identity, id, 'terminate', ALREADY_IN_STEP, async (c, tx) => {
      await this.#requireExpert(identity, c, tx);
      const at = new Date();
      const termination = { ...input, by: identity.userId, at: at.toISOString() };
      await this.repository.update(tx, id, { status: 'terminated', termination, endedAt: at, retainUntil: this.#retainUntil(at) });
      await enqueueSupervisionEvent(tx, 'consultation.terminated', supervisionPayload({ ...c, status: 'terminated', termination, endedAt: at }, null));
      return { action: 'consultation.terminated', details: { reason: input.reason, referralInstitution: input.referral.institution, referralDepartment: input.referral.department } };
    });
    const c = await this.#get(id);
    this.#deps.onRoomClosed?.(c.roomId);
    return view;
  }

  /** The expert's opinion (会诊意见), signed with the expert's own certificate. */
  async signOpinion(identity: Identity, id: string, input: { opinion: string; recommendations: string }): Promise<ConsultationView> {
    const c = await this.#get(id);
    await this.#requireExpert(identity, c);
    if (c.status !== 'in_progress') throw new InvalidStateError('the opinion is written during the visit');
    const signedAt = new Date();
    const body = opinionBody(c, identity.userId, input, signedAt);
    const { signature, certificatePem } = await this.#deps.directory.signAs(identity.userId, body);
    await this.#deps.db.transaction(async (tx) => {
      await this.repository.insertOpinion({ consultationId: id, expertId: identity.userId, body: input, signedAt, signature, certificatePem }, tx);
      await this.#audit(tx, identity, 'consultation.opinion_signed', c, { certificateSerial: new crypto.X509Certificate(certificatePem).serialNumber, signature: signature.slice(0, 32) });
    });
    return this.view(identity, id, { audit: false });
  }

  async complete(identity: Identity, id: string): Promise<ConsultationView> {
    const view = await this.#step(identity, id, 'complete', ALREADY_IN_STEP, async (c, tx) => {
      await this.#requireExpert(identity, c, tx);
      const at = new Date();
      const opinion = await this.repository.opinion(id, tx);
      await this.repository.update(tx, id, { status: 'completed', endedAt: at, retainUntil: this.#retainUntil(at) });
      await enqueueSupervisionEvent(tx, 'consultation.completed', supervisionPayload({ ...c, status: 'completed', endedAt: at }, opinion ? { signature: opinion.signature, certificatePem: opinion.certificatePem, body: opinion.body } : null));
      return { action: 'consultation.completed', details: {} };
    });
    const c = await this.#get(id);
    this.#deps.onRoomClosed?.(c.roomId);
    return view;
  }

  async cancel(identity: Identity, id: string, reason: string): Promise<ConsultationView> {
    return this.#step(identity, id, 'cancel', async (c) => {
      if (identity.userId !== c.requesterId && !(this.#isInvitedAdmin(identity, c) && c.status !== 'draft')) throw new ForbiddenError('The requester, or the invited institution (declining), cancels.');
    }, async (c, tx) => {
      const requester = identity.userId === c.requesterId;
      const at = new Date();
      await this.repository.update(tx, id, { status: 'cancelled', cancellation: { by: identity.userId, reason, at: at.toISOString() }, endedAt: at, retainUntil: this.#retainUntil(at) });
      return { action: 'consultation.cancelled', details: { reason, by: requester ? 'requester' : 'invited_institution' } };
    });
  }

  /**
   * During a visit the host invites another institution's expert: a new
   * consultation linked to this one, sharing its room and documents, which
   * the invited institution accepts like any other.
   */
  async escalate(identity: Identity, id: string, input: { invitedInstitutionId: string; department: string; question: string }): Promise<ConsultationView> {
    const parent = await this.#get(id);
    await this.#requireRequester(identity, parent);
    if (parent.status !== 'in_progress') throw new InvalidStateError('escalate during the visit');
    const agreementId = await this.#coveringAgreement(parent.requestingInstitutionId, input.invitedInstitutionId, input.department);
    const childId = `cons-${crypto.randomUUID()}`;
    const now = new Date();
    const child: StoredConsultation = {
      ...parent,
      consultationId: childId,
      parentId: parent.consultationId,
      status: 'requested',
      invitedInstitutionId: input.invitedInstitutionId,
      agreementId,
      department: input.department,
      summary: { ...parent.summary, question: input.question },
      expertId: null,
      acceptedBy: null,
      acceptedAt: null,
      slotStart: null,
      slotEnd: null,
      followUpConfirmedBy: null,
      followUpConfirmedAt: null,
      termination: null,
      cancellation: null,
      createdAt: now,
      requestedAt: now,
      endedAt: null,
    };
    await this.#deps.db.transaction(async (tx) => {
      await this.repository.insert(child, tx);
      await this.#audit(tx, identity, 'consultation.escalated', parent, { childId, invited: input.invitedInstitutionId, department: input.department });
    });
    return this.view(identity, childId, { audit: false });
  }

  // --- Reading ----------------------------------------------------------------

  /** One consultation as the caller may see it; every view is audited. */
  async view(identity: Identity, id: string, options: { audit?: boolean } = {}): Promise<ConsultationView> {
    const c = await this.#get(id);
    const relation = await this.#relation(identity, c);
    if (relation === 'none') throw new NotFoundError('no such consultation');
    const full = relation === 'requester' || (relation === 'expert' && c.acceptedAt !== null);
    const [documents, opinion, prescriptions, history, institutions] = await Promise.all([
      this.repository.documents(c),
      this.repository.opinion(id),
      this.repository.prescriptions(id),
      full ? this.repository.history(c.patientKey, id) : Promise.resolve([]),
      Promise.all([this.#deps.directory.repository.institution(c.requestingInstitutionId), this.#deps.directory.repository.institution(c.invitedInstitutionId)]),
    ]);
    const [requester, expert] = await Promise.all([
      this.#deps.directory.repository.practitioner(c.requesterId),
      c.expertId ? this.#deps.directory.repository.practitioner(c.expertId) : Promise.resolve(null),
    ]);
    const historyOpinions = full ? await Promise.all(history.map((h) => this.repository.opinion(h.consultationId))) : [];
    if (options.audit !== false) {
      this.#deps.audit.record({ action: 'consultation.viewed', actor: identity.userId, actorRole: identity.role, subject: `consultation:${id}`, details: { scope: full ? 'full' : 'outline', relation } });
    }
    const opinionView = opinion
      ? {
          expertId: opinion.expertId,
          expertName: (await this.#deps.directory.repository.practitioner(opinion.expertId))?.name ?? opinion.expertId,
          body: opinion.body,
          signedAt: opinion.signedAt.toISOString(),
          certificateSerial: new crypto.X509Certificate(opinion.certificatePem).serialNumber,
          verified: await this.verifyOpinion(id),
        }
      : null;
    return {
      consultationId: c.consultationId,
      parentId: c.parentId,
      status: c.status,
      scope: full ? 'full' : 'outline',
      requestingInstitution: { institutionId: c.requestingInstitutionId, name: institutions[0]?.name ?? c.requestingInstitutionId },
      requester: { practitionerId: c.requesterId, name: requester?.name ?? c.requesterId },
      invitedInstitution: { institutionId: c.invitedInstitutionId, name: institutions[1]?.name ?? c.invitedInstitutionId },
      department: c.department,
      patient: full ? c.patient : null,
      patientOutline: { sex: c.patient.sex, ageYears: ageYears(c.patient.birthDate) },
      summary: c.summary,
      consent: c.consent ? { method: c.consent.method, recordedBy: c.consent.recordedBy, at: c.consent.at } : null,
      expert: expert ? { practitionerId: expert.practitionerId, name: expert.name } : null,
      slot: c.slotStart && c.slotEnd ? { start: c.slotStart.toISOString(), end: c.slotEnd.toISOString() } : null,
      roomId: c.roomId,
      followUpConfirmedAt: c.followUpConfirmedAt?.toISOString() ?? null,
      termination: c.termination,
      cancellation: c.cancellation,
      documents: full
        ? documents.map((d) => ({ documentId: d.documentId, kind: d.kind, fileName: d.fileName, contentType: d.contentType, bytes: d.bytes, uploadedAt: d.uploadedAt.toISOString() }))
        : [],
      documentKinds: documents.map((d) => d.kind),
      opinion: opinionView,
      prescriptions: prescriptions.filter((p) => full || p.status === 'approved').map(prescriptionView),
      history: history.map((h, i) => ({
        consultationId: h.consultationId,
        status: h.status,
        department: h.department,
        createdAt: h.createdAt.toISOString(),
        opinion: historyOpinions[i]?.body.opinion ?? null,
      })),
      createdAt: c.createdAt.toISOString(),
      actions: this.#actions(identity, c, relation, documents.length, opinion !== null),
    };
  }

  /** A document's plaintext, for the requester or the accepted expert; audited. */
  async document(identity: Identity, id: string, documentId: string): Promise<{ doc: StoredDocument; data: Buffer }> {
    const c = await this.#get(id);
    const relation = await this.#relation(identity, c);
    if (relation === 'none') throw new NotFoundError('no such consultation');
    if (!(relation === 'requester' || (relation === 'expert' && c.acceptedAt !== null))) throw new NotAcceptedError('documents open to the expert after accepting the consultation');
    const doc = (await this.repository.documents(c)).find((d) => d.documentId === documentId);
    if (!doc) throw new NotFoundError('no such document');
    const sealed = await this.#deps.store.getBuffer(doc.objectKey);
    await this.#deps.audit.append({ action: 'key.unwrapped', actor: identity.userId, actorRole: identity.role, subject: `consultation:${id}`, details: { key: 'document', purpose: 'view_document', documentId } });
    const data = await openItem(this.#deps.kek, documentContext(doc.consultationId, doc.documentId), { sealed, key: doc.key });
    this.#deps.audit.record({ action: 'consultation.document_viewed', actor: identity.userId, actorRole: identity.role, subject: `consultation:${id}`, details: { documentId, kind: doc.kind } });
    return { doc, data };
  }

  /**
   * Who the caller is in the visit's room — host (the requesting doctor) or
   * expert (the assigned expert) — for a visit token; only while the visit
   * is in progress and only for verified practitioners.
   */
  async visitRole(identity: Identity, id: string): Promise<{ roomId: string; role: 'host' | 'expert'; displayName: string }> {
    const c = await this.#get(id);
    const root = c.parentId ? await this.#get(c.parentId) : c;
    if (root.status !== 'in_progress') throw new InvalidStateError('the visit is not open');
    const p = await this.#deps.directory.requireVerified(identity.userId);
    if (identity.userId === root.requesterId) return { roomId: root.roomId, role: 'host', displayName: p.name };
    if (identity.userId === c.expertId && c.acceptedAt !== null) return { roomId: root.roomId, role: 'expert', displayName: p.name };
    throw new ForbiddenError('You take no part in this visit.');
  }

  /** The patient's past consultations: only after accepting. */
  async history(identity: Identity, id: string): Promise<ConsultationView['history']> {
    const c = await this.#get(id);
    const relation = await this.#relation(identity, c);
    if (relation === 'none') throw new NotFoundError('no such consultation');
    if (!(relation === 'requester' || (relation === 'expert' && c.acceptedAt !== null))) throw new NotAcceptedError('the patient’s history opens after accepting the consultation');
    return (await this.view(identity, id)).history;
  }

  async inbox(identity: Identity): Promise<ConsultationView[]> {
    const filter =
      identity.role === 'institution_admin' && identity.institutionId
        ? { invitedInstitutionId: identity.institutionId }
        : { requesterId: identity.userId, expertId: identity.userId };
    const rows = (await this.repository.list(filter)).filter((c) => c.status !== 'draft' || c.requesterId === identity.userId);
    const views: ConsultationView[] = [];
    for (const c of rows) views.push(await this.view(identity, c.consultationId, { audit: false }));
    return views;
  }

  /** Whether the stored opinion verifies against its text and the expert's institution CA. */
  async verifyOpinion(id: string): Promise<boolean> {
    const c = await this.#get(id);
    const opinion = await this.repository.opinion(id);
    if (!opinion) return false;
    const expert = await this.#deps.directory.repository.practitioner(opinion.expertId);
    if (!expert) return false;
    return this.#deps.directory.verifySignature(opinionBody(c, opinion.expertId, opinion.body, opinion.signedAt), opinion.signature, opinion.certificatePem, expert.institutionId, opinion.signedAt);
  }

  // --- Internals --------------------------------------------------------------------

  /**
   * One step of the state machine: `authorize` runs first, outside the
   * transaction (it may consult the directory); then, in one transaction
   * with the consultation's row locked, the transition is checked, `apply`
   * changes the row (through `tx` only) and the step is audited.
   */
  async #step(
    identity: Identity,
    id: string,
    command: ConsultationCommand,
    authorize: (c: StoredConsultation) => Promise<void>,
    apply: (c: StoredConsultation, tx: Queryable) => Promise<{ action: Parameters<AuditSink['append']>[0]['action']; details: Record<string, string | null> }>,
    extra: { hasExpert?: boolean } = {},
  ): Promise<ConsultationView> {
    await authorize(await this.#get(id));
    await this.#deps.db.transaction(async (tx) => {
      const c = await this.repository.get(id, tx, true);
      if (!c) throw new NotFoundError('no such consultation');
      const documents = (await this.repository.documents(c, tx)).length;
      const hasOpinion = (await this.repository.opinion(id, tx)) !== null;
      nextStatus(
        { status: c.status, documents, hasConsent: c.consent !== null, hasExpert: extra.hasExpert ?? c.expertId !== null, hasSlot: c.slotStart !== null, hasOpinion },
        command,
      );
      const { action, details } = await apply(c, tx);
      await this.#audit(tx, identity, action, c, details);
    });
    this.#log.info({ consultationId: id, command, by: identity.userId }, 'consultation step');
    return this.view(identity, id, { audit: false });
  }

  /** Medical records are kept `recordRetentionYears` (15) after the consultation ends. */
  #retainUntil(endedAt: Date): Date {
    return new Date(endedAt.getTime() + this.#deps.recordRetentionYears * YEAR_MS);
  }

  async #get(id: string): Promise<StoredConsultation> {
    const c = await this.repository.get(id);
    if (!c) throw new NotFoundError('no such consultation');
    return c;
  }

  #audit(tx: Queryable, identity: Identity, action: Parameters<AuditSink['append']>[0]['action'], c: StoredConsultation, details: Record<string, string | number | null>) {
    return this.#deps.audit.append({ action, actor: identity.userId, actorRole: identity.role, subject: `consultation:${c.consultationId}`, details }, tx);
  }

  async #practitioner(identity: Identity): Promise<StoredPractitioner> {
    if (identity.role === 'patient' || identity.role === 'observer') throw new ForbiddenError('Practitioners only.');
    return this.#deps.directory.requireVerified(identity.userId);
  }

  /** `tx`: the step's transaction, when called inside one (see DirectoryService.requireVerified). */
  async #requireRequester(identity: Identity, c: StoredConsultation, tx?: Queryable): Promise<void> {
    if (identity.userId !== c.requesterId) throw new ForbiddenError('Only the requesting doctor does this.');
    await this.#deps.directory.requireVerified(identity.userId, tx);
  }

  async #requireExpert(identity: Identity, c: StoredConsultation, tx?: Queryable): Promise<void> {
    if (identity.userId !== c.expertId) throw new ForbiddenError('Only the assigned expert does this.');
    await this.#deps.directory.requireVerified(identity.userId, tx);
  }

  #isInvitedAdmin(identity: Identity, c: StoredConsultation): boolean {
    return identity.role === 'institution_admin' && identity.institutionId === c.invitedInstitutionId;
  }

  #requireInvitedAdmin(identity: Identity, c: StoredConsultation): void {
    if (!this.#isInvitedAdmin(identity, c)) throw new ForbiddenError('The invited institution’s administrator accepts and assigns the expert.');
  }

  async #relation(identity: Identity, c: StoredConsultation): Promise<Relation> {
    if (identity.userId === c.requesterId) return 'requester';
    if (identity.userId === c.expertId) return 'expert';
    // A draft is the requester's alone until sent (no consent yet, perhaps): not even the invited institution sees it.
    if (this.#isInvitedAdmin(identity, c) && c.status !== 'draft') return 'invited_admin';
    const p = await this.#deps.directory.repository.practitioner(identity.userId);
    if (p && p.status === 'verified' && p.institutionId === c.invitedInstitutionId && p.department === c.department && c.status !== 'draft') return 'invited_colleague';
    return 'none';
  }

  /** An agreement in force between the institutions covering the department, whose departments both institutions are approved for. */
  async #coveringAgreement(inviting: string, invited: string, department: string, db?: Queryable): Promise<string> {
    const repo = this.#deps.directory.repository;
    const [a, b] = await Promise.all([repo.institution(inviting, db), repo.institution(invited, db)]);
    if (!a || !b) throw new NotFoundError('unknown institution');
    if (!a.departments.includes(department) || !b.departments.includes(department)) {
      throw new DepartmentNotCoveredError(`${department} is not an approved department (诊疗科目) of both institutions`);
    }
    const agreement = (await repo.agreementsBetween(inviting, invited, new Date(), db)).find((x) => x.departments.includes(department));
    if (!agreement) throw new DepartmentNotCoveredError(`no cooperation agreement in force covers ${department} between these institutions`);
    return agreement.agreementId;
  }

  #actions(identity: Identity, c: StoredConsultation, relation: Relation, documents: number, hasOpinion: boolean): ConsultationActions {
    const requester = relation === 'requester';
    const expert = relation === 'expert';
    const admin = relation === 'invited_admin';
    void identity;
    return {
      submit: requester && allowedFrom(c, 'submit'),
      upload: requester && (c.status === 'draft' || c.status === 'requested'),
      cancel: (requester && allowedFrom(c, 'cancel')) || (admin && allowedFrom(c, 'cancel') && c.status !== 'draft'),
      accept: admin && allowedFrom(c, 'accept'),
      schedule: (admin || expert) && allowedFrom(c, 'schedule'),
      confirmFollowUp: expert && allowedFrom(c, 'confirm_follow_up') && documents > 0,
      terminate: expert && allowedFrom(c, 'terminate'),
      writeOpinion: expert && c.status === 'in_progress',
      complete: expert && allowedFrom(c, 'complete') && hasOpinion,
      escalate: requester && c.status === 'in_progress',
      join: c.status === 'in_progress' ? (requester ? 'host' : expert ? 'expert' : null) : null,
    };
  }
}

/** What the expert signs: the opinion bound to its consultation, patient and time. */
export function opinionBody(c: StoredConsultation, expertId: string, input: { opinion: string; recommendations: string }, signedAt: Date) {
  return {
    format: 'huizhen-consultation-opinion/1',
    consultationId: c.consultationId,
    patientKey: c.patientKey,
    department: c.department,
    expertId,
    opinion: input.opinion,
    recommendations: input.recommendations,
    signedAt: signedAt.toISOString(),
  };
}

/** A salted-free stable key for "the same patient": institution and medical record number, hashed. */
export function patientKey(institutionId: string, mrn: string): string {
  return crypto.createHash('sha256').update(`${institutionId}\n${mrn.trim()}`).digest('hex');
}

function ageYears(birthDate: string): number {
  const born = new Date(birthDate);
  const now = new Date();
  let age = now.getUTCFullYear() - born.getUTCFullYear();
  if (now.getUTCMonth() < born.getUTCMonth() || (now.getUTCMonth() === born.getUTCMonth() && now.getUTCDate() < born.getUTCDate())) age -= 1;
  return Math.max(0, age);
}

/** What the supervision platform receives: the consultation's record, identifiers of people as licence-backed ids, the patient as a hash. */
function supervisionPayload(
  c: StoredConsultation,
  opinion: { signature: string; certificatePem: string; body: { opinion: string; recommendations: string } } | null,
): Record<string, unknown> {
  return {
    consultationId: c.consultationId,
    parentId: c.parentId,
    status: c.status,
    requestingInstitutionId: c.requestingInstitutionId,
    invitedInstitutionId: c.invitedInstitutionId,
    department: c.department,
    requesterId: c.requesterId,
    expertId: c.expertId,
    patientKey: c.patientKey,
    patient: { sex: c.patient.sex, ageYears: ageYears(c.patient.birthDate) },
    requestedAt: c.requestedAt?.toISOString() ?? null,
    followUpConfirmedAt: c.followUpConfirmedAt?.toISOString() ?? null,
    endedAt: c.endedAt?.toISOString() ?? null,
    termination: c.termination,
    opinion: opinion ? { sha256: crypto.createHash('sha256').update(JSON.stringify(opinion.body)).digest('hex'), signature: opinion.signature, certificatePem: opinion.certificatePem } : null,
  };
}
