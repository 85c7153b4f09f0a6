/**
 * Institutions, their CAs, practitioners and cooperation agreements
 * (migration 0006).
 */
import type { Queryable } from '../db/Database.ts';
import type { AgreementView, InstitutionLevel, Profession, PractitionerStatus } from '../../protocol/consultation.ts';
import type { SealedItem } from '../../pki/sealedSecret.ts';

export interface StoredInstitution {
  institutionId: string;
  name: string;
  level: InstitutionLevel;
  departments: string[];
}

export interface StoredPractitioner {
  practitionerId: string;
  name: string;
  licenceNumber: string;
  institutionId: string;
  department: string;
  profession: Profession;
  status: PractitionerStatus;
  verifiedBy: string | null;
  verifiedAt: Date | null;
  certificatePem: string | null;
  certificateSerial: string | null;
}

type Row = Record<string, unknown>;
const json = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));
const maybeDate = (v: unknown): Date | null => (v ? new Date(v as string) : null);

function institutionFrom(r: Row): StoredInstitution {
  return { institutionId: r['institution_id'] as string, name: r['name'] as string, level: r['level'] as InstitutionLevel, departments: json<string[]>(r['departments']) };
}

function practitionerFrom(r: Row): StoredPractitioner {
  return {
    practitionerId: r['practitioner_id'] as string,
    name: r['name'] as string,
    licenceNumber: r['licence_number'] as string,
    institutionId: r['institution_id'] as string,
    department: r['department'] as string,
    profession: r['profession'] as Profession,
    status: r['status'] as PractitionerStatus,
    verifiedBy: (r['verified_by'] as string | null) ?? null,
    verifiedAt: maybeDate(r['verified_at']),
    certificatePem: (r['certificate_pem'] as string | null) ?? null,
    certificateSerial: (r['certificate_serial'] as string | null) ?? null,
  };
}

function agreementFrom(r: Row): AgreementView {
  return {
    agreementId: r['agreement_id'] as string,
    invitingInstitutionId: r['inviting_institution_id'] as string,
    invitedInstitutionId: r['invited_institution_id'] as string,
    departments: json<string[]>(r['departments']),
    validFrom: new Date(r['valid_from'] as string).toISOString(),
    validUntil: new Date(r['valid_until'] as string).toISOString(),
  };
}

function sealedFrom(r: Row, prefix = ''): SealedItem {
  return {
    sealed: Buffer.from(r[`${prefix}sealed_key`] as Uint8Array),
    key: { keyId: r['kek_id'] as string, algorithm: r['kek_algorithm'] as 'RSA-OAEP-256', wrapped: Buffer.from(r['wrapped_key'] as Uint8Array) },
  };
}

export class DirectoryRepository {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async insertInstitution(i: StoredInstitution, ca: { certificatePem: string; key: SealedItem }, db: Queryable = this.#db): Promise<void> {
    await db.query('INSERT INTO institutions (institution_id, name, level, departments) VALUES ($1, $2, $3, $4)', [i.institutionId, i.name, i.level, JSON.stringify(i.departments)]);
    await db.query(
      'INSERT INTO institution_cas (institution_id, certificate_pem, sealed_key, kek_id, kek_algorithm, wrapped_key) VALUES ($1, $2, $3, $4, $5, $6)',
      [i.institutionId, ca.certificatePem, ca.key.sealed, ca.key.key.keyId, ca.key.key.algorithm, ca.key.key.wrapped],
    );
  }

  async institution(id: string, db: Queryable = this.#db): Promise<StoredInstitution | null> {
    const r = await db.query<Row>('SELECT * FROM institutions WHERE institution_id = $1', [id]);
    return r.rows[0] ? institutionFrom(r.rows[0]) : null;
  }

  async institutions(): Promise<StoredInstitution[]> {
    return (await this.#db.query<Row>('SELECT * FROM institutions ORDER BY name')).rows.map(institutionFrom);
  }

  async institutionCa(id: string, db: Queryable = this.#db): Promise<{ certificatePem: string; key: SealedItem } | null> {
    const r = await db.query<Row>('SELECT * FROM institution_cas WHERE institution_id = $1', [id]);
    const row = r.rows[0];
    return row ? { certificatePem: row['certificate_pem'] as string, key: sealedFrom(row) } : null;
  }

  async insertPractitioner(p: Pick<StoredPractitioner, 'practitionerId' | 'name' | 'licenceNumber' | 'institutionId' | 'department' | 'profession'>): Promise<void> {
    await this.#db.query(
      `INSERT INTO practitioners (practitioner_id, name, licence_number, institution_id, department, profession, status)
       VALUES ($1, $2, $3, $4, $5, $6, 'pending')`,
      [p.practitionerId, p.name, p.licenceNumber, p.institutionId, p.department, p.profession],
    );
  }

  async practitioner(id: string, db: Queryable = this.#db): Promise<StoredPractitioner | null> {
    const r = await db.query<Row>('SELECT * FROM practitioners WHERE practitioner_id = $1', [id]);
    return r.rows[0] ? practitionerFrom(r.rows[0]) : null;
  }

  async practitioners(institutionId: string): Promise<StoredPractitioner[]> {
    return (await this.#db.query<Row>('SELECT * FROM practitioners WHERE institution_id = $1 ORDER BY name', [institutionId])).rows.map(practitionerFrom);
  }

  async practitionerKey(id: string): Promise<SealedItem | null> {
    const r = await this.#db.query<Row>('SELECT sealed_key, kek_id, kek_algorithm, wrapped_key FROM practitioners WHERE practitioner_id = $1 AND sealed_key IS NOT NULL', [id]);
    return r.rows[0] ? sealedFrom(r.rows[0]) : null;
  }

  async markVerified(
    id: string,
    v: { by: string; idDocument: { type: string; last4: string; hash: string }; certificatePem: string; certificateSerial: string; key: SealedItem },
    db: Queryable = this.#db,
  ): Promise<void> {
    await db.query(
      `UPDATE practitioners SET status = 'verified', verified_by = $2, verified_at = now(), id_document = $3, certificate_pem = $4, certificate_serial = $5,
         sealed_key = $6, kek_id = $7, kek_algorithm = $8, wrapped_key = $9, suspended_by = NULL, suspended_at = NULL, suspend_reason = NULL
       WHERE practitioner_id = $1`,
      [id, v.by, JSON.stringify(v.idDocument), v.certificatePem, v.certificateSerial, v.key.sealed, v.key.key.keyId, v.key.key.algorithm, v.key.key.wrapped],
    );
  }

  async markSuspended(id: string, by: string, reason: string, db: Queryable = this.#db): Promise<void> {
    await db.query(`UPDATE practitioners SET status = 'suspended', suspended_by = $2, suspended_at = now(), suspend_reason = $3 WHERE practitioner_id = $1`, [id, by, reason]);
  }

  /** Suspended → verified again (the suspension stays in the audit trail). */
  async markReinstated(id: string, db: Queryable = this.#db): Promise<void> {
    await db.query(`UPDATE practitioners SET status = 'verified', suspended_by = NULL, suspended_at = NULL, suspend_reason = NULL WHERE practitioner_id = $1 AND status = 'suspended'`, [id]);
  }

  async insertAgreement(a: AgreementView, db: Queryable = this.#db): Promise<void> {
    await db.query(
      `INSERT INTO cooperation_agreements (agreement_id, inviting_institution_id, invited_institution_id, departments, valid_from, valid_until)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [a.agreementId, a.invitingInstitutionId, a.invitedInstitutionId, JSON.stringify(a.departments), a.validFrom, a.validUntil],
    );
  }

  /** Agreements in force between the two institutions (inviting → invited) at `at`. */
  async agreementsBetween(inviting: string, invited: string, at: Date, db: Queryable = this.#db): Promise<AgreementView[]> {
    const r = await db.query<Row>(
      `SELECT * FROM cooperation_agreements WHERE inviting_institution_id = $1 AND invited_institution_id = $2 AND valid_from <= $3 AND valid_until > $3`,
      [inviting, invited, at],
    );
    return r.rows.map(agreementFrom);
  }

  async agreements(): Promise<AgreementView[]> {
    return (await this.#db.query<Row>('SELECT * FROM cooperation_agreements ORDER BY created_at')).rows.map(agreementFrom);
  }
}
