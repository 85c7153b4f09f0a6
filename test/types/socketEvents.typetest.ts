/**
 * Compile-time tests of the signaling contract (checked by `tsc` in npm
 * test, never executed): wrong event names, payloads and ack shapes must
 * not compile, on the client side and on the server side.
 */
import type { Socket as ClientSocket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../../server/protocol/socketEvents.ts';
import type { RequestHandlers, RequestSchemas } from '../../server/edge/socket/requestRouter.ts';
import type { ErrorCode } from '../../server/protocol/errorCodes.ts';

declare const client: ClientSocket<ServerToClientEvents, ClientToServerEvents>;

export async function clientSide(): Promise<void> {
  // The right name and payload compile, and the ack is narrowed on `ok`.
  const ack = await client.emitWithAck('selftest:resumeConsumer', { consumerId: 'x' });
  if (ack.ok) {
    const data: Record<string, never> = ack.data;
    void data;
  } else {
    const code: ErrorCode = ack.error.code;
    void code;
  }

  // @ts-expect-error: no such event
  await client.emitWithAck('selftest:resume', { consumerId: 'x' });
  // @ts-expect-error: wrong payload field
  await client.emitWithAck('selftest:resumeConsumer', { consumer: 'x' });
  // @ts-expect-error: data is only readable after narrowing on ok
  void (await client.emitWithAck('session:whoami', {})).data;

  client.on('session:closing', ({ reason }) => {
    // @ts-expect-error: reasons are a closed set
    if (reason === 'bored') return;
  });
}

export function serverSide(handlers: RequestHandlers, schemas: RequestSchemas): void {
  // @ts-expect-error: a handler map missing one request does not compile
  const incomplete: RequestHandlers = { 'session:whoami': handlers['session:whoami'] };
  void incomplete;
  // @ts-expect-error: every request needs a validator
  const noSchemas: RequestSchemas = { 'session:whoami': schemas['session:whoami'] };
  void noSchemas;
}

// @ts-expect-error: error codes are a closed set
export const unknownCode: ErrorCode = 'OOPS';
