/**
 * Development only: a small demonstration directory so that the whole
 * consultation workflow can be tried on a fresh machine — a village clinic,
 * a county hospital and a tertiary hospital with their approved
 * departments, cooperation agreements between them, and verified
 * practitioners. Created once, on an empty directory.
 */
import type { DirectoryService } from './DirectoryService.ts';

export const DEMO_PRACTITIONERS = [
  { practitionerId: 'dr-wang-village', name: '王村医', licenceNumber: '110350000000001', institutionId: 'xc-village', department: 'general_practice', profession: 'village_doctor' },
  { practitionerId: 'dr-li', name: '李医生', licenceNumber: '110350000000002', institutionId: 'qx-county', department: 'cardiology', profession: 'physician' },
  { practitionerId: 'dr-zhao', name: '赵医生', licenceNumber: '110350000000003', institutionId: 'qx-county', department: 'general_practice', profession: 'physician' },
  { practitionerId: 'ph-sun', name: '孙药师', licenceNumber: '110350000000004', institutionId: 'qx-county', department: 'pharmacy', profession: 'pharmacist' },
  { practitionerId: 'dr-zhang', name: '张教授', licenceNumber: '110350000000005', institutionId: 'sy-tertiary', department: 'cardiology', profession: 'specialist' },
  { practitionerId: 'dr-chen', name: '陈教授', licenceNumber: '110350000000006', institutionId: 'sy-tertiary', department: 'neurology', profession: 'specialist' },
  { practitionerId: 'ph-liu', name: '刘药师', licenceNumber: '110350000000007', institutionId: 'sy-tertiary', department: 'pharmacy', profession: 'pharmacist' },
] as const;

export async function seedDemoDirectory(directory: DirectoryService): Promise<boolean> {
  if ((await directory.repository.institutions()).length > 0) return false;
  await directory.createInstitution('system', { institutionId: 'xc-village', name: '溪村卫生室', level: 'village_clinic', departments: ['general_practice', 'internal_medicine'] });
  await directory.createInstitution('system', {
    institutionId: 'qx-county',
    name: '青县人民医院',
    level: 'county_hospital',
    departments: ['general_practice', 'internal_medicine', 'cardiology', 'neurology', 'pediatrics', 'pharmacy'],
  });
  await directory.createInstitution('system', {
    institutionId: 'sy-tertiary',
    name: '省第一人民医院',
    level: 'tertiary_hospital',
    departments: ['internal_medicine', 'cardiology', 'neurology', 'pediatrics', 'psychiatry', 'general_practice', 'pharmacy'],
  });
  const from = new Date(Date.now() - 24 * 3600_000).toISOString();
  const until = new Date(Date.now() + 3 * 365 * 24 * 3600_000).toISOString();
  await directory.createAgreement('system', { invitingInstitutionId: 'xc-village', invitedInstitutionId: 'qx-county', departments: ['general_practice', 'internal_medicine'], validFrom: from, validUntil: until });
  await directory.createAgreement('system', {
    invitingInstitutionId: 'qx-county',
    invitedInstitutionId: 'sy-tertiary',
    departments: ['internal_medicine', 'cardiology', 'neurology', 'pediatrics'],
    validFrom: from,
    validUntil: until,
  });
  for (const p of DEMO_PRACTITIONERS) {
    await directory.registerPractitioner('system', p);
    await directory.verifyPractitioner('system', p.practitionerId, { idDocumentType: 'resident_id', idDocumentNumber: `33010219800101${p.licenceNumber.slice(-4)}`, licenceNumber: p.licenceNumber });
  }
  return true;
}
