import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { LiveRole } from '../../server/protocol/roles.ts';
import { launchChromium, newContext, screenshotPath } from '../support/chromium.ts';
import { startTestServer, tempDir, type TestServer } from '../support/server.ts';

describe('Chromium: consent and encrypted recording of a visit', function () {
  this.timeout(180_000);
  let server: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const roomId = 'e2e-recorded-visit';

  async function enterAs(role: LiveRole, userId: string, displayName: string): Promise<Page> {
    const issued = server.tokenIssuer!.issue({ role, userId, roomId, displayName, ttlSeconds: 900 });
    const context = await newContext(browser);
    contexts.push(context);
    await context.addInitScript((stored) => sessionStorage.setItem('huizhen.session', stored), JSON.stringify({
      token: issued.token, expiresAt: issued.expiresAt, userId, role, displayName, roomId,
    }));
    const page = await context.newPage();
    await page.goto(`${server.url}/room`);
    await page.waitForFunction(() => ((document.querySelector('[data-testid="join-local-video"]') as HTMLVideoElement | null)?.videoWidth ?? 0) > 0);
    await page.getByTestId('join-room').click();
    return page;
  }

  before(async () => {
    server = await startTestServer({ overrides: { rooms: { adaptVideoToBandwidth: false } } });
    browser = await launchChromium();
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.stop();
  });

  it('the patient agrees in the app, the host records, everyone sees it, and withdrawal stops it at once', async () => {
    const host = await enterAs('host', 'dr-li', '李医生');
    await host.getByTestId('room').waitFor();
    const patient = await enterAs('patient', 'pt-wang', '王先生');
    await host.getByTestId('admit-pt-wang').click();
    await patient.getByTestId('room').waitFor();

    // No consent yet: the host cannot start; the patient is asked, with the hospital's text.
    expect(await host.getByTestId('start-recording').count()).to.equal(0);
    expect(await patient.locator('.consent-text').textContent()).to.include('本次远程会诊将进行录音录像');
    await patient.screenshot({ path: screenshotPath('recording-consent-patient') });
    await patient.getByTestId('agree-recording').click();
    await host.locator('[data-testid="consent-state"][data-state="given"]').waitFor();

    await host.getByTestId('start-recording').click();
    for (const page of [host, patient]) await page.locator('[data-testid="recording"][data-state="recording"]').waitFor();
    const recordingId = server.recordings.activeRecordingId(roomId)!;
    const started = Date.now();
    await host.screenshot({ path: screenshotPath('recording-host') });

    // Ten seconds of consultation, then the patient changes their mind.
    await host.waitForTimeout(10_000);
    patient.once('dialog', (d) => void d.accept());
    await patient.getByTestId('withdraw-consent').click();
    for (const page of [host, patient]) await page.locator('[data-testid="recording"][data-state="off"]').waitFor();
    const recorded = (Date.now() - started) / 1000;
    expect(await host.locator('[data-testid="consent-state"]').getAttribute('data-state')).to.equal('none');

    // The recording is sealed, in storage, and exports as real audio and video of both people.
    expect(await server.recordings.finalized(recordingId)).to.equal('complete');
    const manifest = await server.archive.verify(recordingId);
    expect(manifest.stopReason).to.equal('consent_withdrawn');
    expect(new Set(manifest.tracks.map((t) => t.userId))).to.deep.equal(new Set(['dr-li', 'pt-wang']));
    const out = path.join(tempDir(), 'visit.webm');
    await server.archive.export(recordingId, out);
    const probe = JSON.parse(spawnSync('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', out], { encoding: 'utf8' }).stdout) as {
      streams: Array<{ codec_type: string }>;
      format: { duration: string };
    };
    expect(probe.streams.filter((s) => s.codec_type === 'video')).to.have.length(2);
    // Each participant's audio, and a mix of both first.
    expect(probe.streams.filter((s) => s.codec_type === 'audio')).to.have.length(3);
    const recordedUntil = Math.max(...manifest.tracks.map((t) => t.endOffsetMs ?? 0)) / 1000;
    expect(Number(probe.format.duration)).to.be.closeTo(recordedUntil, 1);
    expect(Number(probe.format.duration)).to.be.closeTo(recorded, 1.5);
  });
});
