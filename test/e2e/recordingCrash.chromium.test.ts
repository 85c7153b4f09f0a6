import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { TokenIssuer } from '../../server/edge/auth/tokenIssuer.ts';
import { createLogger } from '../../server/observability/logger.ts';
import { publicKeyFingerprint } from '../../server/pki/keyFiles.ts';
import type { LiveRole } from '../../server/protocol/roles.ts';
import { PostgresDatabase, type Database } from '../../server/storage/db/index.ts';
import { EmbeddedS3Server } from '../../server/storage/objects/index.ts';
import { archiveFor } from '../support/archive.ts';
import { launchChromium, newContext } from '../support/chromium.ts';
import { sharedPostgres } from '../support/postgres.ts';
import { runNode, type RunningProcess } from '../support/process.ts';
import { externalS3Env, tempDir } from '../support/server.ts';

describe('Chromium: a recording survives kill -9 of the server', function () {
  this.timeout(240_000);
  let browser: Browser;
  let s3: EmbeddedS3Server;
  let db: Database;
  let dbUrl = '';
  let dataDir = '';
  const contexts: BrowserContext[] = [];
  const processes: RunningProcess[] = [];
  const roomId = 'crash-visit';

  function startServer(): RunningProcess {
    const proc = runNode('server/main.ts', [], {
      HUIZHEN_DATA_DIR: dataDir,
      HUIZHEN_PORT: '0',
      HUIZHEN_MEDIA_WORKERS: '1',
      HUIZHEN_ADAPT_VIDEO_TO_BANDWIDTH: 'false',
      DATABASE_URL: dbUrl,
      ...externalS3Env(s3),
    });
    processes.push(proc);
    return proc;
  }

  async function enterAs(url: string, role: LiveRole, userId: string): Promise<Page> {
    const keys = path.join(dataDir, 'keys');
    const verifyKey = fs.readFileSync(path.join(keys, 'token-signing.pub.pem'), 'utf8');
    const issuer = new TokenIssuer({
      signingKeyPem: fs.readFileSync(path.join(keys, 'token-signing.key.pem'), 'utf8'),
      keyId: publicKeyFingerprint(verifyKey).slice(0, 32),
      issuer: 'huizhen',
      audience: 'huizhen',
    });
    const issued = issuer.issue({ role, userId, roomId, displayName: userId, ttlSeconds: 900 });
    const context = await newContext(browser);
    contexts.push(context);
    await context.addInitScript((stored) => sessionStorage.setItem('huizhen.session', stored), JSON.stringify({
      token: issued.token, expiresAt: issued.expiresAt, userId, role, displayName: userId, roomId,
    }));
    const page = await context.newPage();
    await page.goto(`${url}/room`);
    await page.waitForFunction(() => ((document.querySelector('[data-testid="join-local-video"]') as HTMLVideoElement | null)?.videoWidth ?? 0) > 0);
    await page.getByTestId('join-room').click();
    return page;
  }

  before(async () => {
    browser = await launchChromium();
    s3 = await EmbeddedS3Server.start({ directory: tempDir(), port: 0, bucket: 'huizhen' });
    dbUrl = await (await sharedPostgres()).createDatabase();
    db = await PostgresDatabase.connect({ url: dbUrl, poolSize: 2, log: createLogger('silent') });
    dataDir = tempDir();
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    for (const p of processes) p.child.kill('SIGKILL');
    await db?.close();
    await s3?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('finalises the recording as interrupted after a restart, and every uploaded segment decrypts', async () => {
    const first = startServer();
    const [, url] = await first.waitFor(/Huizhen is running: (https:\/\/\S+)/, 60_000);
    const host = await enterAs(url!, 'host', 'dr-li');
    await host.getByTestId('room').waitFor();
    const patient = await enterAs(url!, 'patient', 'pt-wang');
    await host.getByTestId('admit-pt-wang').click();
    await patient.getByTestId('room').waitFor();
    await patient.getByTestId('agree-recording').click();
    await host.locator('[data-testid="consent-state"][data-state="given"]').waitFor();
    await host.getByTestId('start-recording').click();
    await host.locator('[data-testid="recording"][data-state="recording"]').waitFor();

    // Wait until segments of every track are in storage, then kill the server without warning.
    let recordingId = '';
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await db.query<{ recording_id: string; n: number }>(
        `SELECT recording_id, count(*)::int AS n FROM recording_segments WHERE state = 'uploaded' GROUP BY recording_id`,
      );
      if (r.rows[0] && r.rows[0].n >= 6) {
        recordingId = r.rows[0].recording_id;
        break;
      }
      if (Date.now() > deadline) expect.fail('no segments were uploaded');
      await host.waitForTimeout(250);
    }
    first.child.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await first.exited).to.equal('SIGKILL');
    const before = await db.query<{ status: string }>('SELECT status FROM recordings WHERE recording_id = $1', [recordingId]);
    expect(before.rows[0]?.status).to.equal('recording');

    // The next start recovers: spooled segments go up, the manifest is written as interrupted.
    // The restart comes a while later; the recording still ends when the server died.
    await host.waitForTimeout(3000);
    const second = startServer();
    await second.waitFor(/Huizhen is running/, 60_000);
    const finalDeadline = Date.now() + 60_000;
    let status = '';
    while (Date.now() < finalDeadline) {
      status = (await db.query<{ status: string }>('SELECT status FROM recordings WHERE recording_id = $1', [recordingId])).rows[0]?.status ?? '';
      if (status === 'interrupted') break;
      await host.waitForTimeout(250);
    }
    expect(status).to.equal('interrupted');
    expect(second.stdout()).to.include('recovered recordings after an unclean stop');

    const archive = archiveFor(db, s3.endpoint, path.join(dataDir, 'keys'));
    const manifest = await archive.verify(recordingId);
    expect(manifest.status).to.equal('interrupted');
    expect(manifest.lastGoodSegment?.seq).to.equal(manifest.segments.length);
    expect(Date.parse(manifest.endedAt), 'ended at the last sealed segment, not at the restart').to.be.at.most(killedAt);
    for (const track of manifest.tracks) expect(Date.parse(manifest.startedAt) + (track.endOffsetMs ?? 0)).to.be.at.most(killedAt);
    const opened = await archive.open(recordingId);
    for (const segment of manifest.segments) {
      const plaintext = await archive.plaintextSegment(opened, segment);
      // WebM/Matroska segments start with the EBML magic.
      expect(plaintext.subarray(0, 4).equals(Buffer.from([0x1a, 0x45, 0xdf, 0xa3])), `${segment.trackId}#${segment.index}`).to.equal(true);
    }
    expect(new Set(manifest.tracks.map((t) => t.userId))).to.deep.equal(new Set(['dr-li', 'pt-wang']));
    second.child.kill('SIGTERM');
    await second.exited;
  });
});
