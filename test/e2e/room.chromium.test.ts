import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { LiveRole } from '../../server/protocol/roles.ts';
import { launchChromium, newContext, screenshotPath } from '../support/chromium.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

interface Person {
  context: BrowserContext;
  page: Page;
  userId: string;
}

describe('Chromium: a consultation room', function () {
  this.timeout(120_000);
  let server: TestServer;
  let browser: Browser;
  const people: Person[] = [];
  let roomSeq = 0;
  let roomId = '';

  /** Opens /room signed in as this person (the token the dev login would store). */
  async function arrive(role: LiveRole, userId: string, displayName: string, lang: 'zh-CN' | 'en' = 'zh-CN'): Promise<Person> {
    const issued = server.tokenIssuer!.issue({ role, userId, roomId, displayName, ttlSeconds: 900 });
    const context = await newContext(browser);
    if (lang === 'en') await context.addInitScript(() => localStorage.setItem('huizhen.lang', 'en'));
    await context.addInitScript((stored) => sessionStorage.setItem('huizhen.session', stored), JSON.stringify({
      token: issued.token,
      expiresAt: issued.expiresAt,
      userId,
      role,
      displayName,
      roomId,
    }));
    const page = await context.newPage();
    if (process.env['HUIZHEN_TEST_DEBUG']) page.on('console', (m) => console.log(`[${userId}] ${m.type()}: ${m.text()}`));
    await page.goto(`${server.url}/room`);
    // Device pre-test first: the camera preview plays before entering.
    await page.waitForFunction(() => ((document.querySelector('[data-testid="join-local-video"]') as HTMLVideoElement | null)?.videoWidth ?? 0) > 0);
    const person = { context, page, userId };
    people.push(person);
    return person;
  }

  async function enter(person: Person): Promise<void> {
    await person.page.getByTestId('join-room').click();
  }

  /** Frames the tile of `userId` has decoded so far, as seen by `viewer`. */
  async function framesOf(viewer: Person, userId: string, source: 'camera' | 'screen' = 'camera'): Promise<number> {
    return viewer.page
      .locator(`[data-testid="tile-${source}"][data-user-id="${userId}"] video`)
      .evaluate((v: HTMLVideoElement) => (v.videoWidth > 0 ? v.getVideoPlaybackQuality().totalVideoFrames : 0));
  }

  async function seesVideoOf(viewer: Person, userId: string, source: 'camera' | 'screen' = 'camera'): Promise<void> {
    const tile = viewer.page.locator(`[data-testid="tile-${source}"][data-user-id="${userId}"] video`);
    await tile.waitFor({ state: 'visible', timeout: 20_000 });
    // Decoded frames keep rising: live video, not a frozen frame.
    await viewer.page.waitForFunction(
      ({ sel }) => {
        const v = document.querySelector(sel) as HTMLVideoElement | null;
        return !!v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 5;
      },
      { sel: `[data-testid="tile-${source}"][data-user-id="${userId}"] video` },
      { timeout: 20_000 },
    );
    const first = await framesOf(viewer, userId, source);
    await viewer.page.waitForFunction(
      ({ sel, n }) => ((document.querySelector(sel) as HTMLVideoElement | null)?.getVideoPlaybackQuality().totalVideoFrames ?? 0) > n + 5,
      { sel: `[data-testid="tile-${source}"][data-user-id="${userId}"] video`, n: first },
      { timeout: 20_000 },
    );
    const size = await tile.evaluate((v: HTMLVideoElement) => [v.videoWidth, v.videoHeight, v.clientWidth, v.clientHeight]);
    expect(size.every((n) => n > 0), `video of ${userId} at ${viewer.userId}: ${size.join('×')}`).to.equal(true);
  }

  /** Host and expert in the room, each seeing the other. */
  async function hostAndExpert(): Promise<[Person, Person]> {
    const host = await arrive('host', 'dr-li', '李医生');
    await enter(host);
    await host.page.getByTestId('room').waitFor();
    const expert = await arrive('expert', 'dr-zhao', '赵主任');
    await enter(expert);
    await host.page.getByTestId('admit-dr-zhao').click();
    await expert.page.getByTestId('room').waitFor();
    await seesVideoOf(host, 'dr-zhao');
    await seesVideoOf(expert, 'dr-li');
    return [host, expert];
  }

  before(async () => {
    // Two workers: a room can move when one dies. The bandwidth policy is
    // off here: three browsers and two workers on two cores starve
    // loopback's congestion control, and its estimate (measured down to
    // 99 kbit/s for seconds on an idle-capacity link) would pause videos
    // mid-test. The policy is tested with known estimates in
    // test/integration/roomMedia.test.ts.
    server = await startTestServer({ overrides: { media: { workers: 2 }, rooms: { adaptVideoToBandwidth: false } } });
    browser = await launchChromium();
  });
  beforeEach(() => {
    roomId = `e2e-visit-${++roomSeq}`;
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && process.env['HUIZHEN_TEST_DEBUG']) {
      for (const line of server.logLines.slice(-80)) console.log(line.slice(0, 300));
    }
    for (const p of people.splice(0)) await p.context.close();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('a county doctor hosts, admits an expert and a patient, and they see and hear each other, share a screen and chat', async () => {
    // The county doctor opens the room.
    const host = await arrive('host', 'dr-li', '李医生');
    await enter(host);
    await host.page.getByTestId('room').waitFor();

    // The tertiary expert arrives and waits in the lobby until admitted.
    const expert = await arrive('expert', 'dr-zhao', '赵主任');
    await expert.page.screenshot({ path: screenshotPath('room-join-zh') });
    await enter(expert);
    await expert.page.getByTestId('waiting').waitFor();
    await expert.page.screenshot({ path: screenshotPath('room-waiting-zh') });
    await host.page.getByTestId('lobby-dr-zhao').waitFor();
    await host.page.screenshot({ path: screenshotPath('room-lobby-host') });
    await host.page.getByTestId('admit-dr-zhao').click();
    await expert.page.getByTestId('room').waitFor();

    // Each receives the other's camera.
    await seesVideoOf(host, 'dr-zhao');
    await seesVideoOf(expert, 'dr-li');

    // The active speaker is highlighted (the fake microphones beep).
    await host.page.locator('.tile.speaking').first().waitFor({ timeout: 20_000 });

    // The patient joins the same way.
    // The patient reads English.
    const patient = await arrive('patient', 'pt-wang', 'Mr Wang', 'en');
    await enter(patient);
    await patient.page.getByTestId('waiting').waitFor();
    expect(await patient.page.getByTestId('waiting').textContent()).to.include('the host doctor will let you in');
    await host.page.getByTestId('admit-pt-wang').click();
    await patient.page.getByTestId('room').waitFor();
    await seesVideoOf(patient, 'dr-li');
    await seesVideoOf(host, 'pt-wang');
    expect(await patient.page.getByTestId('toggle-screen').isHidden()).to.equal(true); // patients do not share screens

    // Muting stops the expert's outbound audio at the server: the browser
    // sends no audio packet at all while muted (not even DTX comfort noise).
    const room = server.rooms.get(roomId)!;
    const expertPeer = room.peerIdOf('dr-zhao')!;
    // Packets received over a two-second window (a measurement, not a wait for something).
    const packetsOverWindow = async () => {
      const a = (await room.receivedFrom(expertPeer)).mic?.packets ?? 0;
      await host.page.waitForTimeout(2000);
      const b = (await room.receivedFrom(expertPeer)).mic?.packets ?? 0;
      return b - a;
    };
    const before = await packetsOverWindow();
    expect(before, 'audio flows before muting').to.be.greaterThan(10);
    await expert.page.getByTestId('toggle-mic').click();
    await expert.page.getByTestId('toggle-mic').filter({ hasText: '取消静音' }).waitFor();
    await host.page.locator('[data-testid="tile-camera"][data-user-id="dr-zhao"] .muted-icon:not([hidden])').waitFor();
    expect((await room.receivedFrom(expertPeer)).mic?.paused).to.equal(true);
    // At most a packet or two still in flight while the browser's local
    // renegotiation completes; a mute that only disabled the track would
    // still send DTX comfort packets (one per 400 ms, five or more here).
    const after = await packetsOverWindow();
    expect(after, `audio packets after muting (${after}) vs before (${before})`).to.be.at.most(2);

    // The expert shares a screen; the others see it as its own tile.
    await expert.page.getByTestId('toggle-screen').click();
    await seesVideoOf(host, 'dr-zhao', 'screen');
    await seesVideoOf(patient, 'dr-zhao', 'screen');
    await host.page.screenshot({ path: screenshotPath('room-host-zh') });
    await patient.page.screenshot({ path: screenshotPath('room-patient-zh') });

    // Chat arrives in the same order for everyone.
    const say = async (person: Person, text: string) => {
      await person.page.getByTestId('chat-input').fill(text);
      await person.page.getByTestId('chat-send').click();
    };
    await say(host, '您好，我是李医生。');
    await say(patient, '医生好。');
    await say(expert, '请上传最近的检查报告。');
    await say(host, '已上传。');
    const expected = ['您好，我是李医生。', '医生好。', '请上传最近的检查报告。', '已上传。'];
    await patient.page.getByTestId('chat-send').filter({ hasText: 'Send' }).waitFor();
    for (const person of [host, expert, patient]) {
      await person.page.locator('[data-testid="chat-list"] li').nth(3).waitFor();
      const texts = await person.page.locator('[data-testid="chat-list"] li .text').allTextContents();
      expect(texts, person.userId).to.deep.equal(expected);
    }

    // The host ends the visit; everyone sees it ended.
    host.page.once('dialog', (d) => void d.accept());
    await host.page.getByTestId('end-visit').click();
    for (const person of [host, expert]) {
      await person.page.getByTestId('ended').waitFor();
      expect(await person.page.getByTestId('ended').textContent()).to.include('本次会诊已结束');
    }
    await patient.page.getByTestId('ended').waitFor();
    expect(await patient.page.getByTestId('ended').textContent()).to.include('This consultation has ended.');
  });

  it('survives a dropped connection: the same participant comes back, nobody sees it leave, video continues', async () => {
    const [host, expert] = await hostAndExpert();
    const room = server.rooms.get(roomId)!;
    const peerBefore = room.peerIdOf('dr-zhao');
    // The network under the expert's signaling drops (transport closed, not a leave).
    for (const socket of server.sockets.io.of('/').sockets.values()) {
      if (socket.data.identity.userId === 'dr-zhao') socket.conn.close();
    }
    await expert.page.locator('[data-testid="connection"][data-state="connected"]').waitFor({ state: 'attached', timeout: 20_000 });
    expect(room.peerIdOf('dr-zhao')).to.equal(peerBefore);
    // The host never saw the expert leave, and keeps receiving the expert's video.
    expect(await host.page.locator('[data-testid="participants"] li').count()).to.equal(2);
    await seesVideoOf(host, 'dr-zhao');
    await seesVideoOf(expert, 'dr-li');
  });

  it('moves the room to a live worker when its worker is killed, and video plays again', async () => {
    const [host, expert] = await hostAndExpert();
    const room = server.rooms.get(roomId)!;
    const routerId = room.routerId;
    let victim = 0;
    for (const worker of server.workers.workers()) {
      if ((await worker.dump()).routerIds.includes(routerId as string)) victim = worker.pid;
    }
    expect(victim).to.be.greaterThan(0);
    process.kill(victim, 'SIGKILL');

    // Both browsers set their media up again on the new router, by themselves.
    for (const viewer of [host, expert]) {
      await viewer.page.getByText('媒体服务切换中，正在恢复音视频…').waitFor({ timeout: 10_000 });
    }
    await seesVideoOf(host, 'dr-zhao');
    await seesVideoOf(expert, 'dr-li');
    expect(room.routerId).not.to.equal(routerId);
    expect(await host.page.locator('[data-testid="participants"] li').count()).to.equal(2);
    await host.page.screenshot({ path: screenshotPath('room-after-worker-death') });
  });
});
