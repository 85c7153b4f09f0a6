import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { launchChromium, newContext, screenshotPath } from '../support/chromium.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('Chromium: pages in Chinese and English', function () {
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

  it('opens in Chinese, shows server readiness, and switches to English on request', async () => {
    const context = await newContext(browser, 'en-US');
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/`);
      // zh-CN first, whatever the browser's own language.
      expect(await page.locator('html').getAttribute('lang')).to.equal('zh-CN');
      await page.getByTestId('server-status').filter({ hasText: '服务正常' }).waitFor();
      expect(await page.locator('.checks').textContent()).to.include('数据库：正常');
      await page.screenshot({ path: screenshotPath('home-zh') });

      await page.getByRole('button', { name: 'English' }).click();
      await page.getByTestId('server-status').filter({ hasText: 'Ready' }).waitFor();
      expect(await page.locator('html').getAttribute('lang')).to.equal('en');
      expect(await page.locator('h1').textContent()).to.equal('Remote outpatient video consultations');
      await page.screenshot({ path: screenshotPath('home-en') });
    } finally {
      await context.close();
    }
  });

  it('development sign-in shows who is signed in, with the role, and signs out', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/dev-login`);
      expect(await page.getByTestId('who').textContent()).to.equal('尚未登录');
      await page.locator('#role').selectOption('expert');
      await page.locator('#userId').fill('dr-zhang');
      await page.locator('#displayName').fill('张主任');
      await page.getByRole('button', { name: '获取令牌' }).click();
      await page.getByText('已登录，令牌有效至').waitFor();
      expect(await page.getByTestId('who').textContent()).to.include('张主任（会诊专家（受邀方））');
      await page.screenshot({ path: screenshotPath('dev-login-zh') });

      // A bad user id is refused with the server's coded message, translated.
      await page.locator('#userId').fill('not allowed!');
      await page.getByRole('button', { name: '获取令牌' }).click();
      await page.getByText('请求内容有误，请检查后重试。（VALIDATION_FAILED）').waitFor();

      await page.getByRole('button', { name: '退出' }).click();
      await page.waitForURL(`${server.url}/`);
      expect(await page.getByTestId('who').textContent()).to.equal('尚未登录');
    } finally {
      await context.close();
    }
  });
});
