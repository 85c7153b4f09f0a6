import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { BackOfficeRole } from '../../server/protocol/roles.ts';
import { launchChromium, newContext, screenshotPath } from '../support/chromium.ts';
import { RoomFixture } from '../support/roomFixture.ts';
import { injectMedia } from '../support/rtpSource.ts';
import { postJson, startTestServer, type TestServer } from '../support/server.ts';

interface Staff {
  role: BackOfficeRole;
  userId: string;
  displayName: string;
  department?: string;
  positions?: string[];
}

describe('Chromium: tiered approval and watermarked playback of a recording', function () {
  this.timeout(180_000);
  const fx = new RoomFixture('e2e-playback');
  let server: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let recordingId = '';

  const reviewer: Staff = { role: 'quality_reviewer', userId: 'qc-sun', displayName: '孙质控' };
  const departmentHead: Staff = { role: 'approver', userId: 'dr-zhou', displayName: '周主任', department: 'cardiology', positions: ['department_head'] };
  const medicalAffairs: Staff = { role: 'approver', userId: 'ma-chen', displayName: '陈科长', positions: ['medical_affairs'] };

  /** A signed-in browser of its own for one member of staff (token in sessionStorage, as the sign-in page leaves it). */
  async function signIn(staff: Staff): Promise<Page> {
    const issued = server.tokenIssuer!.issue({ ...staff, ttlSeconds: 900 });
    const context = await newContext(browser);
    contexts.push(context);
    await context.addInitScript((stored) => sessionStorage.setItem('huizhen.session', stored), JSON.stringify({
      token: issued.token,
      expiresAt: issued.expiresAt,
      userId: staff.userId,
      role: staff.role,
      displayName: staff.displayName,
      roomId: null,
      department: staff.department ?? null,
      positions: staff.positions ?? [],
    }));
    const page = await context.newPage();
    await page.setViewportSize({ width: 1280, height: 800 });
    return page;
  }

  /** A finished recording of a cardiology visit: real VP8/Opus RTP for 6 s, no browser needed. */
  async function recordVisit(): Promise<string> {
    fx.next();
    const host = await fx.client('host', 'dr-li', { name: '李医生', dept: 'cardiology' });
    await host.join();
    const patient = await fx.client('patient', 'pt-wang', { name: '王先生' });
    await patient.join();
    await host.request('room:admit', { peerId: patient.peerId });
    const admitted = await patient.waitFor('room:admitted');
    await patient.request('recording:giveConsent', { method: 'in_app', textVersion: admitted.consentText.version });
    await host.waitFor('room:consent', (c) => c.state === 'given');
    await host.request('recording:start', {});
    const id = server.recordings.activeRecordingId(fx.room)!;
    const media = await injectMedia(server.rooms.get(fx.room)!, { peerId: host.peerId, userId: 'dr-li', role: 'host' }, { seconds: 6 });
    await media.done;
    await host.request('recording:stop', {});
    media.stop();
    expect(await server.recordings.finalized(id)).to.equal('complete');
    fx.closeAll();
    return id;
  }

  const card = (page: Page, testid: string, requestId: string) => page.locator(`[data-testid="${testid}"][data-request-id="${requestId}"]`);

  before(async () => {
    server = await startTestServer();
    fx.use(server);
    browser = await launchChromium();
    recordingId = await recordVisit();
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    fx.closeAll();
    await server?.stop();
  });

  let requestId = '';
  let viewer: Page;

  it('a quality reviewer requests playback, the department head and medical affairs approve in turn, and the reviewer watches it under a watermark', async () => {
    // The reviewer finds the visit in the catalogue and asks, with purpose and case reference.
    viewer = await signIn(reviewer);
    await viewer.goto(`${server.url}/review`);
    const row = viewer.locator(`tr[data-recording-id="${recordingId}"]`);
    await row.waitFor();
    expect(await row.textContent()).to.include('心血管内科');
    expect(await row.textContent()).to.include('主持医生（邀请方）、患者');
    await row.getByTestId('request-playback').click();
    const form = viewer.getByTestId('request-form');
    await form.getByLabel('调阅目的').fill('医疗质量检查：远程会诊诊疗规范抽查');
    await form.getByLabel('病案号或事件编号').fill('ZY-2024-001234');
    await form.getByRole('button', { name: '提交申请' }).click();
    const mine = viewer.locator('[data-testid="request-card"][data-status="pending"]');
    await mine.waitFor();
    requestId = (await mine.getAttribute('data-request-id'))!;
    expect(await mine.locator('.tier').allTextContents()).to.have.length(2);
    await mine.locator('.tier[data-tier="department_head"][data-state="awaiting"]').waitFor();
    await viewer.screenshot({ path: screenshotPath('playback-review-pending') });

    // Tier 1: the head of the recording's department.
    const head = await signIn(departmentHead);
    await head.goto(`${server.url}/approvals`);
    const headCard = card(head, 'request-card', requestId);
    await headCard.waitFor();
    expect(await headCard.textContent()).to.include('医疗质量检查：远程会诊诊疗规范抽查');
    await head.screenshot({ path: screenshotPath('playback-approvals-head') });
    await headCard.getByLabel('审批意见').fill('同意，限质控用途');
    await headCard.getByTestId('approve').click();
    await headCard.waitFor({ state: 'detached' });

    // Tier 2: medical affairs sees the first decision, then approves.
    const affairs = await signIn(medicalAffairs);
    await affairs.goto(`${server.url}/approvals`);
    const affairsCard = card(affairs, 'request-card', requestId);
    await affairsCard.locator('.tier[data-tier="department_head"][data-state="approved"]').waitFor();
    expect(await affairsCard.locator('.tier[data-tier="department_head"]').textContent()).to.include('周主任');
    await affairsCard.getByTestId('approve').click();
    await affairsCard.waitFor({ state: 'detached' });

    // The reviewer's list shows the grant (it refreshes by itself) and plays it.
    const granted = card(viewer, 'request-card', requestId).and(viewer.locator('[data-status="granted"]'));
    await granted.waitFor();
    expect(await granted.textContent()).to.include('已用 0 次，共 3 次');
    await granted.getByTestId('play').click();
    await viewer.waitForURL(`${server.url}/player?request=${requestId}`);
    await viewer.getByTestId('start-playback').click();
    await viewer.waitForFunction(() => (document.querySelector<HTMLVideoElement>('[data-testid="player-video"]')?.currentTime ?? 0) > 1, undefined, { timeout: 30_000 });

    const watermark = viewer.getByTestId('watermark');
    expect(await watermark.isVisible()).to.equal(true);
    // The viewer, and the time now (the browser's clock, HH:MM): painted afresh every second.
    const clock = (msAgo: number) =>
      viewer.evaluate((ago) => {
        const d = new Date(Date.now() - ago);
        return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
      }, msAgo);
    const earliest = await clock(2000);
    const marked = (await watermark.textContent()) ?? '';
    const latest = await clock(0);
    expect(marked).to.include('孙质控 · qc-sun');
    expect([earliest, latest].some((hhmm) => marked.includes(`${hhmm}:`)), `watermark “${marked.slice(0, 80)}” shows ${earliest} or ${latest}`).to.equal(true);
    const video = viewer.getByTestId('player-video');
    expect(await video.getAttribute('controlslist')).to.include('nodownload');
    expect(await viewer.locator('.player-info').textContent()).to.include('已用 1 次，共 3 次');
    await viewer.screenshot({ path: screenshotPath('playback-player') });
  });

  it('revoking the grant stops the picture in the reviewer’s player at once and says why', async () => {
    expect(requestId, 'needs the grant of the previous test').to.not.equal('');
    const affairs = await signIn(medicalAffairs);
    await affairs.goto(`${server.url}/approvals`);
    const oversight = card(affairs, 'oversight-row', requestId);
    await oversight.getByTestId('revoke').click();
    await oversight.getByLabel('撤销原因').fill('用途已完成');
    await oversight.getByRole('button', { name: '确认撤销' }).click();
    await oversight.waitFor({ state: 'detached' });

    const stopped = viewer.getByTestId('player-stopped');
    await stopped.waitFor();
    expect(await stopped.textContent()).to.equal('授权已撤销，播放已停止。');
    expect(await viewer.getByTestId('player-video').getAttribute('src')).to.equal(null);
    expect(await viewer.evaluate(() => document.querySelector<HTMLVideoElement>('[data-testid="player-video"]')!.paused)).to.equal(true);
  });

  it('a head of department who took part in the visit is shown why they cannot decide, and a denial needs a reason the requester then sees', async () => {
    const issued = server.tokenIssuer!.issue({ ...reviewer, ttlSeconds: 900 });
    const made = await postJson(server, '/api/playback-requests', { recordingId, purpose: '患者投诉处理，核实告知内容', caseReference: 'TS-2024-0087' }, { Authorization: `Bearer ${issued.token}` });
    expect(made.status, made.text).to.equal(201);
    const id = made.json.requestId as string;

    // Dr Li hosted the recorded visit: separation of duties bars him, and the page says so.
    const host = await signIn({ role: 'approver', userId: 'dr-li', displayName: '李医生', department: 'cardiology', positions: ['department_head'] });
    await host.goto(`${server.url}/approvals`);
    const barred = card(host, 'request-card', id);
    expect(await barred.getByTestId('blocked').textContent()).to.include('您参与了被录制的会诊，不能审批其回放。');
    expect(await barred.getByTestId('approve').isDisabled()).to.equal(true);
    expect(await barred.getByTestId('deny').isDisabled()).to.equal(true);

    // Another head of the department may decide; denying without a reason is refused on the page.
    const head = await signIn(departmentHead);
    await head.goto(`${server.url}/approvals`);
    const headCard = card(head, 'request-card', id);
    await headCard.getByTestId('deny').click();
    await headCard.getByText('驳回须填写理由（至少 2 个字）。').waitFor();
    await headCard.getByLabel('审批意见').fill('目的不明确，请补充具体事由');
    await headCard.getByTestId('deny').click();
    await headCard.waitFor({ state: 'detached' });

    await viewer.goto(`${server.url}/review`);
    const denied = card(viewer, 'request-card', id).and(viewer.locator('[data-status="denied"]'));
    await denied.waitFor();
    const tier = denied.locator('.tier[data-tier="department_head"][data-state="denied"]');
    expect(await tier.textContent()).to.include('周主任');
    expect(await tier.textContent()).to.include('目的不明确，请补充具体事由');
    expect(await denied.getByTestId('play').count()).to.equal(0);
  });

  it('medical records staff add a sensitive category to a recording from the reviewer console, and the catalogue shows it', async () => {
    const records = await signIn({ role: 'records_staff', userId: 'rs-lin', displayName: '林病案' });
    await records.goto(`${server.url}/review`);
    const row = records.locator(`tr[data-recording-id="${recordingId}"]`);
    await row.getByTestId('classify').click();
    const form = records.getByTestId('classify-form');
    // The department is on record: only categories can be added.
    expect(await form.locator('select').count()).to.equal(0);
    await form.getByRole('button', { name: '保存分类' }).click();
    await form.getByText('请至少勾选一个类别或选择科室。').waitFor();
    await form.getByLabel('未成年人').check();
    await records.screenshot({ path: screenshotPath('playback-classify') });
    await form.getByRole('button', { name: '保存分类' }).click();
    await form.waitFor({ state: 'detached' });
    await row.getByText('未成年人').waitFor();
    const stored = await server.db.query<{ categories: unknown }>('SELECT categories FROM recordings WHERE recording_id = $1', [recordingId]);
    expect(stored.rows[0]!.categories).to.deep.equal(['minor']);
    // A quality reviewer has no such control.
    const reviewerPage = await signIn(reviewer);
    await reviewerPage.goto(`${server.url}/review`);
    await reviewerPage.locator(`tr[data-recording-id="${recordingId}"]`).waitFor();
    expect(await reviewerPage.locator(`tr[data-recording-id="${recordingId}"]`).getByTestId('classify').count()).to.equal(0);
  });

  it('development sign-in takes a department and positions for back-office staff and opens their work page', async () => {
    const context = await newContext(browser);
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${server.url}/dev-login`);
    // Live roles have no department or positions.
    await page.locator('#role').selectOption('host');
    expect(await page.locator('#department').isVisible()).to.equal(false);
    await page.locator('#role').selectOption('approver');
    await page.locator('#userId').fill('dr-qian');
    await page.locator('#displayName').fill('钱主任');
    await page.locator('#department').selectOption('cardiology');
    await page.getByLabel('科室主任').check();
    await page.screenshot({ path: screenshotPath('playback-dev-login') });
    await page.getByRole('button', { name: '获取令牌' }).click();
    await page.waitForURL(`${server.url}/approvals`);
    expect(await page.getByTestId('who').textContent()).to.include('钱主任（审批人）心血管内科 · 科室主任');
    expect(await page.getByRole('navigation').getByRole('link').allTextContents()).to.include.members(['录像调阅', '回放审批']);
  });
});
