/**
 * What each live role may do in a consultation room. The host is the
 * inviting doctor (county or village); the expert the invited specialist.
 * Quality-review and other back-office roles never reach this table: they
 * cannot join a live room at all.
 */
import type { Capabilities } from '../../protocol/room.ts';
import type { LiveRole } from '../../protocol/roles.ts';

const TABLE: Record<LiveRole, Capabilities> = {
  host: { produce: ['mic', 'camera', 'screen'], admit: true, remove: true, endVisit: true, chat: true },
  expert: { produce: ['mic', 'camera', 'screen'], admit: false, remove: false, endVisit: true, chat: true },
  patient: { produce: ['mic', 'camera'], admit: false, remove: false, endVisit: false, chat: true },
  observer: { produce: [], admit: false, remove: false, endVisit: false, chat: false },
};

export function capabilitiesOf(role: LiveRole): Capabilities {
  const c = TABLE[role];
  return { ...c, produce: [...c.produce] };
}

/** Whether this role enters without waiting in the lobby. */
export function entersDirectly(role: LiveRole): boolean {
  return TABLE[role].admit;
}
