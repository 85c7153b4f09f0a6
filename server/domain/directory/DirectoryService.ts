/**
 * The directory and real-name verification of practitioners (实名认证).
 *
 * - A platform administrator (institution_admin holding `platform_admin`)
 *   registers institutions — each gets its own certificate authority — and
 *   cooperation agreements between an inviting and an invited institution.
 * - An institution's administrator registers its practitioners and verifies
 *   them: identity document and licence checked in person, recorded (type,
 *   last four characters and a keyed hash only), and the institution's CA
 *   issues the practitioner an X.509 signing certificate. Nobody verifies
 *   themselves. Suspension takes effect at once (also in live rooms, through
 *   `onSuspended`); only an explicit, audited reinstatement lifts it —
 *   verifying a suspended practitioner again is refused.
 * - Only verified, unsuspended practitioners take part in care
 *   (`requireVerified`). The practitioner's signing key never leaves the
 *   server: it is sealed under the hospital's KEK and used only to sign
 *   what the practitioner does in person (opinions, prescriptions).
 */
import crypto from 'node:crypto';
import forge from 'node-forge';
import type { Identity } from '../../edge/auth/identity.ts';
import { ForbiddenError, HuizhenError, InvalidStateError, NotFoundError, ValidationError } from '../../errors.ts';
import { createCertificateAuthority, issuePersonCertificate, verifyIssuedBy } from '../../pki/certificates.ts';
import type { KeyEncryptionService } from '../../pki/KeyEncryptionService.ts';
import { openItem, sealItem } from '../../pki/sealedSecret.ts';
import { signCanonical, verifyCanonical } from '../../pki/signatures.ts';
import type { AgreementView, InstitutionLevel, Profession } from '../../protocol/consultation.ts';
import type { Database, Queryable } from '../../storage/db/Database.ts';
import { DirectoryRepository, type StoredInstitution, type StoredPractitioner } from '../../storage/repositories/DirectoryRepository.ts';
import type { AuditSink } from '../audit/AuditTrail.ts';

export class PractitionerNotVerifiedError extends HuizhenError {
  constructor(message: string) {
    super('PRACTITIONER_NOT_VERIFIED', 403, message);
  }
}

export interface DirectoryDeps {
  db: Database;
  kek: KeyEncryptionService;
  audit: AuditSink;
  /** Key for identity-document hashes (a server secret). */
  idSalt: Buffer;
  certificateDays?: number;
  /** Runs after a suspension is stored (app.ts: removes the practitioner from live rooms). Must not throw. */
  onSuspended?: (practitionerId: string) => Promise<void>;
}

export type Actor = Identity | 'system';

const caContext = (institutionId: string) => `institution-ca:${institutionId}`;
const practitionerContext = (id: string) => `practitioner-key:${id}`;

export class DirectoryService {
  readonly repository: DirectoryRepository;
  readonly #deps: DirectoryDeps;

  constructor(deps: DirectoryDeps) {
    this.#deps = deps;
    this.repository = new DirectoryRepository(deps.db);
  }

  // --- Institutions and agreements (platform administrator) -------------------

  async createInstitution(by: Actor, input: { institutionId: string; name: string; level: InstitutionLevel; departments: string[] }): Promise<StoredInstitution> {
    if (by !== 'system') this.#requirePlatformAdmin(by);
    if (await this.repository.institution(input.institutionId)) throw new InvalidStateError(`institution ${input.institutionId} already exists`);
    const ca = createCertificateAuthority({ commonName: `${input.name} 医师证书签发机构`, organizationName: input.name, countryName: 'CN' }, 3650);
    const key = await sealItem(this.#deps.kek, caContext(input.institutionId), Buffer.from(ca.privateKeyPem));
    const institution: StoredInstitution = { ...input, departments: [...new Set(input.departments)] };
    await this.#deps.db.transaction(async (tx) => {
      await this.repository.insertInstitution(institution, { certificatePem: ca.certificatePem, key }, tx);
      await this.#deps.audit.append(
        { action: 'directory.institution_created', actor: actorOf(by), actorRole: roleOf(by), subject: `institution:${input.institutionId}`, details: { level: input.level, departments: institution.departments } },
        tx,
      );
    });
    return institution;
  }

  async createAgreement(by: Actor, input: Omit<AgreementView, 'agreementId'>): Promise<AgreementView> {
    if (by !== 'system') this.#requirePlatformAdmin(by);
    if (!(Date.parse(input.validUntil) > Date.parse(input.validFrom))) {
      throw new ValidationError('invalid agreement', [{ path: 'validUntil', message: 'must be a date after validFrom' }]);
    }
    const [inviting, invited] = await Promise.all([this.repository.institution(input.invitingInstitutionId), this.repository.institution(input.invitedInstitutionId)]);
    if (!inviting || !invited) throw new NotFoundError('both institutions must be registered');
    const outside = input.departments.filter((d) => !inviting.departments.includes(d) || !invited.departments.includes(d));
    if (outside.length > 0) throw new ValidationError(`departments ${outside.join(', ')} are not approved for both institutions`);
    const agreement: AgreementView = { agreementId: `agr-${crypto.randomUUID()}`, ...input };
    await this.#deps.db.transaction(async (tx) => {
      await this.repository.insertAgreement(agreement, tx);
      await this.#deps.audit.append(
        {
          action: 'directory.agreement_created',
          actor: actorOf(by),
          actorRole: roleOf(by),
          subject: `agreement:${agreement.agreementId}`,
          details: { inviting: input.invitingInstitutionId, invited: input.invitedInstitutionId, departments: input.departments, validUntil: input.validUntil },
        },
        tx,
      );
    });
    return agreement;
  }

  // --- Practitioners (institution administrator) -------------------------------

  async registerPractitioner(
    by: Actor,
    input: { practitionerId: string; name: string; licenceNumber: string; institutionId: string; department: string; profession: Profession },
  ): Promise<StoredPractitioner> {
    if (by !== 'system') this.#requireInstitutionAdmin(by, input.institutionId);
    const institution = await this.repository.institution(input.institutionId);
    if (!institution) throw new NotFoundError('no such institution');
    if (!institution.departments.includes(input.department)) throw new ValidationError(`department ${input.department} is not approved for ${institution.name}`);
    if (await this.repository.practitioner(input.practitionerId)) throw new InvalidStateError('a practitioner with this id exists');
    await this.repository.insertPractitioner(input);
    await this.#deps.audit.append({
      action: 'directory.practitioner_registered',
      actor: actorOf(by),
      actorRole: roleOf(by),
      subject: `practitioner:${input.practitionerId}`,
      details: { institutionId: input.institutionId, department: input.department, profession: input.profession },
    });
    return (await this.repository.practitioner(input.practitionerId))!;
  }

  /**
   * Real-name verification, done by the institution's administrator after
   * checking the identity document and the practising licence in person.
   * Issues the practitioner's signing certificate.
   */
  async verifyPractitioner(
    by: Actor,
    practitionerId: string,
    input: { idDocumentType: 'resident_id' | 'passport' | 'other'; idDocumentNumber: string; licenceNumber: string },
  ): Promise<StoredPractitioner> {
    const p = await this.repository.practitioner(practitionerId);
    if (!p) throw new NotFoundError('no such practitioner');
    if (by !== 'system') {
      this.#requireInstitutionAdmin(by, p.institutionId);
      if (by.userId === practitionerId) throw new ForbiddenError('Nobody verifies themselves.');
    }
    if (p.status === 'suspended') throw new InvalidStateError('this practitioner is suspended: reinstate them explicitly first');
    if (input.licenceNumber !== p.licenceNumber) throw new ValidationError('the licence number does not match the one registered');
    const institution = (await this.repository.institution(p.institutionId))!;
    const caRow = await this.repository.institutionCa(p.institutionId);
    if (!caRow) throw new Error(`institution ${p.institutionId} has no CA`);
    await this.#deps.audit.append({ action: 'key.unwrapped', actor: actorOf(by), actorRole: roleOf(by), subject: `institution:${p.institutionId}`, details: { key: 'institution_ca', purpose: 'issue_certificate', practitionerId } });
    const caKey = (await openItem(this.#deps.kek, caContext(p.institutionId), caRow.key)).toString();
    const issued = issuePersonCertificate(
      { certificatePem: caRow.certificatePem, privateKeyPem: caKey, publicKeyPem: '' },
      {
        subject: { commonName: p.name, organizationName: institution.name, organizationalUnitName: p.department, countryName: 'CN' },
        serialNumber: p.licenceNumber,
        days: this.#deps.certificateDays ?? 730,
      },
    );
    const serial = new crypto.X509Certificate(issued.certificatePem).serialNumber;
    const key = await sealItem(this.#deps.kek, practitionerContext(practitionerId), Buffer.from(issued.privateKeyPem));
    const number = input.idDocumentNumber.trim();
    const idDocument = {
      type: input.idDocumentType,
      last4: number.slice(-4),
      hash: crypto.createHmac('sha256', this.#deps.idSalt).update(number).digest('hex'),
    };
    await this.#deps.db.transaction(async (tx) => {
      await this.repository.markVerified(practitionerId, { by: actorOf(by), idDocument, certificatePem: issued.certificatePem, certificateSerial: serial, key }, tx);
      await this.#deps.audit.append(
        {
          action: 'directory.practitioner_verified',
          actor: actorOf(by),
          actorRole: roleOf(by),
          subject: `practitioner:${practitionerId}`,
          details: { idDocumentType: input.idDocumentType, certificateSerial: serial, institutionId: p.institutionId },
        },
        tx,
      );
    });
    return (await this.repository.practitioner(practitionerId))!;
  }

  async suspendPractitioner(by: Identity, practitionerId: string, reason: string): Promise<StoredPractitioner> {
    const p = await this.repository.practitioner(practitionerId);
    if (!p) throw new NotFoundError('no such practitioner');
    this.#requireInstitutionAdmin(by, p.institutionId);
    await this.#deps.db.transaction(async (tx) => {
      await this.repository.markSuspended(practitionerId, by.userId, reason, tx);
      await this.#deps.audit.append({ action: 'directory.practitioner_suspended', actor: by.userId, actorRole: by.role, subject: `practitioner:${practitionerId}`, details: { reason } }, tx);
    });
    await this.#deps.onSuspended?.(practitionerId);
    return (await this.repository.practitioner(practitionerId))!;
  }

  /**
   * Lifts a suspension: the institution's administrator decides it, with a
   * reason, and it is audited. The practitioner keeps their certificate if
   * it is still valid; otherwise they are verified again instead.
   */
  async reinstatePractitioner(by: Identity, practitionerId: string, reason: string): Promise<StoredPractitioner> {
    const p = await this.repository.practitioner(practitionerId);
    if (!p) throw new NotFoundError('no such practitioner');
    this.#requireInstitutionAdmin(by, p.institutionId);
    if (by.userId === practitionerId) throw new ForbiddenError('Nobody reinstates themselves.');
    await this.#deps.db.transaction(async (tx) => {
      const now = await this.repository.practitioner(practitionerId, tx);
      if (now?.status !== 'suspended') throw new InvalidStateError('only a suspended practitioner is reinstated');
      const ca = await this.repository.institutionCa(now.institutionId, tx);
      if (!now.certificatePem || !ca || !verifyIssuedBy(now.certificatePem, ca.certificatePem)) throw new InvalidStateError('the practitioner’s certificate is no longer valid: verify them again');
      await this.repository.markReinstated(practitionerId, tx);
      await this.#deps.audit.append({ action: 'directory.practitioner_reinstated', actor: by.userId, actorRole: by.role, subject: `practitioner:${practitionerId}`, details: { reason } }, tx);
    });
    return (await this.repository.practitioner(practitionerId))!;
  }

  /**
   * The practitioner behind a user id, verified and not suspended, with a valid certificate; otherwise PRACTITIONER_NOT_VERIFIED.
   * Inside a transaction pass it as `db`: PGlite has a single connection, and a query outside the open transaction would wait for it forever.
   */
  async requireVerified(userId: string, db?: Queryable): Promise<StoredPractitioner> {
    const p = await this.repository.practitioner(userId, db);
    if (!p) throw new PractitionerNotVerifiedError('this account is not a registered practitioner');
    if (p.status === 'suspended') throw new PractitionerNotVerifiedError('this practitioner is suspended');
    if (p.status !== 'verified' || !p.certificatePem) throw new PractitionerNotVerifiedError('this practitioner has not completed real-name verification');
    const ca = await this.repository.institutionCa(p.institutionId, db);
    if (!ca || !verifyIssuedBy(p.certificatePem, ca.certificatePem)) throw new PractitionerNotVerifiedError('this practitioner’s certificate is not valid');
    return p;
  }

  /** Signs `body` with the practitioner's own certificate key (server-held, sealed); call only for what they do in person. */
  async signAs(practitionerId: string, body: unknown): Promise<{ signature: string; certificatePem: string }> {
    const p = await this.requireVerified(practitionerId);
    const sealed = await this.repository.practitionerKey(practitionerId);
    if (!sealed) throw new PractitionerNotVerifiedError('this practitioner has no signing key');
    const format = (body as { format?: unknown } | null)?.format;
    await this.#deps.audit.append({ action: 'key.unwrapped', actor: practitionerId, subject: `practitioner:${practitionerId}`, details: { key: 'practitioner_signing', purpose: typeof format === 'string' ? format : 'signature', certificateSerial: p.certificateSerial } });
    const pem = (await openItem(this.#deps.kek, practitionerContext(practitionerId), sealed)).toString();
    const privateKey = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
    return { signature: signCanonical(body, { keyId: p.certificateSerial ?? '', privateKey }).value, certificatePem: p.certificatePem! };
  }

  /** Whether `signature` over `body` verifies with `certificatePem`, and the certificate chains to `institutionId`'s CA. */
  async verifySignature(body: unknown, signature: string, certificatePem: string, institutionId: string, at?: Date): Promise<boolean> {
    const ca = await this.repository.institutionCa(institutionId);
    if (!ca || !verifyIssuedBy(certificatePem, ca.certificatePem, at)) return false;
    const publicKeyPem = new crypto.X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    return verifyCanonical(body, { value: signature }, publicKeyPem);
  }

  #requirePlatformAdmin(by: Identity): void {
    if (by.role !== 'institution_admin' || !by.positions.includes('platform_admin')) throw new ForbiddenError('Only a platform administrator manages institutions and agreements.');
  }

  #requireInstitutionAdmin(by: Identity, institutionId: string): void {
    if (by.role !== 'institution_admin' || by.institutionId !== institutionId) throw new ForbiddenError('Only this institution’s administrator manages its practitioners.');
  }
}

function actorOf(by: Actor): string {
  return by === 'system' ? 'system' : by.userId;
}

function roleOf(by: Actor): string | null {
  return by === 'system' ? null : by.role;
}
