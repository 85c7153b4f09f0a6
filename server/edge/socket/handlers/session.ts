import type { TokenVerifier } from '../../auth/tokenVerifier.ts';
import type { RequestHandlers } from '../requestRouter.ts';
import type { ConnectionContext } from '../socketServer.ts';

type SessionHandlers = Pick<RequestHandlers, 'session:whoami' | 'session:refreshToken'>;

export function sessionHandlers({ socket, clock, log }: ConnectionContext, verifier: TokenVerifier): SessionHandlers {
  return {
    'session:whoami': async () => {
      const identity = clock.identity;
      return {
        userId: identity.userId,
        role: identity.role,
        displayName: identity.displayName,
        roomId: identity.roomId,
        expiresAt: identity.expiresAt,
        connectionId: socket.data.connectionId,
      };
    },
    'session:refreshToken': async ({ token }) => {
      const next = verifier.verify(token);
      clock.refresh(next);
      socket.data.identity = next;
      log.info({ expiresAt: next.expiresAt }, 'token refreshed');
      return { expiresAt: next.expiresAt };
    },
  };
}
