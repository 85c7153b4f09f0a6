/**
 * Signaling for consultation rooms: turns one connection's requests into
 * calls on its Room, and the Room's messages into socket events. The room
 * is the one named in the token; the participant id is the one the room
 * gave this connection — neither is ever taken from the client's payload,
 * so no request can act as someone else.
 */
import { ForbiddenError, InvalidStateError } from '../../../errors.ts';
import type { RoomRegistry } from '../../../domain/rooms/RoomRegistry.ts';
import type { ConsultationRoomGate } from '../../../domain/consultations/ConsultationRoomGate.ts';
import { isLiveRole } from '../../../protocol/roles.ts';
import type { RoomBinding } from '../RoomBinding.ts';
import type { RequestHandlers } from '../requestRouter.ts';
import type { ConnectionContext } from '../socketServer.ts';

type RoomRequest = Extract<keyof RequestHandlers, `room:${string}` | `chat:${string}`>;
type RoomHandlers = Pick<RequestHandlers, RoomRequest>;

export function roomHandlers({ socket, clock, log }: ConnectionContext, rooms: RoomRegistry, binding: RoomBinding, gate: Pick<ConsultationRoomGate, 'admit'>): RoomHandlers {
  const { connection } = binding;
  const bound = () => binding.require();

  socket.on('disconnect', () => {
    const b = binding.current;
    if (b) b.room.connectionLost(b.peerId, connection);
  });
  clock.on('expired', () => {
    const b = binding.current;
    if (b) b.room.leave(b.peerId, 'token_expired', connection);
    binding.set(null);
  });

  return {
    'room:join': async ({ resume }) => {
      const identity = clock.identity;
      if (!isLiveRole(identity.role)) throw new ForbiddenError('This role cannot join a live consultation.');
      if (!identity.roomId) throw new ForbiddenError('This token does not admit to a consultation room.');
      if (binding.stillPresent()) throw new InvalidStateError('this connection has already joined');
      // Real-name rule: who may enter, under which name, is the gate's answer.
      const admission = await gate.admit(identity, identity.roomId);
      const entry = await rooms.enter(identity.roomId);
      // Scale-out: the room lives on another node; the client goes there.
      if (entry.kind === 'elsewhere') {
        log.info({ roomId: identity.roomId, node: entry.node.nodeId }, 'room lives on another node; redirecting');
        return { status: 'redirect', node: entry.node };
      }
      const { room } = entry;
      const participant = { userId: identity.userId, role: identity.role, displayName: admission.displayName };
      // Scale-out: a participant of a node that was lost, back with its resume token.
      const restoring = resume !== undefined && !room.hasParticipant(resume.peerId) && (await rooms.mayRestore(room.id, resume, participant));
      const result = restoring ? room.restore(participant, connection, resume.peerId) : room.join(participant, connection, resume);
      const peerId = result.status === 'admitted' ? result.self.peerId : result.peerId;
      binding.set({ room, peerId });
      log.info({ roomId: room.id, peerId, status: result.status }, 'joined room');
      // The connection may have dropped, or the token run out, while the room
      // opened: the disconnect and expiry handlers found no binding then.
      if (clock.expired) room.leave(peerId, 'token_expired', connection);
      else if (socket.disconnected) room.connectionLost(peerId, connection);
      return result;
    },
    'room:setRtpCapabilities': async ({ rtpCapabilities }) => {
      const { room, peerId } = bound();
      room.setRtpCapabilities(peerId, rtpCapabilities);
      return {};
    },
    'room:createTransport': async ({ direction }) => {
      const { room, peerId } = bound();
      const created = await room.createTransport(peerId, direction);
      // Browsers get WebRTC transports; another kind is never made for a signaling client.
      if ('plain' in created) throw new InvalidStateError('this room does not make WebRTC transports');
      return created;
    },
    'room:connectTransport': async ({ transportId, dtlsParameters }) => {
      const { room, peerId } = bound();
      await room.connectTransport(peerId, transportId, dtlsParameters);
      return {};
    },
    'room:restartIce': async ({ transportId }) => {
      const { room, peerId } = bound();
      return { iceParameters: await room.restartIce(peerId, transportId) };
    },
    'room:produce': async ({ transportId, kind, source, rtpParameters }) => {
      const { room, peerId } = bound();
      return { producerId: await room.produce(peerId, transportId, kind, source, rtpParameters) };
    },
    'room:pauseProducer': async ({ producerId }) => {
      const { room, peerId } = bound();
      await room.pauseProducer(peerId, producerId);
      return {};
    },
    'room:resumeProducer': async ({ producerId }) => {
      const { room, peerId } = bound();
      await room.resumeProducer(peerId, producerId);
      return {};
    },
    'room:closeProducer': async ({ producerId }) => {
      const { room, peerId } = bound();
      room.closeProducer(peerId, producerId);
      return {};
    },
    'room:resumeConsumer': async ({ consumerId }) => {
      const { room, peerId } = bound();
      await room.resumeConsumer(peerId, consumerId);
      return {};
    },
    'room:pauseConsumer': async ({ consumerId }) => {
      const { room, peerId } = bound();
      await room.pauseConsumer(peerId, consumerId);
      return {};
    },
    'room:setPreferredLayers': async ({ consumerId, spatialLayer, temporalLayer }) => {
      const { room, peerId } = bound();
      await room.setPreferredLayers(peerId, consumerId, spatialLayer, temporalLayer);
      return {};
    },
    'room:admit': async ({ peerId: target }) => {
      const { room, peerId } = bound();
      room.admit(peerId, target);
      return {};
    },
    'room:deny': async ({ peerId: target }) => {
      const { room, peerId } = bound();
      room.deny(peerId, target);
      return {};
    },
    'room:remove': async ({ peerId: target }) => {
      const { room, peerId } = bound();
      room.remove(peerId, target);
      return {};
    },
    'room:end': async () => {
      const { room, peerId } = bound();
      await room.end(peerId);
      binding.set(null);
      return {};
    },
    'room:leave': async () => {
      const { room, peerId } = bound();
      room.leave(peerId);
      binding.set(null);
      return {};
    },
    'chat:send': async ({ text }) => {
      const { room, peerId } = bound();
      return room.sendChat(peerId, text);
    },
  };
}
