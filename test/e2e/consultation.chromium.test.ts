import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Role } from '../../server/protocol/roles.ts';
import { launchChromium, newContext, screenshotPath } from '../support/chromium.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

interface Person {
  role: Role;
  userId: string;
  displayName?: string;
  institutionId?: string;
}

interface Signed {
  context: BrowserContext;
  page: Page;
}

/** What the supervision platform received: each POST's headers and JSON body. */
interface Received {
  headers: http.IncomingHttpHeaders;
  body: { eventId: string; topic: string; payload: { consultationId: string; status: string; opinion: { version: number } | null } };
}

/** A stand-in for the provincial supervision platform on loopback: records every POST and answers 200. */
async function startReceiver(): Promise<{ url: string; events: Received[]; close(): Promise<void> }> {
  const events: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST') events.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Received['body'] });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/events`,
    events,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Resolves once `check` holds (checked every 50 ms); fails naming `what` after `ms`. */
async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('Chromium: a consultation from the village doctor’s request to the supervision report', function () {
  this.timeout(180_000);
  let server: TestServer;
  let browser: Browser;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const contexts: BrowserContext[] = [];

  /** A browser of its own for one person, signed in the way the sign-in page leaves it (staff token in sessionStorage, no room). */
  async function signIn(person: Person): Promise<Signed> {
    const issued = server.tokenIssuer!.issue({ ...person, ttlSeconds: 900 });
    const context = await newContext(browser);
    contexts.push(context);
    await context.addInitScript((stored) => sessionStorage.setItem('huizhen.session', stored), JSON.stringify({
      token: issued.token,
      expiresAt: issued.expiresAt,
      userId: person.userId,
      role: person.role,
      displayName: person.displayName ?? null,
      roomId: null,
      institutionId: person.institutionId ?? null,
    }));
    const page = await context.newPage();
    await page.setViewportSize({ width: 1280, height: 800 });
    if (process.env['HUIZHEN_TEST_DEBUG']) page.on('console', (m) => console.log(`[${person.userId}] ${m.type()}: ${m.text()}`));
    return { context, page };
  }

  const status = (page: Page) => page.getByTestId('consultation-head').getByTestId('consultation-status');
  const waitForStatus = (page: Page, s: string) => page.locator(`[data-testid="consultation-head"] [data-testid="consultation-status"][data-status="${s}"]`).waitFor();

  before(async () => {
    receiver = await startReceiver();
    // The demonstration directory (development mode only) on the empty database: 溪村卫生室, 青县人民医院 and their verified practitioners.
    // Bandwidth adaptation off, as in room.chromium.test.ts: browsers on two cores starve loopback's estimate.
    server = await startTestServer({
      overrides: {
        consultations: { seedDemoDirectory: true },
        supervision: { endpoint: receiver.url, pollSeconds: 0.2, retryBaseSeconds: 0.2 },
        rooms: { adaptVideoToBandwidth: false },
      },
    });
    browser = await launchChromium();
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.stop();
    await receiver?.close();
  });

  it('a village doctor files with a document, the county hospital accepts and assigns an expert, both meet in the room, the expert signs the opinion and completes, and the supervision platform gets it once', async () => {
    // --- The village doctor files the request (溪村卫生室 → 青县人民医院, 全科) ---------------
    const village = await signIn({ role: 'host', userId: 'dr-wang-village' });
    await village.page.goto(`${server.url}/consultations`);
    await village.page.getByTestId('new-request').click();
    const form = village.page.getByTestId('request-form');
    // Only the invited institutions the village clinic has an agreement with, and the departments it covers.
    const institutions = form.getByLabel('受邀机构');
    expect(await institutions.locator('option').allTextContents()).to.deep.equal(['青县人民医院']);
    expect(await form.getByLabel('会诊科室').locator('option').allTextContents()).to.have.members(['全科医学科', '内科']);
    await form.getByLabel('会诊科室').selectOption('general_practice');
    await form.getByLabel('患者姓名').fill('张桂兰');
    await form.getByLabel('病历号').fill('XC-MZ-20240815');
    await form.getByLabel('性别').selectOption('female');
    await form.getByLabel('出生日期').fill('1956-03-02');
    await form.getByLabel('主诉').fill('头晕、乏力两周，家测血压 160/95 mmHg');
    await form.getByLabel('既往诊断').fill('高血压病 2 级（县医院 2023 年确诊），长期服用硝苯地平缓释片');
    await form.getByLabel('会诊目的与问题').fill('血压控制不佳，请协助调整降压方案');
    await village.page.screenshot({ path: screenshotPath('consultation-request-form') });
    await form.getByTestId('save-draft').click();
    await village.page.waitForURL(/\/consultation\?id=cons-/);
    const consultationId = new URL(village.page.url()).searchParams.get('id')!;
    await waitForStatus(village.page, 'draft');

    // Sending is refused on the page until a prior diagnosis document and consent are there.
    expect(await village.page.getByTestId('submit-request').isDisabled()).to.equal(true);
    expect(await village.page.getByTestId('follow-up-rule').first().textContent()).to.include('互联网诊疗仅限复诊');
    await village.page.getByLabel('资料类型').selectOption('outpatient_record');
    await village.page.getByTestId('document-file').setInputFiles({
      name: '门诊病历-2023-11.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('青县人民医院门诊病历\n诊断：高血压病 2 级\n处理：硝苯地平缓释片 20mg bid\n', 'utf8'),
    });
    await village.page.getByTestId('upload-document').click();
    await village.page.getByTestId('documents').getByTestId('document').filter({ hasText: '门诊病历-2023-11.txt' }).waitFor();
    await village.page.getByLabel('书面签字同意').check();
    await village.page.getByTestId('record-consent').click();
    await village.page.getByTestId('consent-recorded').waitFor();
    await village.page.screenshot({ path: screenshotPath('consultation-draft-ready') });
    await village.page.getByTestId('submit-request').click();
    await waitForStatus(village.page, 'requested');

    // --- The county hospital's administrator accepts, assigning 赵医生, and schedules -------------
    const admin = await signIn({ role: 'institution_admin', userId: 'adm-qx', displayName: '青县医务科', institutionId: 'qx-county' });
    await admin.page.goto(`${server.url}/consultations`);
    const card = admin.page.locator(`[data-testid="to-accept"] [data-consultation-id="${consultationId}"]`);
    await card.waitFor();
    // Before accepting: no name, no record number.
    const cardText = (await card.textContent()) ?? '';
    expect(cardText).to.include('溪村卫生室 → 青县人民医院 · 全科医学科');
    expect(cardText).to.include('接诊后显示姓名');
    expect(cardText).to.not.include('张桂兰');
    expect(cardText).to.not.include('XC-MZ-20240815');
    // A worklist shows no clinical text either: that is read (and audited) on the consultation's page.
    expect(cardText).to.not.include('头晕、乏力两周');
    await admin.page.screenshot({ path: screenshotPath('consultation-worklist-admin') });
    await card.getByTestId('open-consultation').click();
    await admin.page.waitForURL(`${server.url}/consultation?id=${consultationId}`);
    await admin.page.getByTestId('outline-note').waitFor();
    expect(await admin.page.getByTestId('patient').textContent()).to.not.include('张桂兰');
    await admin.page.getByTestId('expert-option-dr-zhao').click();
    await admin.page.screenshot({ path: screenshotPath('consultation-accept') });
    await admin.page.getByTestId('accept').click();
    await waitForStatus(admin.page, 'accepted');
    await admin.page.getByTestId('schedule').click();
    await waitForStatus(admin.page, 'scheduled');

    // --- 赵医生 reads the document, confirms the follow-up and enters the room ----------------------
    const expert = await signIn({ role: 'host', userId: 'dr-zhao' });
    await expert.page.goto(`${server.url}/consultation?id=${consultationId}`);
    expect(await expert.page.getByTestId('patient-name').textContent()).to.equal('张桂兰');
    const [documentTab] = await Promise.all([expert.context.waitForEvent('page'), expert.page.getByTestId('actions').getByTestId('view-document').click()]);
    await documentTab.waitForURL(/^blob:/);
    expect(await documentTab.locator('body').textContent()).to.include('诊断：高血压病 2 级');
    await documentTab.close();
    await expert.page.getByTestId('confirm-follow-up').click();
    await waitForStatus(expert.page, 'in_progress');
    await expert.page.getByTestId('enter-room').click();
    await expert.page.waitForURL(`${server.url}/room?consultation=${consultationId}`);
    await expert.page.getByTestId('join-room').click();
    await expert.page.getByTestId('waiting').waitFor();

    // --- The village doctor's page notices by itself, enters as host and admits the expert ----------
    await village.page.getByTestId('enter-room').click({ timeout: 15_000 });
    await village.page.waitForURL(`${server.url}/room?consultation=${consultationId}`);
    await village.page.getByTestId('join-room').click();
    await village.page.getByTestId('room').waitFor();
    await village.page.getByTestId('admit-dr-zhao').click();
    await expert.page.getByTestId('room').waitFor();
    // Shown under the names the directory verified.
    await village.page.getByTestId('participants').getByText('赵医生').waitFor();
    expect(await expert.page.getByTestId('participants').textContent()).to.include('王村医');
    // The staff session is untouched by the visit token.
    expect(await village.page.evaluate(() => JSON.parse(sessionStorage.getItem('huizhen.session')!).role)).to.equal('host');

    // The expert prescribes in person, in the room; it awaits the pharmacist.
    await expert.page.getByTestId('prescription-panel').locator('summary').click();
    await expert.page.getByLabel('药品（1）').fill('苯磺酸氨氯地平片 5mg');
    await expert.page.getByLabel('单次剂量（1）').fill('5 mg');
    await expert.page.getByLabel('用法频次（1）').fill('每日一次');
    await expert.page.getByLabel('天数（1）').fill('14');
    await expert.page.getByLabel('数量（1）').fill('14 片');
    await expert.page.getByTestId('rx-submit').click();
    await expert.page.getByTestId('prescription-written').filter({ hasText: '待药师审核' }).waitFor();
    await expert.page.screenshot({ path: screenshotPath('consultation-room-expert') });

    // --- The expert signs the opinion in the consultation's own tab, and completes --------------------
    const [sheet] = await Promise.all([expert.context.waitForEvent('page'), expert.page.getByTestId('open-consultation-tab').click()]);
    await sheet.waitForURL(`${server.url}/consultation?id=${consultationId}`);
    await sheet.getByLabel('会诊意见').fill('考虑高血压病 2 级，目前血压控制不佳，无靶器官急性损害表现，可继续远程随访管理。');
    await sheet.getByLabel('处理建议').fill('停用硝苯地平缓释片，改为苯磺酸氨氯地平片 5mg 每日一次；两周后复测血压，如 ≥160/100 mmHg 或出现胸痛、肢体无力，及时到县医院就诊。');
    await sheet.getByTestId('sign-opinion').click();
    await sheet.locator('[data-testid="signature-state"][data-verified="true"]').waitFor();
    // An amendment is a new signed version; the first one stays, folded away.
    await sheet.getByTestId('revise-opinion').click();
    await sheet.getByLabel('处理建议').fill('停用硝苯地平缓释片，改为苯磺酸氨氯地平片 5mg 每日一次；一周后复测血压，如 ≥160/100 mmHg 或出现胸痛、肢体无力，及时到县医院就诊。');
    await sheet.getByTestId('sign-opinion').click();
    await sheet.getByTestId('earlier-opinions').waitFor();
    expect(await sheet.getByTestId('opinion').getAttribute('data-version')).to.equal('2');
    await sheet.getByTestId('earlier-opinions').locator('summary').click();
    expect(await sheet.getByTestId('earlier-opinion').getAttribute('data-version')).to.equal('1');
    expect(await sheet.getByTestId('earlier-opinion').getByTestId('signature-state').getAttribute('data-verified')).to.equal('true');
    await sheet.screenshot({ path: screenshotPath('consultation-opinion-amended'), fullPage: true });
    sheet.once('dialog', (d) => void d.accept());
    await sheet.getByTestId('complete').click();
    await waitForStatus(sheet, 'completed');
    await sheet.screenshot({ path: screenshotPath('consultation-completed-expert') });

    // Completing closes the room for both.
    for (const page of [village.page, expert.page]) {
      await page.getByTestId('ended').waitFor();
      expect(await page.getByTestId('ended').textContent()).to.include('本次会诊已结束');
    }

    // --- The village doctor sees it completed, with the verified signature ----------------------------
    await village.page.getByTestId('back-to-consultation').click();
    await village.page.waitForURL(`${server.url}/consultation?id=${consultationId}`);
    await waitForStatus(village.page, 'completed');
    expect(await status(village.page).textContent()).to.equal('已完成');
    const opinion = village.page.getByTestId('opinion');
    expect(await opinion.getByTestId('opinion-text').textContent()).to.include('可继续远程随访管理');
    expect(await opinion.getByTestId('signature-state').getAttribute('data-verified')).to.equal('true');
    expect(await opinion.getByTestId('signature-state').textContent()).to.include('签名已验证');
    expect(await opinion.getByTestId('certificate-serial').textContent()).to.match(/证书序列号：[0-9A-F]{16,}/);
    await village.page.screenshot({ path: screenshotPath('consultation-completed-village'), fullPage: true });
    await village.page.goto(`${server.url}/consultations`);
    await village.page.locator(`[data-consultation-id="${consultationId}"][data-status="completed"]`).waitFor();
    expect(await village.page.locator(`[data-consultation-id="${consultationId}"]`).textContent()).to.not.include('张桂兰');
    await village.page.screenshot({ path: screenshotPath('consultation-worklist-village') });
    await village.page.goBack();

    // --- The supervision platform received the completion, exactly once -------------------------------
    await until(() => receiver.events.some((e) => e.body.topic === 'consultation.completed'), 'the completion reaches the supervision platform');
    const completed = receiver.events.filter((e) => e.body.topic === 'consultation.completed');
    expect(completed, JSON.stringify(receiver.events.map((e) => e.body.topic))).to.have.length(1);
    expect(completed[0]!.body.payload.consultationId).to.equal(consultationId);
    expect(completed[0]!.body.payload.status).to.equal('completed');
    expect(completed[0]!.body.payload.opinion, 'the final version').to.deep.include({ version: 2 });
    expect(completed[0]!.headers['x-huizhen-event-id']).to.equal(completed[0]!.body.eventId);
    expect(completed[0]!.headers['x-huizhen-signature']).to.be.a('string').and.not.equal('');

    // --- The county pharmacist reviews the prescription written in the room ------------------------------
    const pharmacist = await signIn({ role: 'host', userId: 'ph-sun' });
    await pharmacist.page.goto(`${server.url}/pharmacy`);
    const rx = pharmacist.page.getByTestId('rx-card').filter({ hasText: '苯磺酸氨氯地平片 5mg' });
    await rx.waitFor();
    expect(await rx.textContent()).to.include('赵医生');
    await rx.getByTestId('rx-approve').click();
    await rx.waitFor({ state: 'detached' });
    await village.page.reload();
    await village.page.locator('[data-testid="prescription"][data-status="approved"]').waitFor();

    // Nothing more reached the platform for this consultation.
    expect(receiver.events.filter((e) => e.body.payload.consultationId === consultationId)).to.have.length(1);
  });

  it('a room that belongs to no consultation refuses a prescription, and the doctor is told why', async () => {
    const issued = server.tokenIssuer!.issue({ role: 'host', userId: 'dr-li', roomId: 'ad-hoc-room-1', ttlSeconds: 900 });
    const context = await newContext(browser);
    contexts.push(context);
    await context.addInitScript((stored) => sessionStorage.setItem('huizhen.session', stored), JSON.stringify({
      token: issued.token,
      expiresAt: issued.expiresAt,
      userId: 'dr-li',
      role: 'host',
      displayName: '李医生',
      roomId: 'ad-hoc-room-1',
    }));
    const page = await context.newPage();
    const count = async () => (await server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM prescriptions')).rows[0]!.n;
    const before = await count();
    await page.goto(`${server.url}/room`);
    await page.getByTestId('join-room').click();
    await page.getByTestId('room').waitFor();
    await page.getByTestId('prescription-panel').locator('summary').click();
    await page.getByLabel('药品（1）').fill('阿司匹林肠溶片 100mg');
    await page.getByLabel('单次剂量（1）').fill('100 mg');
    await page.getByLabel('用法频次（1）').fill('每日一次');
    await page.getByLabel('天数（1）').fill('7');
    await page.getByLabel('数量（1）').fill('7 片');
    await page.getByTestId('rx-submit').click();
    await page.getByTestId('prescription-panel').getByText('处方只能在已确认复诊、正在进行的会诊中开具').waitFor();
    expect(await page.getByTestId('prescription-written').count()).to.equal(0);
    expect(await count()).to.equal(before);
  });
});
