import { expect } from 'chai';
import { EmbeddedS3Server } from '../../server/storage/objects/index.ts';
import { startPostgres, type PostgresCluster } from '../support/postgres.ts';
import { externalS3Env, get, startTestServer, tempDir, type TestServer } from '../support/server.ts';

describe('health, readiness and metrics', () => {
  describe('with every dependency up', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer();
    });
    after(() => server.stop());

    it('/healthz answers while the process runs', async () => {
      const res = await get(server, '/healthz');
      expect(res.status).to.equal(200);
      expect(res.json).to.include({ status: 'ok' });
    });

    it('/readyz reports the database, the object store and the media workers', async () => {
      const res = await get(server, '/readyz');
      expect(res.status).to.equal(200);
      expect(res.json.status).to.equal('ready');
      expect(res.json.checks.database.ok).to.equal(true);
      expect(res.json.checks.objectStore.ok).to.equal(true);
      expect(res.json.checks.mediaWorkers).to.include({ ok: true, live: 1, configured: 1 });
    });

    it('/metrics exposes mediasoup worker CPU and memory from getResourceUsage()', async () => {
      const res = await get(server, '/metrics');
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.match(/^text\/plain/);
      const pid = server.workers.workers()[0]?.pid;
      expect(pid).to.be.a('number');
      const value = (name: string) => {
        const line = res.text.split('\n').find((l) => l.startsWith(name));
        expect(line, `${name} is exposed`).to.be.a('string');
        return Number(line?.split(' ').pop());
      };
      expect(value(`huizhen_mediasoup_worker_cpu_seconds_total{pid="${pid}",mode="user"}`)).to.be.greaterThan(0);
      expect(value(`huizhen_mediasoup_worker_cpu_seconds_total{pid="${pid}",mode="system"}`)).to.be.at.least(0);
      expect(value(`huizhen_mediasoup_worker_max_rss_bytes{pid="${pid}"}`)).to.be.greaterThan(1_000_000);
      expect(value(`huizhen_mediasoup_worker_rss_bytes{pid="${pid}"}`)).to.be.greaterThan(1_000_000);
      expect(value('huizhen_mediasoup_workers')).to.equal(1);
      expect(res.text).to.include('huizhen_http_request_duration_seconds');
    });

    it('answers unknown API paths with a coded 404', async () => {
      const res = await get(server, '/api/nope');
      expect(res.status).to.equal(404);
      expect(res.json.error.code).to.equal('NOT_FOUND');
    });

    it('sends security headers and a request id', async () => {
      const res = await get(server, '/healthz', { 'X-Request-Id': 'proxy-req-12345678' });
      expect(res.headers['x-request-id']).to.equal('proxy-req-12345678');
      expect(res.headers['strict-transport-security']).to.match(/max-age=/);
      expect(res.headers['content-security-policy']).to.include("default-src 'self'");
      expect(res.headers['x-powered-by']).to.equal(undefined);
    });
  });

  describe('with a metrics token', () => {
    let server: TestServer;
    const token = 'prometheus-scrape-token-1234';
    before(async () => {
      server = await startTestServer({ env: { HUIZHEN_METRICS_TOKEN: token } });
    });
    after(() => server.stop());

    it('serves /metrics only to the bearer of the token', async () => {
      expect((await get(server, '/metrics')).status).to.equal(401);
      expect((await get(server, '/metrics', { Authorization: 'Bearer wrong-token-wrong-token' })).status).to.equal(401);
      const ok = await get(server, '/metrics', { Authorization: `Bearer ${token}` });
      expect(ok.status).to.equal(200);
      expect(ok.text).to.include('huizhen_mediasoup_workers');
      expect(server.logLines.join('\n')).not.to.include(token);
    });
  });

  describe('when PostgreSQL goes down', () => {
    let pg: PostgresCluster;
    let server: TestServer;
    before(async () => {
      pg = await startPostgres();
      server = await startTestServer({ databaseUrl: await pg.createDatabase() });
    });
    after(async () => {
      await server.stop();
      await pg.stop();
    });

    it('/readyz turns 503 and names the database, /healthz stays 200', async () => {
      expect((await get(server, '/readyz')).status).to.equal(200);
      await pg.stop();
      const res = await get(server, '/readyz');
      expect(res.status).to.equal(503);
      expect(res.json.status).to.equal('not_ready');
      expect(res.json.checks.database).to.include({ ok: false, error: 'database is unreachable' });
      expect(res.json.checks.objectStore.ok).to.equal(true);
      // The unauthenticated answer names no address, port or user.
      expect(res.text).not.to.include(String(pg.port));
      expect(res.text).not.to.include('huizhen@');
      expect(server.logLines.join('\n')).to.include('readiness check failing');
      expect((await get(server, '/healthz')).status).to.equal(200);
    });
  });

  describe('when the object store goes down', () => {
    let s3: EmbeddedS3Server;
    let server: TestServer;
    before(async () => {
      s3 = await EmbeddedS3Server.start({ directory: tempDir(), port: 0, bucket: 'huizhen' });
      server = await startTestServer({
        env: externalS3Env(s3, { HUIZHEN_S3_REQUEST_TIMEOUT_MS: '1000' }),
      });
    });
    after(async () => {
      await server.stop();
      await s3.close();
    });

    it('/readyz turns 503 and names the object store', async () => {
      expect((await get(server, '/readyz')).status).to.equal(200);
      await s3.close();
      const res = await get(server, '/readyz');
      expect(res.status).to.equal(503);
      expect(res.json.checks.objectStore.ok).to.equal(false);
      expect(res.json.checks.database.ok).to.equal(true);
    });
  });
});
