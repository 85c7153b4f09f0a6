/**
 * The supervision outbox with several dispatchers on one PostgreSQL
 * database (several Huizhen processes): each event reaches the platform
 * once, even when the dispatchers' passes overlap, and only the holder of
 * an event's claim records its outcome.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import forge from 'node-forge';
import { pino } from 'pino';
import { NO_AUDIT } from '../../server/domain/audit/AuditTrail.ts';
import { SupervisionDispatcher } from '../../server/domain/supervision/SupervisionOutbox.ts';
import { generateRsaKeyPair } from '../../server/pki/certificates.ts';
import { PostgresDatabase, migrate, type Database } from '../../server/storage/db/index.ts';
import { OutboxRepository } from '../../server/storage/repositories/OutboxRepository.ts';
import { sharedPostgres } from '../support/postgres.ts';
import { captureLogger } from '../support/server.ts';

describe('supervision outbox across processes (PostgreSQL)', function () {
  this.timeout(60_000);
  const databases: Database[] = [];
  let url: string;
  const signer = { keyId: 'test-signing', privateKey: forge.pki.privateKeyFromPem(generateRsaKeyPair().privateKeyPem) as forge.pki.rsa.PrivateKey };

  /** One server process's connection pool to the shared database. */
  async function connect(): Promise<Database> {
    const db = await PostgresDatabase.connect({ url, poolSize: 4, log: captureLogger().log });
    databases.push(db);
    return db;
  }

  const dispatcher = (db: Database, endpoint: string) =>
    new SupervisionDispatcher({ db, config: { endpoint, maxAttempts: 5, retryBaseMs: 1000, timeoutMs: 5000 }, signer, audit: NO_AUDIT, log: pino({ level: 'silent' }) });

  /** Counts every POST per event id — it does not de-duplicate, so a second delivery shows. */
  async function countingReceiver(answer: (eventId: string, n: number) => number = () => 200) {
    const deliveries = new Map<string, number>();
    const srv = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const eventId = String(req.headers['x-huizhen-event-id']);
        const n = (deliveries.get(eventId) ?? 0) + 1;
        deliveries.set(eventId, n);
        // Answer on a later turn, so that both dispatchers are mid-pass at once.
        setImmediate(() => res.writeHead(answer(eventId, n)).end('{}'));
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/events`,
      deliveries,
      close: () => {
        srv.closeAllConnections();
        return new Promise<void>((r) => srv.close(() => r()));
      },
    };
  }

  before(async () => {
    url = await (await sharedPostgres()).createDatabase('huizhen_outbox');
    await migrate(await connect());
  });
  after(async () => {
    for (const db of databases.splice(0)) await db.close();
  });

  it('delivers each event exactly once when two dispatchers of two processes run at the same time', async () => {
    const [a, b] = [await connect(), await connect()];
    await a.query('DELETE FROM supervision_outbox');
    const ids: string[] = [];
    for (let i = 0; i < 30; i += 1) {
      const eventId = `evt-${crypto.randomUUID()}`;
      ids.push(eventId);
      await OutboxRepository.enqueue(a, { eventId, topic: 'consultation.completed', payload: { n: i } });
    }
    const rx = await countingReceiver();
    try {
      const first = dispatcher(a, rx.url);
      const second = dispatcher(b, rx.url);
      // Both run their passes concurrently, several times over, until nothing is left.
      for (let round = 0; round < 3; round += 1) await Promise.all([first.deliverDue(), second.deliverDue(), first.deliverDue(), second.deliverDue()]);
      expect([...rx.deliveries.keys()].sort()).to.deep.equal([...ids].sort());
      const twice = [...rx.deliveries.entries()].filter(([, n]) => n !== 1);
      expect(twice, 'events delivered more than once').to.deep.equal([]);
      const stored = await new OutboxRepository(a).all();
      expect(stored.every((e) => e.status === 'delivered' && e.attempts === 1 && e.claimedBy === null)).to.equal(true);
    } finally {
      await rx.close();
    }
  });

  it('lets only the holder of a claim record the outcome, and hands a lapsed claim to another dispatcher', async () => {
    const db = await connect();
    await db.query('DELETE FROM supervision_outbox');
    const eventId = `evt-${crypto.randomUUID()}`;
    await OutboxRepository.enqueue(db, { eventId, topic: 'consultation.terminated', payload: {} });
    const repo = new OutboxRepository(db);
    // Due "now" on the test's clock: a moment ahead, as JavaScript dates drop the database's microseconds.
    const soon = () => new Date(Date.now() + 1000);
    const [claimed] = await repo.claimDue(soon(), 'process-a', 60_000);
    expect(claimed?.eventId).to.equal(eventId);
    expect(await repo.claimDue(soon(), 'process-b', 60_000), 'claimed already').to.deep.equal([]);
    expect(await repo.delivered(eventId, 1, 'process-b'), 'not the holder').to.equal(false);
    expect(await repo.failed(eventId, 1, 'HTTP 503', new Date(), 'process-b'), 'not the holder').to.equal(false);
    expect((await repo.get(eventId))!).to.include({ status: 'pending', attempts: 0, claimedBy: 'process-a' });

    // Process A went away: once its lease lapses, B takes the event, and A's late report changes nothing.
    await db.query(`UPDATE supervision_outbox SET claimed_until = now() - interval '1 second' WHERE event_id = $1`, [eventId]);
    expect((await repo.claimDue(soon(), 'process-b', 60_000)).map((e) => e.eventId)).to.deep.equal([eventId]);
    expect(await repo.delivered(eventId, 1, 'process-a'), 'lapsed claim').to.equal(false);
    expect(await repo.delivered(eventId, 1, 'process-b')).to.equal(true);
    expect(await repo.delivered(eventId, 2, 'process-b'), 'delivered already').to.equal(false);
    expect((await repo.get(eventId))!).to.include({ status: 'delivered', attempts: 1, claimedBy: null });
  });
});
