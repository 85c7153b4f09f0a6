/**
 * Consultations, their documents, opinions (immutable versions) and
 * prescriptions (migrations 0006, 0009). Every write to a consultation or
 * what belongs to it bumps the consultation's version, in the same
 * statement or transaction.
 */
import type { Queryable } from '../db/Database.ts';
import type {
  ConsultationStatus,
  ConsultationSummary,
  DocumentKind,
  PatientDetails,
  PrescriptionItem,
  TerminationReason,
} from '../../protocol/consultation.ts';
import type { WrappedKey } from '../../pki/KeyEncryptionService.ts';

export interface StoredConsultation {
  consultationId: string;
  parentId: string | null;
  status: ConsultationStatus;
  requestingInstitutionId: string;
  requesterId: string;
  invitedInstitutionId: string;
  agreementId: string | null;
  department: string;
  patient: PatientDetails;
  patientKey: string;
  summary: ConsultationSummary;
  consent: { method: string; recordedBy: string; at: string; textVersion: string } | null;
  expertId: string | null;
  acceptedBy: string | null;
  acceptedAt: Date | null;
  slotStart: Date | null;
  slotEnd: Date | null;
  roomId: string;
  followUpConfirmedBy: string | null;
  followUpConfirmedAt: Date | null;
  termination: { reason: TerminationReason; note: string; referral: { institution: string; department: string; advice: string }; by: string; at: string } | null;
  /** `code` marks a cancellation the server made (an escalation closed with its visit). */
  cancellation: { by: string; reason: string; at: string; code?: 'visit_ended' } | null;
  createdAt: Date;
  requestedAt: Date | null;
  endedAt: Date | null;
  /** Bumped by every change to the consultation, its documents, opinions and prescriptions. */
  version: number;
  updatedAt: Date;
}

export interface StoredDocument {
  documentId: string;
  consultationId: string;
  kind: DocumentKind;
  fileName: string;
  contentType: string;
  bytes: number;
  sha256: string;
  objectKey: string;
  key: WrappedKey;
  uploadedBy: string;
  uploadedAt: Date;
}

/** One signed version of an opinion; a later version supersedes it, and it stays. */
export interface StoredOpinion {
  consultationId: string;
  /** 1, 2, …: the highest is the opinion in force. */
  version: number;
  /** Which signed body layout (opinionBody) the signature covers. */
  bodyFormat: string;
  expertId: string;
  body: { opinion: string; recommendations: string };
  signedAt: Date;
  signature: string;
  certificatePem: string;
  /** The institution whose CA issued the signing certificate, and that CA certificate's SHA-256 (DER, hex). */
  issuerInstitutionId: string;
  issuerCaSha256: string;
}

export interface StoredPrescription {
  prescriptionId: string;
  consultationId: string;
  prescriberId: string;
  items: PrescriptionItem[];
  status: 'pending_review' | 'approved' | 'rejected';
  createdIn: { roomId: string; peerId: string; connectionId: string };
  signature: string;
  createdAt: Date;
  reviewedBy: string | null;
  reviewedAt: Date | null;
  reviewComment: string | null;
}

type Row = Record<string, unknown>;
const json = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));
const maybeDate = (v: unknown): Date | null => (v ? new Date(v as string) : null);

function consultationFrom(r: Row): StoredConsultation {
  return {
    consultationId: r['consultation_id'] as string,
    parentId: (r['parent_id'] as string | null) ?? null,
    status: r['status'] as ConsultationStatus,
    requestingInstitutionId: r['requesting_institution_id'] as string,
    requesterId: r['requester_id'] as string,
    invitedInstitutionId: r['invited_institution_id'] as string,
    agreementId: (r['agreement_id'] as string | null) ?? null,
    department: r['department'] as string,
    patient: json<PatientDetails>(r['patient']),
    patientKey: r['patient_key'] as string,
    summary: json<ConsultationSummary>(r['summary']),
    consent: r['consent'] ? json<StoredConsultation['consent']>(r['consent']) : null,
    expertId: (r['expert_id'] as string | null) ?? null,
    acceptedBy: (r['accepted_by'] as string | null) ?? null,
    acceptedAt: maybeDate(r['accepted_at']),
    slotStart: maybeDate(r['slot_start']),
    slotEnd: maybeDate(r['slot_end']),
    roomId: r['room_id'] as string,
    followUpConfirmedBy: (r['follow_up_confirmed_by'] as string | null) ?? null,
    followUpConfirmedAt: maybeDate(r['follow_up_confirmed_at']),
    termination: r['termination'] ? json<StoredConsultation['termination']>(r['termination']) : null,
    cancellation: r['cancellation'] ? json<StoredConsultation['cancellation']>(r['cancellation']) : null,
    createdAt: new Date(r['created_at'] as string),
    requestedAt: maybeDate(r['requested_at']),
    endedAt: maybeDate(r['ended_at']),
    version: Number(r['version']),
    updatedAt: new Date(r['updated_at'] as string),
  };
}

function opinionFrom(r: Row): StoredOpinion {
  return {
    consultationId: r['consultation_id'] as string,
    version: Number(r['version']),
    bodyFormat: r['body_format'] as string,
    expertId: r['expert_id'] as string,
    body: json<StoredOpinion['body']>(r['body']),
    signedAt: new Date(r['signed_at'] as string),
    signature: r['signature'] as string,
    certificatePem: r['certificate_pem'] as string,
    issuerInstitutionId: r['issuer_institution_id'] as string,
    issuerCaSha256: r['issuer_ca_sha256'] as string,
  };
}

function documentFrom(r: Row): StoredDocument {
  return {
    documentId: r['document_id'] as string,
    consultationId: r['consultation_id'] as string,
    kind: r['kind'] as DocumentKind,
    fileName: r['file_name'] as string,
    contentType: r['content_type'] as string,
    bytes: Number(r['bytes']),
    sha256: r['sha256'] as string,
    objectKey: r['object_key'] as string,
    key: { keyId: r['kek_id'] as string, algorithm: r['kek_algorithm'] as 'RSA-OAEP-256', wrapped: Buffer.from(r['wrapped_key'] as Uint8Array) },
    uploadedBy: r['uploaded_by'] as string,
    uploadedAt: new Date(r['uploaded_at'] as string),
  };
}

function prescriptionFrom(r: Row): StoredPrescription {
  return {
    prescriptionId: r['prescription_id'] as string,
    consultationId: r['consultation_id'] as string,
    prescriberId: r['prescriber_id'] as string,
    items: json<PrescriptionItem[]>(r['items']),
    status: r['status'] as StoredPrescription['status'],
    createdIn: json<StoredPrescription['createdIn']>(r['created_in']),
    signature: r['signature'] as string,
    createdAt: new Date(r['created_at'] as string),
    reviewedBy: (r['reviewed_by'] as string | null) ?? null,
    reviewedAt: maybeDate(r['reviewed_at']),
    reviewComment: (r['review_comment'] as string | null) ?? null,
  };
}

/** Columns that change over a consultation's life. */
export type ConsultationPatch = Partial<
  Pick<
    StoredConsultation,
    'status' | 'consent' | 'expertId' | 'acceptedBy' | 'acceptedAt' | 'slotStart' | 'slotEnd' | 'followUpConfirmedBy' | 'followUpConfirmedAt' | 'termination' | 'cancellation' | 'requestedAt' | 'endedAt' | 'agreementId'
  >
> & { retainUntil?: Date };

const PATCH: Record<keyof ConsultationPatch, { column: string; json?: true }> = {
  status: { column: 'status' },
  consent: { column: 'consent', json: true },
  expertId: { column: 'expert_id' },
  acceptedBy: { column: 'accepted_by' },
  acceptedAt: { column: 'accepted_at' },
  slotStart: { column: 'slot_start' },
  slotEnd: { column: 'slot_end' },
  followUpConfirmedBy: { column: 'follow_up_confirmed_by' },
  followUpConfirmedAt: { column: 'follow_up_confirmed_at' },
  termination: { column: 'termination', json: true },
  cancellation: { column: 'cancellation', json: true },
  requestedAt: { column: 'requested_at' },
  endedAt: { column: 'ended_at' },
  agreementId: { column: 'agreement_id' },
  retainUntil: { column: 'retain_until' },
};

export class ConsultationRepository {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async insert(c: StoredConsultation, db: Queryable = this.#db): Promise<void> {
    await db.query(
      `INSERT INTO consultations (consultation_id, parent_id, status, requesting_institution_id, requester_id, invited_institution_id, agreement_id,
         department, patient, patient_key, summary, consent, expert_id, room_id, created_at, requested_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      [
        c.consultationId, c.parentId, c.status, c.requestingInstitutionId, c.requesterId, c.invitedInstitutionId, c.agreementId,
        c.department, JSON.stringify(c.patient), c.patientKey, JSON.stringify(c.summary), c.consent ? JSON.stringify(c.consent) : null,
        c.expertId, c.roomId, c.createdAt, c.requestedAt,
      ],
    );
  }

  async get(id: string, db: Queryable = this.#db, forUpdate = false): Promise<StoredConsultation | null> {
    const r = await db.query<Row>(`SELECT * FROM consultations WHERE consultation_id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [id]);
    return r.rows[0] ? consultationFrom(r.rows[0]) : null;
  }

  async update(tx: Queryable, id: string, patch: ConsultationPatch): Promise<void> {
    const keys = Object.keys(patch) as Array<keyof ConsultationPatch>;
    if (keys.length === 0) return;
    const sets = keys.map((k, i) => `${PATCH[k].column} = $${i + 2}`);
    const values = keys.map((k) => {
      const v = patch[k];
      return PATCH[k].json && v !== null && v !== undefined ? JSON.stringify(v) : v;
    });
    await tx.query(`UPDATE consultations SET ${sets.join(', ')}, version = version + 1, updated_at = now() WHERE consultation_id = $1`, [id, ...values]);
  }

  /** Marks the consultation changed (a document, opinion or prescription of it was written). */
  async #bump(db: Queryable, consultationId: string): Promise<void> {
    await db.query('UPDATE consultations SET version = version + 1, updated_at = now() WHERE consultation_id = $1', [consultationId]);
  }

  /** What a page polls to learn whether to fetch the (audited) view again: nothing about the patient. */
  async changeMark(id: string): Promise<{ status: ConsultationStatus; version: number; updatedAt: Date } | null> {
    const r = await this.#db.query<Row>('SELECT status, version, updated_at FROM consultations WHERE consultation_id = $1', [id]);
    const row = r.rows[0];
    return row ? { status: row['status'] as ConsultationStatus, version: Number(row['version']), updatedAt: new Date(row['updated_at'] as string) } : null;
  }

  /** Consultations escalated from `parentId`, oldest first; `forUpdate` locks them (after the parent: always parent, then children). */
  async children(parentId: string, db: Queryable = this.#db, forUpdate = false): Promise<StoredConsultation[]> {
    const r = await db.query<Row>(`SELECT * FROM consultations WHERE parent_id = $1 ORDER BY created_at${forUpdate ? ' FOR UPDATE' : ''}`, [parentId]);
    return r.rows.map(consultationFrom);
  }

  /** Rooms of the open consultations `userId` takes part in, as requester or expert. */
  async openRoomsOf(userId: string): Promise<string[]> {
    const r = await this.#db.query<{ room_id: string }>(
      `SELECT DISTINCT room_id FROM consultations WHERE (requester_id = $1 OR expert_id = $1) AND status NOT IN ('completed', 'terminated', 'cancelled')`,
      [userId],
    );
    return r.rows.map((row) => row.room_id);
  }

  /** The consultations of a room (a visit and consultations escalated from it). */
  async byRoom(roomId: string): Promise<StoredConsultation[]> {
    return (await this.#db.query<Row>('SELECT * FROM consultations WHERE room_id = $1 ORDER BY created_at', [roomId])).rows.map(consultationFrom);
  }

  async list(filter: { requesterId?: string; invitedInstitutionId?: string; expertId?: string }, limit = 200): Promise<StoredConsultation[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.requesterId) where.push(`requester_id = $${params.push(filter.requesterId)}`);
    if (filter.invitedInstitutionId) where.push(`invited_institution_id = $${params.push(filter.invitedInstitutionId)}`);
    if (filter.expertId) where.push(`expert_id = $${params.push(filter.expertId)}`);
    const r = await this.#db.query<Row>(
      `SELECT * FROM consultations ${where.length ? `WHERE ${where.join(' OR ')}` : 'WHERE false'} ORDER BY created_at DESC LIMIT $${params.push(limit)}`,
      params,
    );
    return r.rows.map(consultationFrom);
  }

  /** Earlier consultations of the same patient, newest first. */
  async history(patientKey: string, exceptId: string): Promise<StoredConsultation[]> {
    const r = await this.#db.query<Row>('SELECT * FROM consultations WHERE patient_key = $1 AND consultation_id <> $2 ORDER BY created_at DESC LIMIT 50', [patientKey, exceptId]);
    return r.rows.map(consultationFrom);
  }

  async insertDocument(d: StoredDocument, db: Queryable = this.#db): Promise<void> {
    await db.query(
      `INSERT INTO consultation_documents (document_id, consultation_id, kind, file_name, content_type, bytes, sha256, object_key, kek_id, kek_algorithm, wrapped_key, uploaded_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [d.documentId, d.consultationId, d.kind, d.fileName, d.contentType, d.bytes, d.sha256, d.objectKey, d.key.keyId, d.key.algorithm, d.key.wrapped, d.uploadedBy],
    );
    await this.#bump(db, d.consultationId);
  }

  /** Documents of a consultation, and of the one it was escalated from. */
  async documents(c: Pick<StoredConsultation, 'consultationId' | 'parentId'>, db: Queryable = this.#db): Promise<StoredDocument[]> {
    const r = await db.query<Row>('SELECT * FROM consultation_documents WHERE consultation_id = $1 OR consultation_id = $2 ORDER BY uploaded_at', [c.consultationId, c.parentId ?? c.consultationId]);
    return r.rows.map(documentFrom);
  }

  /** A new version; never replaces one (the primary key is consultation and version). */
  async insertOpinion(o: StoredOpinion, db: Queryable = this.#db): Promise<void> {
    await db.query(
      `INSERT INTO consultation_opinions (consultation_id, version, body_format, expert_id, body, signed_at, signature, certificate_pem, issuer_institution_id, issuer_ca_sha256)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [o.consultationId, o.version, o.bodyFormat, o.expertId, JSON.stringify(o.body), o.signedAt, o.signature, o.certificatePem, o.issuerInstitutionId, o.issuerCaSha256],
    );
    await this.#bump(db, o.consultationId);
  }

  /** The opinion in force: the latest version. */
  async opinion(consultationId: string, db: Queryable = this.#db): Promise<StoredOpinion | null> {
    const r = await db.query<Row>('SELECT * FROM consultation_opinions WHERE consultation_id = $1 ORDER BY version DESC LIMIT 1', [consultationId]);
    return r.rows[0] ? opinionFrom(r.rows[0]) : null;
  }

  /** Every version, oldest first. */
  async opinions(consultationId: string, db: Queryable = this.#db): Promise<StoredOpinion[]> {
    return (await db.query<Row>('SELECT * FROM consultation_opinions WHERE consultation_id = $1 ORDER BY version', [consultationId])).rows.map(opinionFrom);
  }

  async insertPrescription(p: StoredPrescription, db: Queryable = this.#db): Promise<void> {
    await db.query(
      `INSERT INTO prescriptions (prescription_id, consultation_id, prescriber_id, items, status, created_in, signature, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [p.prescriptionId, p.consultationId, p.prescriberId, JSON.stringify(p.items), p.status, JSON.stringify(p.createdIn), p.signature, p.createdAt],
    );
    await this.#bump(db, p.consultationId);
  }

  async prescription(id: string, db: Queryable = this.#db, forUpdate = false): Promise<StoredPrescription | null> {
    const r = await db.query<Row>(`SELECT * FROM prescriptions WHERE prescription_id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [id]);
    return r.rows[0] ? prescriptionFrom(r.rows[0]) : null;
  }

  async prescriptions(consultationId: string): Promise<StoredPrescription[]> {
    return (await this.#db.query<Row>('SELECT * FROM prescriptions WHERE consultation_id = $1 ORDER BY created_at', [consultationId])).rows.map(prescriptionFrom);
  }

  async reviewPrescription(tx: Queryable, id: string, review: { status: 'approved' | 'rejected'; by: string; comment: string }): Promise<void> {
    const r = await tx.query<{ consultation_id: string }>(
      `UPDATE prescriptions SET status = $2, reviewed_by = $3, reviewed_at = now(), review_comment = $4 WHERE prescription_id = $1 RETURNING consultation_id`,
      [id, review.status, review.by, review.comment],
    );
    if (r.rows[0]) await this.#bump(tx, r.rows[0].consultation_id);
  }
}
