/**
 * Join latency: headless Chromium with fake media joins a room on loopback
 * in which a doctor (another Chromium page) is already sending video. Each
 * join is a fresh page of the room: the time from its signaling connection
 * (user-timing mark `huizhen:signaling-connected`) to the first remote
 * video frame it presents (`huizhen:first-remote-frame`, from
 * requestVideoFrameCallback). The first joins warm the server up and are
 * reported apart.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startHuizhen } from '../server/app.ts';
import { loadConfig } from '../server/config/index.ts';
import { createLogger } from '../server/observability/logger.ts';
import { launchChromium, newContext } from '../test/support/chromium.ts';
import type { Page } from 'playwright-core';
import { quantile, round } from './lib/stats.ts';

export interface JoinLatencyResult {
  joins: number;
  warmupMs: number[];
  samplesMs: number[];
  p50Ms: number;
  p95Ms: number;
  minMs: number;
  maxMs: number;
}

const WARMUP = 2;
const ROOM = 'bench-join';

export async function joinLatency(joins: number, log: (line: string) => void): Promise<JoinLatencyResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'huizhen-bench-join-'));
  const config = loadConfig({
    env: {},
    overrides: { dataDir, http: { port: 0 }, log: { level: 'silent' }, media: { workers: 1 }, consultations: { seedDemoDirectory: false } },
  });
  const server = await startHuizhen(config, { log: createLogger('silent') });
  const browser = await launchChromium();
  const enter = async (page: Page, userId: string) => {
    const issued = server.tokenIssuer!.issue({ role: 'host', userId, roomId: ROOM, displayName: userId, ttlSeconds: 900 });
    await page.addInitScript((stored) => sessionStorage.setItem('huizhen.session', stored), JSON.stringify({
      token: issued.token,
      expiresAt: issued.expiresAt,
      userId,
      role: 'host',
      displayName: userId,
      roomId: ROOM,
    }));
    await page.goto(`${server.url}/room`);
    await page.waitForFunction(() => ((document.querySelector('[data-testid="join-local-video"]') as HTMLVideoElement | null)?.videoWidth ?? 0) > 0);
    await page.getByTestId('join-room').click();
  };
  try {
    // The doctor already in the room, sending.
    const senderContext = await newContext(browser);
    const sender = await senderContext.newPage();
    await enter(sender, 'bench-sender');
    await sender.getByTestId('room').waitFor();
    const context = await newContext(browser);
    const all: number[] = [];
    for (let i = 0; i < joins + WARMUP; i++) {
      const page = await context.newPage();
      await enter(page, `bench-joiner-${i}`);
      const ms = await page.evaluate(
        () =>
          new Promise<number>((resolve) => {
            const check = () => {
              const frame = performance.getEntriesByName('huizhen:first-remote-frame')[0];
              const connected = performance.getEntriesByName('huizhen:signaling-connected')[0];
              if (frame && connected) resolve(frame.startTime - connected.startTime);
              else setTimeout(check, 10);
            };
            check();
          }),
      );
      all.push(round(ms, 1));
      log(`  join ${String(i + 1).padStart(2)}: ${ms.toFixed(0)} ms from signaling connected to first remote frame${i < WARMUP ? ' (warm-up)' : ''}`);
      await page.close({ runBeforeUnload: true });
      // The room notices the leave before the next join.
      await sender.waitForFunction(() => document.querySelectorAll('[data-testid="tile-camera"]').length <= 1, undefined, { timeout: 10_000 }).catch(() => undefined);
    }
    const samples = all.slice(WARMUP);
    return {
      joins: samples.length,
      warmupMs: all.slice(0, WARMUP),
      samplesMs: samples,
      p50Ms: round(quantile(samples, 0.5), 1),
      p95Ms: round(quantile(samples, 0.95), 1),
      minMs: Math.min(...samples),
      maxMs: Math.max(...samples),
    };
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
