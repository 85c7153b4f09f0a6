/**
 * The REST contract of the directory and of consultations (会诊), shared
 * with the browser client (types and constants only).
 */
export const INSTITUTION_LEVELS = ['village_clinic', 'county_hospital', 'tertiary_hospital'] as const;
export type InstitutionLevel = (typeof INSTITUTION_LEVELS)[number];

export const PROFESSIONS = ['village_doctor', 'physician', 'specialist', 'pharmacist'] as const;
export type Profession = (typeof PROFESSIONS)[number];

export type PractitionerStatus = 'pending' | 'verified' | 'suspended';

export const DOCUMENT_KINDS = ['outpatient_record', 'inpatient_record', 'discharge_summary', 'diagnosis_certificate'] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];

export const TERMINATION_REASONS = ['first_visit', 'condition_changed', 'not_suitable_remote'] as const;
export type TerminationReason = (typeof TERMINATION_REASONS)[number];

export const CONSULTATION_STATUSES = ['draft', 'requested', 'accepted', 'scheduled', 'in_progress', 'completed', 'terminated', 'cancelled'] as const;
export type ConsultationStatus = (typeof CONSULTATION_STATUSES)[number];

export interface InstitutionView {
  institutionId: string;
  name: string;
  level: InstitutionLevel;
  departments: string[];
}

export interface PractitionerView {
  practitionerId: string;
  name: string;
  licenceNumber: string;
  institutionId: string;
  department: string;
  profession: Profession;
  status: PractitionerStatus;
  verifiedAt: string | null;
  certificateSerial: string | null;
}

export interface AgreementView {
  agreementId: string;
  invitingInstitutionId: string;
  invitedInstitutionId: string;
  departments: string[];
  validFrom: string;
  validUntil: string;
}

export interface PatientDetails {
  name: string;
  /** The requesting institution's medical record number. */
  mrn: string;
  sex: 'female' | 'male' | 'other';
  birthDate: string;
  /** The patient's user id when they join the visit from their own device. */
  userId?: string;
}

/** What may be seen of a patient before the consultation is accepted: nothing that identifies them. */
export interface PatientOutline {
  sex: PatientDetails['sex'];
  ageYears: number;
}

export interface ConsultationSummary {
  chiefComplaint: string;
  /** The diagnosis already made (复诊: the visit follows it up). */
  priorDiagnosis: string;
  question: string;
}

export interface DocumentView {
  documentId: string;
  kind: DocumentKind;
  fileName: string;
  contentType: string;
  bytes: number;
  uploadedAt: string;
}

export interface OpinionView {
  /** 1 for the first signed opinion; an amendment is a new version, and earlier ones stay. */
  version: number;
  expertId: string;
  expertName: string;
  body: { opinion: string; recommendations: string };
  signedAt: string;
  certificateSerial: string;
  /**
   * Checked when the view is built: the signature matches the text (and the
   * version it supersedes), the certificate was issued to the expert's
   * licence number by the CA recorded with the opinion, valid when signed.
   */
  verified: boolean;
}

export interface PrescriptionView {
  prescriptionId: string;
  prescriberId: string;
  items: PrescriptionItem[];
  status: 'pending_review' | 'approved' | 'rejected';
  createdAt: string;
  reviewedBy: string | null;
  reviewedAt: string | null;
  reviewComment: string | null;
}

export interface PrescriptionItem {
  drug: string;
  dose: string;
  frequency: string;
  days: number;
  quantity: string;
}

export interface ConsultationView {
  consultationId: string;
  parentId: string | null;
  status: ConsultationStatus;
  /** `full` once the viewer may see the patient (requester; assigned expert after accepting); `outline` before. */
  scope: 'full' | 'outline';
  requestingInstitution: { institutionId: string; name: string };
  requester: { practitionerId: string; name: string };
  invitedInstitution: { institutionId: string; name: string };
  department: string;
  patient: PatientDetails | null;
  patientOutline: PatientOutline;
  summary: ConsultationSummary;
  consent: { method: string; recordedBy: string; at: string } | null;
  expert: { practitionerId: string; name: string } | null;
  slot: { start: string; end: string } | null;
  roomId: string;
  followUpConfirmedAt: string | null;
  termination: { reason: TerminationReason; note: string; referral: { institution: string; department: string; advice: string }; by: string; at: string } | null;
  /** `code: 'visit_ended'`: an escalation closed by the server when its visit ended before an opinion. */
  cancellation: { by: string; reason: string; at: string; code?: 'visit_ended' } | null;
  documents: DocumentView[];
  /** Kinds and count only, for `outline` views. */
  documentKinds: DocumentKind[];
  /** The opinion in force (the latest signed version). */
  opinion: OpinionView | null;
  /** Versions it superseded, newest first: amendments never erase what was signed. */
  earlierOpinions: OpinionView[];
  prescriptions: PrescriptionView[];
  /** Earlier consultations of the same patient (full views only). */
  history: Array<{ consultationId: string; status: ConsultationStatus; department: string; createdAt: string; opinion: string | null }>;
  createdAt: string;
  /** Changes whenever anything shown here changes (see ConsultationChange). */
  version: number;
  actions: ConsultationActions;
}

/**
 * One line of a worklist (`GET /api/consultations`): enough to sort and
 * pick, nothing that identifies the patient and no clinical text. Building
 * it is not a view of the record; opening the consultation is (audited).
 */
export interface ConsultationCard {
  consultationId: string;
  parentId: string | null;
  status: ConsultationStatus;
  requestingInstitution: { institutionId: string; name: string };
  requester: { practitionerId: string; name: string };
  invitedInstitution: { institutionId: string; name: string };
  department: string;
  patientOutline: PatientOutline;
  expert: { practitionerId: string; name: string } | null;
  slot: { start: string; end: string } | null;
  createdAt: string;
  requestedAt: string | null;
  endedAt: string | null;
  documentCount: number;
  hasConsent: boolean;
  hasOpinion: boolean;
  termination: { reason: TerminationReason } | null;
  cancellation: { by: 'requester' | 'invited_institution' | 'visit_ended' } | null;
  version: number;
  actions: ConsultationActions;
}

/** `GET /api/consultations/:id/changes`: whether to fetch the view again; not audited, nothing about the patient. */
export interface ConsultationChange {
  consultationId: string;
  status: ConsultationStatus;
  version: number;
  updatedAt: string;
}

export interface ConsultationActions {
  submit: boolean;
  upload: boolean;
  cancel: boolean;
  accept: boolean;
  schedule: boolean;
  confirmFollowUp: boolean;
  terminate: boolean;
  writeOpinion: boolean;
  complete: boolean;
  escalate: boolean;
  join: 'host' | 'expert' | null;
}
