/**
 * Roles a Huizhen token can carry.
 *
 * Live-room roles take part in a consultation room; back-office roles work
 * with recordings, approvals and the directory and can never join a live
 * room.
 */
export const LIVE_ROLES = ['host', 'expert', 'patient', 'observer'] as const;
export const BACK_OFFICE_ROLES = [
  'quality_reviewer',
  'records_staff',
  'approver',
  'institution_admin',
] as const;
export const ROLES = [...LIVE_ROLES, ...BACK_OFFICE_ROLES] as const;

export type LiveRole = (typeof LIVE_ROLES)[number];
export type BackOfficeRole = (typeof BACK_OFFICE_ROLES)[number];
export type Role = (typeof ROLES)[number];

export function isLiveRole(role: Role): role is LiveRole {
  return (LIVE_ROLES as readonly Role[]).includes(role);
}
