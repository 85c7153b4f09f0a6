/**
 * `prescription:create`: the practitioner writes a prescription in person,
 * from the visit's admitted connection while it sends a live camera (see
 * PrescriptionService).
 */
import { InvalidStateError } from '../../../errors.ts';
import type { PrescriptionService } from '../../../domain/consultations/PrescriptionService.ts';
import type { RequestHandlers } from '../requestRouter.ts';
import type { RoomBinding } from '../RoomBinding.ts';
import type { ConnectionContext } from '../socketServer.ts';

type PrescriptionHandlers = Pick<RequestHandlers, 'prescription:create'>;

export function prescriptionHandlers({ socket, clock }: ConnectionContext, prescriptions: PrescriptionService, binding: RoomBinding): PrescriptionHandlers {
  return {
    'prescription:create': async ({ items }) => {
      const { room, peerId } = binding.require();
      const p = room.participant(peerId);
      if (p.state.kind !== 'admitted') throw new InvalidStateError('wait until you are admitted');
      return prescriptions.create({ identity: clock.identity, roomId: room.id, peerId, connectionId: socket.data.connectionId, onCamera: room.sendsLiveCamera(peerId) }, items);
    },
  };
}
