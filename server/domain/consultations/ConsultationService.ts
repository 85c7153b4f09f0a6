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
 *   (NOT_ACCEPTED). Every view of a record is audited; worklists show cards
 *   without patient identifiers, and pages poll a change mark (status and
 *   version) instead of re-reading the record.
 * - Suspension takes effect at once: every read and every step checks that
 *   the requester or expert is still verified (PRACTITIONER_NOT_VERIFIED).
 * - The opinion is signed with the expert's certificate. Amendments are new
 *   signed versions; none is ever overwritten. A completed or terminated
 *   consultation is reported to the supervision platform through the
 *   outbox, in the same transaction, with the opinion in force.
 * - Escalations live inside their visit (consultationState.ts): only the
 *   visit closes the room, and when the visit ends its open escalations
 *   close with it, in the same transaction.
 */
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { Identity } from '../../edge/auth/identity.ts';
import { ForbiddenError, HuizhenError, InvalidStateError, NotFoundError, ValidationError } from '../../errors.ts';
import { certificateSha256, subjectSerialNumber } from '../../pki/certificates.ts';
import type { KeyEncryptionService } from '../../pki/KeyEncryptionService.ts';
import { openItem, sealItem } from '../../pki/sealedSecret.ts';
import type {
  ConsultationActions,
  ConsultationCard,
  ConsultationChange,
  ConsultationSummary,
  ConsultationView,
  DocumentKind,
  OpinionView,
  PatientDetails,
  TerminationReason,
} from '../../protocol/consultation.ts';
import type { Database, Queryable } from '../../storage/db/Database.ts';
import type { ObjectStore } from '../../storage/objects/ObjectStore.ts';
import { ConsultationRepository, type StoredConsultation, type StoredDocument, type StoredOpinion } from '../../storage/repositories/ConsultationRepository.ts';
import type { StoredPractitioner } from '../../storage/repositories/DirectoryRepository.ts';
import type { AuditSink } from '../audit/AuditTrail.ts';
import type { DirectoryService } from '../directory/DirectoryService.ts';
import { enqueueSupervisionEvent } from '../supervision/SupervisionOutbox.ts';
import { allowedFrom, isOpen, nextStatus, opinionOpen, type ConsultationCommand, type ConsultationFacts, type ConsultationKind } from './consultationState.ts';
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
  /** Called when a visit's room must close (the visit terminated or completed; never for an escalation). */
  onRoomClosed?: (roomId: string) => void;
}

const YEAR_MS = 365.25 * 24 * 3600 * 1000;
/** For steps whose checks run inside the transaction (passing `tx` to the directory). */
const ALREADY_IN_STEP = async (): Promise<void> => undefined;
const documentContext = (consultationId: string, documentId: string) => `consultation-document:${consultationId}:${documentId}`;
/** The signed layout of new opinion versions (opinionBody). */
export const OPINION_FORMAT = 'huizhen-consultation-opinion/2';
const kindOf = (c: Pick<StoredConsultation, 'parentId'>): ConsultationKind => (c.parentId === null ? 'visit' : 'escalation');

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
    const now = new Date();
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
      createdAt: now,
      requestedAt: null,
      endedAt: null,
      version: 1,
      updatedAt: now,
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

  /**
   * The invited institution accepts and assigns an expert of the
   * consultation's department. The expert's verification and the
   * cooperation agreement are checked again here, in the step's
   * transaction: either may have lapsed since the request was sent.
   */
  async accept(identity: Identity, id: string, input: { expertId: string }): Promise<ConsultationView> {
    return this.#step(identity, id, 'accept', async (c) => {
      this.#requireInvitedAdmin(identity, c);
    }, async (c, tx) => {
      const expert = await this.#deps.directory.requireVerified(input.expertId, tx);
      if (expert.institutionId !== c.invitedInstitutionId) throw new ValidationError('the expert must belong to the invited institution');
      if (expert.department !== c.department) throw new DepartmentNotCoveredError(`the expert works in ${expert.department}, the consultation is for ${c.department}`);
      if (expert.profession === 'pharmacist' || expert.profession === 'village_doctor') throw new ValidationError('assign a physician or specialist');
      const agreementId = await this.#coveringAgreement(c.requestingInstitutionId, c.invitedInstitutionId, c.department, tx);
      await this.repository.update(tx, id, { status: 'accepted', expertId: expert.practitionerId, acceptedBy: identity.userId, acceptedAt: new Date(), agreementId });
      return { action: 'consultation.accepted', details: { expertId: expert.practitionerId, agreementId } };
    }, { hasExpert: true });
  }

  async schedule(identity: Identity, id: string, input: { start: Date; end: Date }): Promise<ConsultationView> {
    if (!(input.end > input.start)) throw new ValidationError('the slot must end after it starts');
    if (input.end.getTime() - input.start.getTime() > 8 * 3600_000) throw new ValidationError('a slot lasts at most 8 hours');
    return this.#step(identity, id, 'schedule', async (c) => {
      if (!(this.#isInvitedAdmin(identity, c) || identity.userId === c.expertId)) throw new ForbiddenError('The invited institution or its assigned expert schedules the visit.');
    }, async (c, tx) => {
      // The assigned expert may have been suspended since accepting.
      if (!c.expertId) throw new InvalidStateError('assign an expert first');
      await this.#deps.directory.requireVerified(c.expertId, tx);
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

  /** 终止并引导线下就诊: a first visit, a changed condition, or not suitable for remote care. Visits only; open escalations close with it. */
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
      await this.#closeEscalations(tx, identity, c, at);
      return { action: 'consultation.terminated', details: { reason: input.reason, referralInstitution: input.referral.institution, referralDepartment: input.referral.department } };
    });
    await this.#roomEnded(id);
    return view;
  }

  /**
   * The expert's opinion (会诊意见), signed with the expert's own
   * certificate. Signing again during the visit amends it: a new version
   * that supersedes the previous one, which stays (and is shown). The
   * signature covers the version number and the previous version's
   * signature, so versions cannot be reordered or dropped unnoticed.
   */
  async signOpinion(identity: Identity, id: string, input: { opinion: string; recommendations: string }): Promise<ConsultationView> {
    const c = await this.#get(id);
    await this.#requireExpert(identity, c);
    const visit = c.parentId ? await this.#get(c.parentId) : c;
    if (!opinionOpen({ kind: kindOf(c), status: c.status, visitStatus: visit.status })) throw new InvalidStateError('the opinion is written during the visit');
    const expert = await this.#deps.directory.requireVerified(identity.userId);
    const ca = await this.#deps.directory.repository.institutionCa(expert.institutionId);
    if (!ca) throw new InvalidStateError('the expert’s institution has no certificate authority');
    const previous = await this.repository.opinion(id);
    const signedAt = new Date();
    const unsigned = {
      consultationId: id,
      version: (previous?.version ?? 0) + 1,
      bodyFormat: OPINION_FORMAT,
      expertId: identity.userId,
      body: input,
      signedAt,
      issuerInstitutionId: expert.institutionId,
      issuerCaSha256: certificateSha256(ca.certificatePem),
    };
    // Signing reads the key outside the transaction (PGlite has one connection); the transaction then checks nothing moved meanwhile.
    const { signature, certificatePem } = await this.#deps.directory.signAs(identity.userId, opinionBody(c, unsigned, previous?.signature ?? null));
    await this.#deps.db.transaction(async (tx) => {
      const parent = c.parentId ? await this.repository.get(c.parentId, tx, true) : null;
      const now = await this.repository.get(id, tx, true);
      if (!now || now.expertId !== identity.userId) throw new ForbiddenError('Only the assigned expert does this.');
      if (!opinionOpen({ kind: kindOf(now), status: now.status, visitStatus: (parent ?? now).status })) throw new InvalidStateError(`the consultation is ${now.status}: its opinion can no longer be signed or amended`);
      const latest = await this.repository.opinion(id, tx);
      if ((latest?.version ?? 0) !== (previous?.version ?? 0)) throw new InvalidStateError('the opinion was signed again meanwhile; reload it and review before signing');
      await this.repository.insertOpinion({ ...unsigned, signature, certificatePem }, tx);
      await this.#audit(tx, identity, 'consultation.opinion_signed', c, {
        version: unsigned.version,
        supersedes: previous?.version ?? null,
        certificateSerial: new crypto.X509Certificate(certificatePem).serialNumber,
        signature: signature.slice(0, 32),
      });
    });
    return this.view(identity, id, { audit: false });
  }

  /** The expert completes with the signed opinion. A visit closes its room and its open escalations; an escalation leaves the visit running. */
  async complete(identity: Identity, id: string): Promise<ConsultationView> {
    const view = await this.#step(identity, id, 'complete', ALREADY_IN_STEP, async (c, tx) => {
      await this.#requireExpert(identity, c, tx);
      const at = new Date();
      const opinion = await this.repository.opinion(id, tx);
      await this.repository.update(tx, id, { status: 'completed', endedAt: at, retainUntil: this.#retainUntil(at) });
      await enqueueSupervisionEvent(tx, 'consultation.completed', supervisionPayload({ ...c, status: 'completed', endedAt: at }, opinion));
      if (c.parentId === null) await this.#closeEscalations(tx, identity, c, at);
      return { action: 'consultation.completed', details: { opinionVersion: opinion?.version ?? null } };
    });
    await this.#roomEnded(id);
    return view;
  }

  async cancel(identity: Identity, id: string, reason: string): Promise<ConsultationView> {
    return this.#step(identity, id, 'cancel', async (c) => {
      if (identity.userId !== c.requesterId && !(this.#isInvitedAdmin(identity, c) && c.status !== 'draft')) throw new ForbiddenError('The requester, or the invited institution (declining), cancels.');
    }, async (c, tx) => {
      const requester = identity.userId === c.requesterId;
      const at = new Date();
      await this.repository.update(tx, id, { status: 'cancelled', cancellation: { by: identity.userId, reason, at: at.toISOString() }, endedAt: at, retainUntil: this.#retainUntil(at) });
      if (c.parentId === null) await this.#closeEscalations(tx, identity, c, at);
      return { action: 'consultation.cancelled', details: { reason, by: requester ? 'requester' : 'invited_institution' } };
    });
  }

  /**
   * During a visit the host invites another institution's expert: a new
   * consultation linked to this one, sharing its room and documents, under
   * a cooperation agreement of its own. The invited institution accepts it
   * and assigns an expert, who then waits in the visit's lobby to be
   * admitted; there is no schedule of its own (consultationState.ts).
   */
  async escalate(identity: Identity, id: string, input: { invitedInstitutionId: string; department: string; question: string }): Promise<ConsultationView> {
    const parent = await this.#get(id);
    await this.#requireRequester(identity, parent);
    if (parent.parentId !== null) throw new InvalidStateError('escalate from the visit itself, not from an escalation');
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
      version: 1,
      updatedAt: now,
    };
    await this.#deps.db.transaction(async (tx) => {
      // The visit may have ended meanwhile: an escalation of an ended visit would never close.
      const locked = await this.repository.get(id, tx, true);
      if (locked?.status !== 'in_progress') throw new InvalidStateError('escalate during the visit');
      await this.repository.insert(child, tx);
      await this.#audit(tx, identity, 'consultation.escalated', parent, { childId, invited: input.invitedInstitutionId, department: input.department });
    });
    return this.view(identity, childId, { audit: false });
  }

  // --- Reading ----------------------------------------------------------------

  /** One consultation as the caller may see it; audited unless `audit: false` (the answer to the caller's own audited step). */
  async view(identity: Identity, id: string, options: { audit?: boolean } = {}): Promise<ConsultationView> {
    const c = await this.#get(id);
    const relation = await this.#relation(identity, c);
    if (relation === 'none') throw new NotFoundError('no such consultation');
    const full = relation === 'requester' || (relation === 'expert' && c.acceptedAt !== null);
    const [documents, opinions, prescriptions, allHistory, institutions, visit] = await Promise.all([
      this.repository.documents(c),
      this.repository.opinions(id),
      this.repository.prescriptions(id),
      full ? this.repository.history(c.patientKey, id) : Promise.resolve([]),
      Promise.all([this.#deps.directory.repository.institution(c.requestingInstitutionId), this.#deps.directory.repository.institution(c.invitedInstitutionId)]),
      c.parentId ? this.#get(c.parentId) : Promise.resolve(c),
    ]);
    // Another doctor's draft is theirs alone (it has not been sent to anyone).
    const history = allHistory.filter((h) => h.status !== 'draft' || h.requesterId === identity.userId);
    const [requester, expert] = await Promise.all([
      this.#deps.directory.repository.practitioner(c.requesterId),
      c.expertId ? this.#deps.directory.repository.practitioner(c.expertId) : Promise.resolve(null),
    ]);
    const historyOpinions = full ? await Promise.all(history.map((h) => this.repository.opinion(h.consultationId))) : [];
    if (options.audit !== false) {
      this.#deps.audit.record({ action: 'consultation.viewed', actor: identity.userId, actorRole: identity.role, subject: `consultation:${id}`, details: { scope: full ? 'full' : 'outline', relation } });
    }
    const opinionViews: OpinionView[] = [];
    for (const [i, o] of opinions.entries()) opinionViews.push(await this.#opinionView(c, o, opinions[i - 1] ?? null));
    opinionViews.reverse();
    const facts = this.#facts(c, visit, documents.length, opinions.length > 0);
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
      opinion: opinionViews[0] ?? null,
      earlierOpinions: opinionViews.slice(1),
      prescriptions: prescriptions.filter((p) => full || p.status === 'approved').map(prescriptionView),
      history: history.map((h, i) => ({
        consultationId: h.consultationId,
        status: h.status,
        department: h.department,
        createdAt: h.createdAt.toISOString(),
        opinion: historyOpinions[i]?.body.opinion ?? null,
      })),
      createdAt: c.createdAt.toISOString(),
      version: c.version,
      actions: this.#actions(c, relation, facts),
    };
  }

  /**
   * Whether anything changed since `version`: status and version only, for
   * a page that polls. Not a view of the record, so not audited — but only
   * for those who may view the consultation.
   */
  async changes(identity: Identity, id: string): Promise<ConsultationChange> {
    const c = await this.#get(id);
    if ((await this.#relation(identity, c)) === 'none') throw new NotFoundError('no such consultation');
    const mark = await this.repository.changeMark(id);
    if (!mark) throw new NotFoundError('no such consultation');
    return { consultationId: id, status: mark.status, version: mark.version, updatedAt: mark.updatedAt.toISOString() };
  }

  /** A document's plaintext, for the requester or the accepted expert; audited before it is handed out (fails closed). */
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
    await this.#deps.audit.append({ action: 'consultation.document_viewed', actor: identity.userId, actorRole: identity.role, subject: `consultation:${id}`, details: { documentId, kind: doc.kind } });
    return { doc, data };
  }

  /**
   * Who the caller is in the visit's room — host (the requesting doctor) or
   * expert (the assigned expert of the visit, or of an open escalation of
   * it) — for a visit token; only while the visit is in progress and only
   * for verified practitioners.
   */
  async visitRole(identity: Identity, id: string): Promise<{ roomId: string; role: 'host' | 'expert'; displayName: string }> {
    const c = await this.#get(id);
    const root = c.parentId ? await this.#get(c.parentId) : c;
    if (root.status !== 'in_progress') throw new InvalidStateError('the visit is not open');
    const p = await this.#deps.directory.requireVerified(identity.userId);
    if (identity.userId === root.requesterId) return { roomId: root.roomId, role: 'host', displayName: p.name };
    const stillOpen = c.parentId === null || c.status === 'accepted';
    if (identity.userId === c.expertId && c.acceptedAt !== null && stillOpen) return { roomId: root.roomId, role: 'expert', displayName: p.name };
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

  /** The caller's worklist: cards without patient identifiers (opening one is the audited view). */
  async inbox(identity: Identity): Promise<ConsultationCard[]> {
    const admin = identity.role === 'institution_admin' && identity.institutionId !== null;
    // A suspended practitioner's worklist is closed too.
    if (!admin) await this.#practitioner(identity);
    const filter = admin ? { invitedInstitutionId: identity.institutionId! } : { requesterId: identity.userId, expertId: identity.userId };
    const rows = (await this.repository.list(filter)).filter((c) => c.status !== 'draft' || c.requesterId === identity.userId);
    const memo = new Map<string, Promise<unknown>>();
    const once = <T>(key: string, load: () => Promise<T>): Promise<T> => {
      if (!memo.has(key)) memo.set(key, load());
      return memo.get(key) as Promise<T>;
    };
    const cards: ConsultationCard[] = [];
    for (const c of rows) {
      const relation = await this.#relation(identity, c, { verified: true });
      if (relation === 'none') continue;
      cards.push(await this.#card(c, relation, once));
    }
    return cards;
  }

  /** Whether the latest stored opinion verifies (see OpinionView.verified). */
  async verifyOpinion(id: string): Promise<boolean> {
    const c = await this.#get(id);
    const opinions = await this.repository.opinions(id);
    const latest = opinions.at(-1);
    if (!latest) return false;
    return this.#verifyVersion(c, latest, opinions.at(-2) ?? null);
  }

  // --- Internals --------------------------------------------------------------------

  /**
   * One step of the state machine: `authorize` runs first, outside the
   * transaction (it may consult the directory); then, in one transaction
   * with the consultation's row locked (an escalation's visit first: always
   * parent, then child), the transition is checked, `apply` changes the row
   * (through `tx` only) and the step is audited.
   */
  async #step(
    identity: Identity,
    id: string,
    command: ConsultationCommand,
    authorize: (c: StoredConsultation) => Promise<void>,
    apply: (c: StoredConsultation, tx: Queryable) => Promise<{ action: Parameters<AuditSink['append']>[0]['action']; details: Record<string, string | number | null> }>,
    extra: { hasExpert?: boolean } = {},
  ): Promise<ConsultationView> {
    const before = await this.#get(id);
    await authorize(before);
    await this.#deps.db.transaction(async (tx) => {
      const parent = before.parentId ? await this.repository.get(before.parentId, tx, true) : null;
      const c = await this.repository.get(id, tx, true);
      if (!c) throw new NotFoundError('no such consultation');
      const documents = (await this.repository.documents(c, tx)).length;
      const hasOpinion = (await this.repository.opinion(id, tx)) !== null;
      const facts = this.#facts(c, parent ?? c, documents, hasOpinion);
      nextStatus({ ...facts, hasExpert: extra.hasExpert ?? facts.hasExpert }, command);
      const { action, details } = await apply(c, tx);
      await this.#audit(tx, identity, action, c, details);
    });
    this.#log.info({ consultationId: id, command, by: identity.userId }, 'consultation step');
    return this.view(identity, id, { audit: false });
  }

  #facts(c: StoredConsultation, visit: StoredConsultation, documents: number, hasOpinion: boolean): ConsultationFacts {
    return {
      kind: kindOf(c),
      status: c.status,
      visitStatus: visit.status,
      documents,
      hasConsent: c.consent !== null,
      hasExpert: c.expertId !== null,
      hasSlot: c.slotStart !== null,
      hasOpinion,
    };
  }

  /**
   * The visit has ended (in `tx`): each open escalation closes with it —
   * completed, and reported to the supervision platform, when its expert
   * signed an opinion; cancelled otherwise, with a reason the requester and
   * the invited institution see.
   */
  async #closeEscalations(tx: Queryable, identity: Identity, visit: StoredConsultation, at: Date): Promise<void> {
    for (const child of await this.repository.children(visit.consultationId, tx, true)) {
      if (!isOpen(child.status)) continue;
      const opinion = await this.repository.opinion(child.consultationId, tx);
      const documents = (await this.repository.documents(child, tx)).length;
      const to = nextStatus(this.#facts(child, visit, documents, opinion !== null), 'close_with_visit');
      const ended = { endedAt: at, retainUntil: this.#retainUntil(at) };
      if (to === 'completed') {
        await this.repository.update(tx, child.consultationId, { status: 'completed', ...ended });
        await enqueueSupervisionEvent(tx, 'consultation.completed', supervisionPayload({ ...child, status: 'completed', endedAt: at }, opinion));
        await this.#audit(tx, identity, 'consultation.completed', child, { closedWithVisit: visit.consultationId, opinionVersion: opinion?.version ?? null });
      } else {
        const cancellation = { by: identity.userId, reason: 'the visit ended before this escalation gave an opinion', at: at.toISOString(), code: 'visit_ended' as const };
        await this.repository.update(tx, child.consultationId, { status: 'cancelled', cancellation, ...ended });
        await this.#audit(tx, identity, 'consultation.cancelled', child, { reason: 'visit_ended', by: 'visit_ended', closedWithVisit: visit.consultationId });
      }
    }
  }

  /** After a visit ended: its room closes. An escalation's end leaves the visit's room as it is. */
  async #roomEnded(id: string): Promise<void> {
    const c = await this.#get(id);
    if (c.parentId === null) this.#deps.onRoomClosed?.(c.roomId);
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

  /**
   * How the caller stands to the consultation. The requester and the
   * expert must still be verified (a suspension closes the record at once:
   * PRACTITIONER_NOT_VERIFIED); `verified: true` when the caller checked that already.
   */
  async #relation(identity: Identity, c: StoredConsultation, options: { verified?: boolean } = {}): Promise<Relation> {
    if (identity.userId === c.requesterId || identity.userId === c.expertId) {
      if (!options.verified) await this.#deps.directory.requireVerified(identity.userId);
      return identity.userId === c.requesterId ? 'requester' : 'expert';
    }
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

  #actions(c: StoredConsultation, relation: Relation, facts: ConsultationFacts): ConsultationActions {
    const requester = relation === 'requester';
    const expert = relation === 'expert';
    const admin = relation === 'invited_admin';
    const inVisit = facts.kind === 'visit' ? c.status === 'in_progress' : c.status === 'accepted' && facts.visitStatus === 'in_progress';
    return {
      submit: requester && allowedFrom(facts, 'submit'),
      upload: requester && (c.status === 'draft' || c.status === 'requested'),
      cancel: (requester && allowedFrom(facts, 'cancel')) || (admin && allowedFrom(facts, 'cancel') && c.status !== 'draft'),
      accept: admin && allowedFrom(facts, 'accept') && (facts.kind === 'visit' || facts.visitStatus === 'in_progress'),
      schedule: (admin || expert) && allowedFrom(facts, 'schedule'),
      confirmFollowUp: expert && allowedFrom(facts, 'confirm_follow_up') && facts.documents > 0,
      terminate: expert && allowedFrom(facts, 'terminate'),
      writeOpinion: expert && opinionOpen(facts),
      complete: expert && allowedFrom(facts, 'complete') && facts.hasOpinion && (facts.kind === 'visit' || facts.visitStatus === 'in_progress'),
      escalate: requester && facts.kind === 'visit' && c.status === 'in_progress',
      join: inVisit ? (requester ? 'host' : expert ? 'expert' : null) : null,
    };
  }

  async #card(c: StoredConsultation, relation: Relation, once: <T>(key: string, load: () => Promise<T>) => Promise<T>): Promise<ConsultationCard> {
    const dir = this.#deps.directory.repository;
    const [requesting, invited, requester, expert, documents, opinion, visit] = await Promise.all([
      once(`i:${c.requestingInstitutionId}`, () => dir.institution(c.requestingInstitutionId)),
      once(`i:${c.invitedInstitutionId}`, () => dir.institution(c.invitedInstitutionId)),
      once(`p:${c.requesterId}`, () => dir.practitioner(c.requesterId)),
      c.expertId ? once(`p:${c.expertId}`, () => dir.practitioner(c.expertId!)) : Promise.resolve(null),
      this.repository.documents(c),
      this.repository.opinion(c.consultationId),
      c.parentId ? once(`c:${c.parentId}`, () => this.#get(c.parentId!)) : Promise.resolve(c),
    ]);
    const facts = this.#facts(c, visit, documents.length, opinion !== null);
    const cancelledBy = c.cancellation ? (c.cancellation.code === 'visit_ended' ? 'visit_ended' : c.cancellation.by === c.requesterId ? 'requester' : 'invited_institution') : null;
    return {
      consultationId: c.consultationId,
      parentId: c.parentId,
      status: c.status,
      requestingInstitution: { institutionId: c.requestingInstitutionId, name: requesting?.name ?? c.requestingInstitutionId },
      requester: { practitionerId: c.requesterId, name: requester?.name ?? c.requesterId },
      invitedInstitution: { institutionId: c.invitedInstitutionId, name: invited?.name ?? c.invitedInstitutionId },
      department: c.department,
      patientOutline: { sex: c.patient.sex, ageYears: ageYears(c.patient.birthDate) },
      expert: expert ? { practitionerId: expert.practitionerId, name: expert.name } : null,
      slot: c.slotStart && c.slotEnd ? { start: c.slotStart.toISOString(), end: c.slotEnd.toISOString() } : null,
      createdAt: c.createdAt.toISOString(),
      requestedAt: c.requestedAt?.toISOString() ?? null,
      endedAt: c.endedAt?.toISOString() ?? null,
      documentCount: documents.length,
      hasConsent: c.consent !== null,
      hasOpinion: opinion !== null,
      termination: c.termination ? { reason: c.termination.reason } : null,
      cancellation: cancelledBy ? { by: cancelledBy } : null,
      version: c.version,
      actions: this.#actions(c, relation, facts),
    };
  }

  async #opinionView(c: StoredConsultation, o: StoredOpinion, previous: StoredOpinion | null): Promise<OpinionView> {
    return {
      version: o.version,
      expertId: o.expertId,
      expertName: (await this.#deps.directory.repository.practitioner(o.expertId))?.name ?? o.expertId,
      body: o.body,
      signedAt: o.signedAt.toISOString(),
      certificateSerial: new crypto.X509Certificate(o.certificatePem).serialNumber,
      verified: await this.#verifyVersion(c, o, previous),
    };
  }

  /**
   * One opinion version verifies when: the certificate names the expert's
   * licence number (subject serialNumber); the CA recorded with the opinion
   * is the one that institution still has (same certificate) and issued the
   * certificate, valid when signed; and the signature covers the text, the
   * version and the version it superseded.
   */
  async #verifyVersion(c: StoredConsultation, o: StoredOpinion, previous: StoredOpinion | null): Promise<boolean> {
    const expert = await this.#deps.directory.repository.practitioner(o.expertId);
    if (!expert || subjectSerialNumber(o.certificatePem) !== expert.licenceNumber) return false;
    const ca = await this.#deps.directory.repository.institutionCa(o.issuerInstitutionId);
    if (!ca || certificateSha256(ca.certificatePem) !== o.issuerCaSha256) return false;
    return this.#deps.directory.verifySignature(opinionBody(c, o, previous?.signature ?? null), o.signature, o.certificatePem, o.issuerInstitutionId, o.signedAt);
  }
}

/**
 * What the expert signs: the opinion bound to its consultation, patient,
 * time, version and issuing institution, and to the version it supersedes
 * (by the SHA-256 of its signature). Opinions signed before versions
 * existed (format /1) keep the layout they were signed in.
 */
export function opinionBody(
  c: Pick<StoredConsultation, 'consultationId' | 'patientKey' | 'department'>,
  o: Pick<StoredOpinion, 'bodyFormat' | 'expertId' | 'body' | 'signedAt' | 'version' | 'issuerInstitutionId'>,
  previousSignature: string | null,
): Record<string, unknown> {
  const base = {
    format: o.bodyFormat,
    consultationId: c.consultationId,
    patientKey: c.patientKey,
    department: c.department,
    expertId: o.expertId,
    opinion: o.body.opinion,
    recommendations: o.body.recommendations,
    signedAt: o.signedAt.toISOString(),
  };
  if (o.bodyFormat === 'huizhen-consultation-opinion/1') return base;
  return {
    ...base,
    version: o.version,
    issuerInstitutionId: o.issuerInstitutionId,
    supersedes: previousSignature === null ? null : crypto.createHash('sha256').update(previousSignature).digest('hex'),
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

/** What the supervision platform receives: the consultation's record, identifiers of people as licence-backed ids, the patient as a hash; the opinion in force. */
function supervisionPayload(c: StoredConsultation, opinion: StoredOpinion | null): Record<string, unknown> {
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
    opinion: opinion
      ? {
          version: opinion.version,
          sha256: crypto.createHash('sha256').update(JSON.stringify(opinion.body)).digest('hex'),
          signedAt: opinion.signedAt.toISOString(),
          signature: opinion.signature,
          certificatePem: opinion.certificatePem,
        }
      : null,
  };
}
