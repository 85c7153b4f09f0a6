/**
 * Shared set-up of the room tests: participants as RoomClients in a fresh
 * room per test, and a helper that turns a refused request into its code.
 */
import { RoomClient, RequestFailed } from './roomClient.ts';
import type { TestServer } from './server.ts';
import { signToken, signingContextOf, type ClaimOverrides, type SigningContext } from './tokens.ts';

export class RoomFixture {
  server!: TestServer;
  room = '';
  #ctx!: SigningContext;
  #seq = 0;
  readonly #clients: RoomClient[] = [];
  readonly #prefix: string;

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  use(server: TestServer): void {
    this.server = server;
    this.#ctx = signingContextOf(server);
  }

  /** A fresh room for the next test. */
  next(): void {
    this.room = `${this.#prefix}-${++this.#seq}`;
  }

  token(claims: ClaimOverrides): string {
    return signToken(this.#ctx, { room: this.room, ...claims });
  }

  /** A connected participant of the current room (not joined yet). */
  async client(role: string, sub: string, extra: ClaimOverrides = {}): Promise<RoomClient> {
    const c = await RoomClient.connect(this.server, this.token({ role, sub, name: sub, ...extra }));
    this.#clients.push(c);
    return c;
  }

  /** Tracks a client created elsewhere so that it is closed after the test. */
  track(c: RoomClient): RoomClient {
    this.#clients.push(c);
    return c;
  }

  closeAll(): void {
    for (const c of this.#clients.splice(0)) c.close();
  }
}

/** The error code a request was refused with, or OK. */
export async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RequestFailed) return err.code;
    throw err;
  }
  return 'OK';
}
