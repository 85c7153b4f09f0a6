import { expect } from 'chai';
import { connectSocket, get, socketClient, startTestServer, type TestServer } from '../support/server.ts';
import { badTokens, signToken, signingContextOf, type SigningContext } from '../support/tokens.ts';

describe('authentication with ES256 tokens', () => {
  let server: TestServer;
  let ctx: SigningContext;

  before(async () => {
    server = await startTestServer();
    ctx = signingContextOf(server);
  });
  after(() => server.stop());

  describe('REST (Authorization: Bearer)', () => {
    it('accepts a valid token and reports who the caller is', async () => {
      const res = await get(server, '/api/session', {
        Authorization: `Bearer ${signToken(ctx, { sub: 'dr-zhao', role: 'expert', name: '赵主任' })}`,
      });
      expect(res.status).to.equal(200);
      expect(res.json).to.include({ userId: 'dr-zhao', role: 'expert', displayName: '赵主任', roomId: 'room-1' });
    });

    it('answers 401 AUTH_TOKEN_MISSING without a token', async () => {
      const res = await get(server, '/api/session');
      expect(res.status).to.equal(401);
      expect(res.json.error.code).to.equal('AUTH_TOKEN_MISSING');
      expect(res.json.error.requestId).to.be.a('string');
    });

    it('tolerates a small clock difference', async () => {
      const t = Math.floor(Date.now() / 1000);
      const token = signToken(ctx, { nbf: t + 10, iat: t + 10, exp: t + 600 });
      expect((await get(server, '/api/session', { Authorization: `Bearer ${token}` })).status).to.equal(200);
    });

    it('refuses every forged or broken token with 401 and its own code', async () => {
      for (const bad of badTokens(ctx)) {
        const res = await get(server, '/api/session', { Authorization: `Bearer ${bad.token}` });
        expect(res.status, bad.what).to.equal(401);
        expect(res.json.error.code, bad.what).to.equal(bad.code);
        expect(res.text, `${bad.what}: the token must not be echoed`).not.to.include(bad.token.split('.')[1] ?? bad.token);
      }
    });
  });

  describe('socket.io handshake', () => {
    it('accepts a valid token and binds the identity to the connection', async () => {
      const socket = socketClient(server, signToken(ctx, { sub: 'dr-qian', role: 'patient' }));
      try {
        expect(await connectSocket(socket)).to.deep.equal({ connected: true });
        const ack = await socket.emitWithAck('session:whoami', {});
        expect(ack.ok).to.equal(true);
        if (ack.ok) {
          expect(ack.data).to.include({ userId: 'dr-qian', role: 'patient' });
          expect(ack.data.connectionId).to.match(/^c-/);
        }
      } finally {
        socket.disconnect();
      }
    });

    it('refuses a handshake without a token', async () => {
      const socket = socketClient(server, undefined);
      const result = await connectSocket(socket);
      socket.disconnect();
      expect(result.connected).to.equal(false);
      if (!result.connected) expect(result.data.code).to.equal('AUTH_TOKEN_MISSING');
    });

    it('refuses every forged or broken token with its own code', async () => {
      for (const bad of badTokens(ctx)) {
        const socket = socketClient(server, bad.token);
        const result = await connectSocket(socket);
        socket.disconnect();
        expect(result.connected, bad.what).to.equal(false);
        if (!result.connected) expect(result.data.code, bad.what).to.equal(bad.code);
      }
    });

    it('never writes a token into the log', () => {
      const log = server.logLines.join('\n');
      for (const bad of badTokens(ctx)) {
        const [, payload] = bad.token.split('.');
        if (payload && payload.length > 20) expect(log).not.to.include(payload);
      }
      expect(log).to.include('socket handshake refused');
    });
  });
});
