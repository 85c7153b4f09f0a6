/**
 * Headless Chromium from Debian, driven by playwright-core. WebRTC tests
 * must run inside a loopback-only network namespace (npm test does that),
 * where Chromium gathers 127.0.0.1 candidates only — given
 * --allow-loopback-in-peer-connection — and no packet can leave the machine.
 */
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env['HUIZHEN_CHROMIUM'] ?? '/usr/bin/chromium';

export function assertLoopbackOnly(): void {
  const interfaces = Object.keys(os.networkInterfaces()).filter((name) => name !== 'lo');
  if (interfaces.length > 0) {
    throw new Error(
      `browser tests must run in a loopback-only network namespace (found ${interfaces.join(', ')}); run them with npm test`,
    );
  }
}

export async function launchChromium(): Promise<Browser> {
  assertLoopbackOnly();
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: [
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection',
    ],
  });
}

/** A context that trusts the server's development certificate, zh-CN by default. */
export async function newContext(browser: Browser, locale = 'zh-CN'): Promise<BrowserContext> {
  return browser.newContext({
    ignoreHTTPSErrors: true,
    locale,
    viewport: { width: 1280, height: 860 },
    permissions: ['camera', 'microphone'],
  });
}

/** Where screenshots of test runs go (for people to look at; not asserted). */
export function screenshotPath(name: string): string {
  const dir = path.resolve('test-output/screenshots');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, `${name}.png`);
}
