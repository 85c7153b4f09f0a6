import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { ServiceUnavailableError } from '../../server/errors.ts';
import { healthRoutes, type ReadinessProbe } from '../../server/edge/http/routes/health.ts';
import { captureLogger } from '../support/server.ts';

async function serve(probes: ReadinessProbe[], shuttingDown = () => false) {
  const app = express();
  const seen = { requests: 0 };
  app.use((_req, _res, next) => {
    seen.requests += 1;
    next();
  });
  app.use(healthRoutes({ probes, isShuttingDown: shuttingDown, version: 't', startedAt: new Date(), log: captureLogger().log }));
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`;
  return { url, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('readiness probes', () => {
  it('runs the probes once for concurrent requests', async () => {
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const srv = await serve([{ name: 'database', check: async () => { runs += 1; await gate; } }]);
    try {
      const pending = Array.from({ length: 10 }, () => fetch(srv.url));
      // The probe answers only once all ten requests are inside the server.
      while (srv.seen.requests < 10) await new Promise((r) => setImmediate(r));
      release();
      const statuses = await Promise.all(pending.map(async (p) => (await p).status));
      expect(statuses).to.deep.equal(Array(10).fill(200));
      expect(runs).to.equal(1);
      await fetch(srv.url);
      expect(runs).to.equal(2); // a later request probes afresh
    } finally {
      await srv.close();
    }
  });

  it('answers shutting_down while the server stops, even with healthy dependencies', async () => {
    const srv = await serve([{ name: 'database', check: async () => undefined }], () => true);
    try {
      const res = await fetch(srv.url);
      expect(res.status).to.equal(503);
      expect(((await res.json()) as { status: string }).status).to.equal('shutting_down');
    } finally {
      await srv.close();
    }
  });

  it('hides the message of an unexpected probe error', async () => {
    const srv = await serve([
      { name: 'database', check: async () => { throw new Error('password authentication failed for user "huizhen" at 10.1.2.3'); } },
      { name: 'objectStore', check: async () => { throw new ServiceUnavailableError('object store is unreachable'); } },
    ]);
    try {
      const res = await fetch(srv.url);
      const body = (await res.json()) as { checks: Record<string, { ok: boolean; error: string }> };
      expect(res.status).to.equal(503);
      expect(body.checks['database']).to.include({ ok: false, error: 'unavailable' });
      expect(body.checks['objectStore']).to.include({ ok: false, error: 'object store is unreachable' });
    } finally {
      await srv.close();
    }
  });
});
