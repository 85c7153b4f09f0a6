import type { HuizhenSocket, RequestHandlers } from '../requestRouter.ts';

type SessionHandlers = Pick<RequestHandlers, 'session:whoami'>;

export function sessionHandlers(socket: HuizhenSocket): SessionHandlers {
  return {
    'session:whoami': async () => {
      const { identity, connectionId } = socket.data;
      return {
        userId: identity.userId,
        role: identity.role,
        displayName: identity.displayName,
        roomId: identity.roomId,
        expiresAt: identity.expiresAt,
        connectionId,
      };
    },
  };
}
