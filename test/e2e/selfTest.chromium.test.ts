import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, newContext, screenshotPath } from '../support/chromium.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

async function framesDecoded(page: Page): Promise<number> {
  return Number(await page.getByTestId('frames-decoded').textContent());
}

describe('Chromium: device and network self-test through the SFU', function () {
  this.timeout(60_000);
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    server = await startTestServer();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('a doctor signs in, runs the self-test, and sees their video come back from the server', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/dev-login`);
      await page.locator('#role').selectOption('host');
      await page.locator('#userId').fill('dr-li');
      await page.locator('#displayName').fill('李医生');
      await page.getByRole('button', { name: '获取令牌' }).click();
      await page.getByRole('link', { name: '去做设备与网络自检' }).click();

      await page.waitForURL('**/selftest');
      expect(await page.getByTestId('who').textContent()).to.include('李医生');

      // Local devices first: the fake camera plays and the fake microphone beeps.
      await page.locator('[data-testid="check-camera"][data-state="passed"]').waitFor({ timeout: 10_000 });
      await page.locator('[data-testid="check-mic"][data-state="passed"]').waitFor({ timeout: 10_000 });

      await page.getByTestId('selftest-start').click();
      await page.locator('[data-testid="check-signaling"][data-state="passed"]').waitFor({ timeout: 10_000 });
      await page.locator('[data-testid="check-media"][data-state="passed"]').waitFor({ timeout: 15_000 });
      await page.locator('[data-testid="check-echo"][data-state="passed"]').waitFor({ timeout: 15_000 });

      // Decoded frames keep rising: media is flowing through the worker, not a still.
      const first = await framesDecoded(page);
      await page.waitForFunction(
        (n) => Number(document.querySelector('[data-testid="frames-decoded"]')?.textContent) > n,
        first + 10,
        { timeout: 10_000 },
      );
      const size = await page.getByTestId('echo-video').evaluate((v: HTMLVideoElement) => [v.videoWidth, v.videoHeight]);
      expect(size[0]).to.be.greaterThan(0);
      expect(size[1]).to.be.greaterThan(0);
      expect(await page.getByTestId('selftest-summary').textContent()).to.equal('全部正常，可以进入会诊。');

      await page.screenshot({ path: screenshotPath('selftest-zh') });

      // On the server, the self-test is one router; stopping it closes it.
      const worker = server.workers.workers()[0]!;
      expect((await worker.dump()).routerIds).to.have.length(1);
      await page.getByTestId('selftest-stop').click();
      await page.locator('[data-testid="selftest-start"]:not([disabled])').waitFor();
      expect((await worker.dump()).routerIds).to.have.length(0);
    } finally {
      await context.close();
    }
  });
});
