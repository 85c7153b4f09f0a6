/**
 * Scale-out in the browser: two Huizhen nodes behind nginx (the template of
 * docker-compose's `cluster` profile), sharing PostgreSQL, S3 and Redis.
 * Two people whose signaling enters through different nodes meet in one
 * room; the node hosting it is killed with SIGKILL mid-recording; both are
 * back in the room on the surviving node with video flowing, and the
 * recording goes on as a second series; then that node shuts down and hands
 * room and recording over (third series, nothing lost). The manifest
 * records the series, the gap and what the killed node lost.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { LiveRole } from '../../server/protocol/roles.ts';
import { launchChromium, newContext, screenshotPath } from '../support/chromium.ts';
import { startCluster, type NodeId, type TestCluster } from '../support/cluster.ts';
import { tempDir } from '../support/server.ts';

interface Person {
  context: BrowserContext;
  page: Page;
  userId: string;
}

describe('Chromium: scale-out — two nodes behind one address', function () {
  this.timeout(300_000);
  let cluster: TestCluster;
  let browser: Browser;
  const people: Person[] = [];
  const roomId = 'cluster-visit';

  async function arrive(role: LiveRole, userId: string, displayName: string): Promise<Person> {
    const issued = cluster.token({ role, userId, roomId, displayName });
    const context = await newContext(browser);
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
    // Through the load balancer, as in a deployment.
    await page.goto(`${cluster.entryUrl}/room`);
    await page.waitForFunction(() => ((document.querySelector('[data-testid="join-local-video"]') as HTMLVideoElement | null)?.videoWidth ?? 0) > 0);
    const person = { context, page, userId };
    people.push(person);
    return person;
  }

  const tileVideo = (userId: string) => `[data-testid="tile-camera"][data-user-id="${userId}"] video`;

  /** Live video of `userId` at `viewer`: decoded frames keep rising. */
  async function seesVideoOf(viewer: Person, userId: string, timeoutMs = 30_000): Promise<void> {
    const sel = tileVideo(userId);
    await viewer.page.waitForFunction(
      (s) => {
        const v = document.querySelector(s) as HTMLVideoElement | null;
        return !!v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 5;
      },
      sel,
      { timeout: timeoutMs },
    );
    const first = await viewer.page.locator(sel).evaluate((v: HTMLVideoElement) => v.getVideoPlaybackQuality().totalVideoFrames);
    await viewer.page.waitForFunction(
      ({ s, n }) => ((document.querySelector(s) as HTMLVideoElement | null)?.getVideoPlaybackQuality().totalVideoFrames ?? 0) > n + 10,
      { s: sel, n: first },
      { timeout: timeoutMs },
    );
  }

  /** The id of the video track `viewer` plays for `userId` now. */
  const trackOf = (viewer: Person, userId: string) =>
    viewer.page.locator(tileVideo(userId)).evaluate((v: HTMLVideoElement) => (v.srcObject as MediaStream | null)?.getVideoTracks()[0]?.id ?? '');

  /** Live video of `userId` at `viewer` on a new track (media set up again): its frames keep rising. */
  async function seesNewVideoOf(viewer: Person, userId: string, oldTrack: string, timeoutMs: number): Promise<void> {
    await viewer.page.waitForFunction(
      ({ s, old }) => {
        const v = document.querySelector(s) as HTMLVideoElement | null;
        const track = (v?.srcObject as MediaStream | null)?.getVideoTracks()[0];
        return !!v && !!track && track.id !== old && v.videoWidth > 0;
      },
      { s: tileVideo(userId), old: oldTrack },
      { timeout: timeoutMs },
    );
    // Frames of the new track (the element's counters start again with it).
    await seesVideoOf(viewer, userId, 30_000);
  }

  /** Waits until at least four segments of the recording's series `series` are in storage. */
  const seriesInStorage = (recordingId: string, series: number) =>
    until(
      `segments of series ${series} in storage`,
      async () => {
        const r = await cluster.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM recording_segments s JOIN recording_tracks t USING (recording_id, track_id)
            WHERE s.recording_id = $1 AND t.series = $2 AND s.state = 'uploaded'`,
          [recordingId, series],
        );
        return (r.rows[0]?.n ?? 0) >= 4;
      },
      60_000,
    );

  /** Which node logged this room's joins, and which one redirected. */
  function joinedOn(node: NodeId, userId: string): boolean {
    return cluster.nodes[node]
      .logs()
      .split('\n')
      .some((line) => line.includes('"msg":"joined room"') && line.includes(`"roomId":"${roomId}"`) && line.includes(`"userId":"${userId}"`));
  }

  async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  before(async () => {
    browser = await launchChromium();
    cluster = await startCluster({ leaseSeconds: 5, loadBalancer: true });
  });
  afterEach(function () {
    if ((this.currentTest?.state === 'failed' && process.env['HUIZHEN_TEST_DEBUG']) || process.env['HUIZHEN_TEST_DUMP']) {
      for (const id of ['n1', 'n2'] as const) console.log(`--- ${id}\n${cluster.nodes[id].logs().split('\n').slice(-120).join('\n')}`);
    }
  });
  after(async () => {
    for (const p of people.splice(0)) await p.context.close();
    await browser?.close();
    await cluster?.close();
  });

  let host: Person;
  let patient: Person;
  let hosting: NodeId;
  let lostNode: NodeId;
  let recordingUnderTest = '';
  let killedAtUnderTest = 0;

  it('two people entering through different nodes meet in the same room and see each other', async () => {
    host = await arrive('host', 'dr-li', '李医生');
    await host.page.getByTestId('join-room').click();
    await host.page.getByTestId('room').waitFor();
    patient = await arrive('patient', 'pt-wang', '王先生');
    await patient.page.getByTestId('join-room').click();
    await patient.page.getByTestId('waiting').waitFor();
    await host.page.getByTestId('admit-pt-wang').click();
    await patient.page.getByTestId('room').waitFor();
    await seesVideoOf(host, 'pt-wang');
    await seesVideoOf(patient, 'dr-li');

    // The room lives on one node; the patient's signaling entered through the other one and was sent there.
    const lease = await cluster.redis.client().get(`huizhen:room:${roomId}`);
    hosting = lease === 'n1|hosted' ? 'n1' : 'n2';
    expect(lease).to.equal(`${hosting}|hosted`);
    const other: NodeId = hosting === 'n1' ? 'n2' : 'n1';
    const redirected = cluster.nodes[other]
      .logs()
      .split('\n')
      .filter((line) => line.includes('room lives on another node; redirecting') && line.includes(`"roomId":"${roomId}"`));
    expect(redirected.length, `the load balancer sent one of them to ${other}, which redirected`).to.be.greaterThan(0);
    expect(joinedOn(hosting, 'dr-li') && joinedOn(hosting, 'pt-wang'), 'both joined on the hosting node').to.equal(true);
    await host.page.screenshot({ path: screenshotPath('cluster-room-host') });
  });

  it('survives kill -9 of the hosting node: both are back on the other node with video, and the recording goes on as a second series', async () => {
    const survivor: NodeId = hosting === 'n1' ? 'n2' : 'n1';
    // Consent and recording, as in any visit.
    await patient.page.getByTestId('agree-recording').click();
    await host.page.locator('[data-testid="consent-state"][data-state="given"]').waitFor();
    await host.page.getByTestId('start-recording').click();
    await host.page.locator('[data-testid="recording"][data-state="recording"]').waitFor();
    const recordingId = await until(
      'segments of the first series in storage',
      async () => {
        const r = await cluster.db.query<{ recording_id: string; n: number }>(
          `SELECT recording_id, count(*)::int AS n FROM recording_segments WHERE state = 'uploaded' GROUP BY recording_id`,
        );
        return r.rows[0] && r.rows[0].n >= 6 ? r.rows[0].recording_id : null;
      },
      60_000,
    );

    const [hostSaw, patientSaw] = [await trackOf(host, 'pt-wang'), await trackOf(patient, 'dr-li')];
    const killedAt = Date.now();
    await cluster.nodes[hosting].kill9();

    // Both browsers find the room on the surviving node by themselves.
    await seesNewVideoOf(host, 'pt-wang', hostSaw, (cluster.leaseSeconds + 40) * 1000);
    await seesNewVideoOf(patient, 'dr-li', patientSaw, 30_000);
    const backAfterMs = Date.now() - killedAt;
    console.log(`      (video on both sides again ${backAfterMs} ms after kill -9 of ${hosting}; lease ${cluster.leaseSeconds} s)`);
    expect(await cluster.redis.client().get(`huizhen:room:${roomId}`)).to.equal(`${survivor}|hosted`);
    await host.page.locator('[data-testid="recording"][data-state="recording"]').waitFor();
    await host.page.screenshot({ path: screenshotPath('cluster-room-host-after-failover') });

    // The recording runs on the survivor now, as its second series.
    const running = await cluster.db.query<{ node_id: string; status: string }>('SELECT node_id, status FROM recordings WHERE recording_id = $1', [recordingId]);
    expect(running.rows[0]).to.deep.equal({ node_id: survivor, status: 'recording' });
    await seriesInStorage(recordingId, 2);
    recordingUnderTest = recordingId;
    killedAtUnderTest = killedAt;
    lostNode = hosting;
    hosting = survivor;
  });

  it('hands the room and its recording over when the hosting node shuts down: nothing lost, no lobby, the recording goes on', async () => {
    // The lost node is back; the one hosting the room now is taken down for maintenance.
    await cluster.nodes[lostNode].start();
    const draining = hosting;
    const next = lostNode;
    const [hostSaw, patientSaw] = [await trackOf(host, 'pt-wang'), await trackOf(patient, 'dr-li')];
    const stoppedAt = Date.now();
    await cluster.nodes[draining].stop();
    await seesNewVideoOf(host, 'pt-wang', hostSaw, 60_000);
    await seesNewVideoOf(patient, 'dr-li', patientSaw, 30_000);
    console.log(`      (video on both sides again ${Date.now() - stoppedAt} ms after ${draining} began shutting down)`);
    expect(await cluster.redis.client().get(`huizhen:room:${roomId}`)).to.equal(`${next}|hosted`);
    // Nobody saw an ending or waited in the lobby.
    expect(await host.page.getByTestId('room').isVisible()).to.equal(true);
    expect(await patient.page.getByTestId('room').isVisible()).to.equal(true);
    const recordingId = recordingUnderTest;
    await seriesInStorage(recordingId, 3);
    await host.page.locator('[data-testid="recording"][data-state="recording"]').waitFor();
    const killedAt = killedAtUnderTest;
    const hostingBefore = lostNode;
    const survivor = draining;
    await host.page.getByTestId('stop-recording').click();
    await host.page.locator('[data-testid="recording"][data-state="off"]').waitFor();
    await until(
      'the recording final in storage',
      async () => (await cluster.db.query<{ status: string }>('SELECT status FROM recordings WHERE recording_id = $1', [recordingId])).rows[0]?.status === 'complete',
      60_000,
    );

    const archive = cluster.archive();
    const manifest = await archive.verify(recordingId);
    expect(manifest.series?.map((s) => [s.series, s.nodeId, s.endReason])).to.deep.equal([
      [1, hostingBefore, 'node_lost'],
      [2, survivor, 'handed_over'],
      [3, next, null],
    ]);
    // The gap: from the lost node's last sealed segment to the survivor's start, after the kill.
    const [first, second, third] = manifest.series!;
    // The hand-over loses nothing: every segment of the second series is in storage.
    const secondSeriesTracks = new Set(manifest.tracks.filter((t) => t.series === 2).map((t) => t.trackId));
    expect((manifest.lostSegments ?? []).filter((l) => secondSeriesTracks.has(l.trackId))).to.deep.equal([]);
    expect(Date.parse(third!.startedAt)).to.be.greaterThan(stoppedAt);
    expect(Date.parse(first!.endedAt!)).to.be.at.most(killedAt);
    expect(Date.parse(second!.startedAt)).to.be.greaterThan(killedAt);
    for (const userId of ['dr-li', 'pt-wang']) {
      for (const series of [1, 2, 3]) {
        expect(manifest.tracks.some((t) => t.userId === userId && t.source === 'camera' && t.series === series), `${userId} camera in series ${series}`).to.equal(true);
      }
    }
    // Whatever the lost node sealed but never uploaded is declared, not silently missing.
    for (const lost of manifest.lostSegments ?? []) expect(manifest.segments[lost.seq - 1]?.trackId).to.equal(lost.trackId);
    const opened = await archive.open(recordingId);
    const lostSeqs = new Set((manifest.lostSegments ?? []).map((l) => l.seq));
    for (const segment of manifest.segments.filter((s) => !lostSeqs.has(s.seq))) {
      const plaintext = await archive.plaintextSegment(opened, segment);
      expect(plaintext.subarray(0, 4).equals(Buffer.from([0x1a, 0x45, 0xdf, 0xa3])), `${segment.trackId}#${segment.index}`).to.equal(true);
    }
    // One playable file spanning every series.
    const dir = tempDir();
    const out = path.join(dir, 'visit.webm');
    await archive.export(recordingId, out);
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', out]).toString()) as {
      format: { duration: string };
      streams: Array<{ codec_type: string }>;
    };
    expect(probe.streams.filter((s) => s.codec_type === 'video').length).to.be.at.least(6);
    expect(Number(probe.format.duration) * 1000).to.be.at.least(Date.parse(third!.startedAt) - Date.parse(manifest.startedAt));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
