/**
 * Who may enter a visit's room. A room that belongs to a consultation opens
 * only while the visit is in progress (the expert has confirmed it is a
 * follow-up), and only to its people: the requesting doctor as host, the
 * assigned expert (and the accepted experts of its open escalations) as
 * experts, the patient — each practitioner verified and not suspended, and
 * shown under the name the directory verified, whatever the token says.
 * Experts, like everyone but the host, then wait in the lobby to be admitted.
 *
 * Rooms that belong to no consultation (ad-hoc rooms) follow
 * `rooms.adHoc`: `off` (production default) refuses them, `verified`
 * requires verified practitioners, `open` (development) lets any token in.
 */
import { ForbiddenError, InvalidStateError } from '../../errors.ts';
import type { Identity } from '../../edge/auth/identity.ts';
import type { ConsultationRepository } from '../../storage/repositories/ConsultationRepository.ts';
import type { AuditSink } from '../audit/AuditTrail.ts';
import type { DirectoryService } from '../directory/DirectoryService.ts';

export type AdHocRooms = 'off' | 'verified' | 'open';

export interface RoomAdmission {
  /** The name to show: the verified name for practitioners. */
  displayName: string | null;
  consultationId: string | null;
}

export class ConsultationRoomGate {
  readonly #deps: { consultations: ConsultationRepository; directory: DirectoryService; audit: AuditSink; adHoc: AdHocRooms };

  constructor(deps: { consultations: ConsultationRepository; directory: DirectoryService; audit: AuditSink; adHoc: AdHocRooms }) {
    this.#deps = deps;
  }

  async admit(identity: Identity, roomId: string): Promise<RoomAdmission> {
    try {
      return await this.#admit(identity, roomId);
    } catch (err) {
      this.#deps.audit.record({
        action: 'consultation.room_refused',
        actor: identity.userId,
        actorRole: identity.role,
        subject: `room:${roomId}`,
        details: { reason: (err as Error).message },
      });
      throw err;
    }
  }

  async #admit(identity: Identity, roomId: string): Promise<RoomAdmission> {
    const rows = await this.#deps.consultations.byRoom(roomId);
    const visit = rows.find((c) => c.parentId === null);
    const practitioner = identity.role === 'host' || identity.role === 'expert';
    if (!visit) {
      switch (this.#deps.adHoc) {
        case 'off':
          throw new ForbiddenError('This room belongs to no scheduled consultation.');
        case 'verified': {
          if (!practitioner) return { displayName: identity.displayName, consultationId: null };
          const p = await this.#deps.directory.requireVerified(identity.userId);
          return { displayName: p.name, consultationId: null };
        }
        case 'open':
          return { displayName: identity.displayName, consultationId: null };
        default: {
          const never: never = this.#deps.adHoc;
          throw new Error(`unknown ad-hoc policy ${String(never)}`);
        }
      }
    }
    if (visit.status !== 'in_progress') {
      throw new InvalidStateError(
        visit.status === 'scheduled' ? 'the visit opens when the expert has confirmed it is a follow-up' : `the visit is ${visit.status}; its room is closed`,
      );
    }
    switch (identity.role) {
      case 'host': {
        if (identity.userId !== visit.requesterId) throw new ForbiddenError('Only the requesting doctor hosts this visit.');
        const p = await this.#deps.directory.requireVerified(identity.userId);
        return { displayName: p.name, consultationId: visit.consultationId };
      }
      case 'expert': {
        // An escalation is open while accepted (consultationState.ts); a completed or cancelled one admits no one.
        const invited = rows.find((c) => c.expertId === identity.userId && (c === visit || (c.parentId === visit.consultationId && c.status === 'accepted')));
        if (!invited) throw new ForbiddenError('You are not an expert of this consultation.');
        const p = await this.#deps.directory.requireVerified(identity.userId);
        return { displayName: p.name, consultationId: invited.consultationId };
      }
      case 'patient':
        if (!visit.patient.userId || visit.patient.userId !== identity.userId) throw new ForbiddenError('This visit is for another patient.');
        return { displayName: identity.displayName, consultationId: visit.consultationId };
      case 'observer':
        throw new ForbiddenError('Consultation visits admit no observers.');
      default:
        throw new ForbiddenError('This role cannot join a live consultation.');
    }
  }
}
