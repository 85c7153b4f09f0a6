/**
 * Signaling for consent and recording in a consultation room. Who may do
 * what is decided by RecordingService from the participant's role; the
 * participant is the one this connection speaks for.
 */
import { InvalidStateError } from '../../../errors.ts';
import type { Identity } from '../../auth/identity.ts';
import type { RecordingService } from '../../../domain/recordings/RecordingService.ts';
import type { RequestHandlers } from '../requestRouter.ts';
import type { RoomBinding } from '../RoomBinding.ts';

type RecordingHandlers = Pick<RequestHandlers, Extract<keyof RequestHandlers, `recording:${string}`>>;

export function recordingHandlers(recordings: RecordingService, binding: RoomBinding, identity: Identity): RecordingHandlers {
  const actor = () => {
    const { room, peerId } = binding.require();
    const p = room.participant(peerId);
    if (p.state.kind !== 'admitted') throw new InvalidStateError('wait until you are admitted');
    return { room, by: { userId: p.identity.userId, role: p.identity.role } };
  };
  return {
    'recording:giveConsent': async (input) => {
      const { room, by } = actor();
      return recordings.giveConsent(room, by, input);
    },
    'recording:withdrawConsent': async () => {
      const { room, by } = actor();
      await recordings.withdrawConsent(room, by);
      return {};
    },
    'recording:start': async (input) => {
      const { room, by } = actor();
      return recordings.start(room, { ...by, department: identity.department }, input.categories ? { categories: input.categories } : {});
    },
    'recording:stop': async () => {
      const { room, by } = actor();
      await recordings.stop(room, by);
      return {};
    },
  };
}
