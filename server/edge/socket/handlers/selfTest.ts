/**
 * Signaling for the media self-test. One self-test per connection; it ends
 * with `selftest:stop`, when the connection closes, or by itself after its
 * maximum duration.
 */
import { ForbiddenError, InvalidStateError } from '../../../errors.ts';
import type { SelfTestRegistry } from '../../../domain/selftest/SelfTestRegistry.ts';
import type { SelfTestSession } from '../../../domain/selftest/SelfTestSession.ts';
import { isLiveRole } from '../../../protocol/roles.ts';
import type { IceServer } from '../../../protocol/socketEvents.ts';
import type { RequestHandlers } from '../requestRouter.ts';
import type { ConnectionContext } from '../socketServer.ts';

type SelfTestHandlers = Pick<
  RequestHandlers,
  | 'selftest:start'
  | 'selftest:connectTransport'
  | 'selftest:produce'
  | 'selftest:consume'
  | 'selftest:resumeConsumer'
  | 'selftest:stats'
  | 'selftest:stop'
>;

export function selfTestHandlers(
  { socket, log }: ConnectionContext,
  registry: SelfTestRegistry,
  iceServersFor: (userId: string) => IceServer[],
): SelfTestHandlers {
  let session: SelfTestSession | null = null;
  let starting = false;

  const current = (): SelfTestSession => {
    if (!session || session.closed) throw new InvalidStateError('no self-test is running; start one first');
    return session;
  };

  socket.on('disconnect', () => session?.close('stopped'));

  return {
    'selftest:start': async () => {
      // Back-office roles never send media.
      if (!isLiveRole(socket.data.identity.role)) throw new ForbiddenError('This role cannot use media.');
      if (starting || (session && !session.closed)) throw new InvalidStateError('a self-test is already running');
      starting = true;
      try {
        const started = await registry.start(socket.data.identity.userId);
        if (socket.disconnected) {
          started.close('stopped');
          throw new InvalidStateError('the connection closed');
        }
        session = started;
        started.once('close', (reason) => log.info({ reason }, 'self-test ended'));
        log.info('self-test started');
        return { ...started.describe(), iceServers: iceServersFor(socket.data.identity.userId) };
      } finally {
        starting = false;
      }
    },
    'selftest:connectTransport': async ({ transportId, dtlsParameters }) => {
      await current().connectTransport(transportId, dtlsParameters);
      return {};
    },
    'selftest:produce': async ({ transportId, kind, rtpParameters }) => ({
      producerId: await current().produce(transportId, kind, rtpParameters),
    }),
    'selftest:consume': async ({ producerId, rtpCapabilities }) => current().consume(producerId, rtpCapabilities),
    'selftest:resumeConsumer': async ({ consumerId }) => {
      await current().resumeConsumer(consumerId);
      return {};
    },
    'selftest:stats': async () => current().stats(),
    'selftest:stop': async () => {
      current().close('stopped');
      return {};
    },
  };
}
