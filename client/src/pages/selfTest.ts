/**
 * Device and network self-test (设备与网络自检).
 *
 * 1. Camera preview, microphone level and device choice, locally.
 * 2. "Start": connect to signaling, send camera and microphone to the SFU,
 *    receive them back through consumers, and show the returned video with
 *    live receive statistics. Each step is a check that turns green or red
 *    with a hint a doctor can act on.
 */
import type { Consumer, Producer, Transport } from 'mediasoup-client/types';
import { serverInfo, session } from '../api.ts';
import { disconnectText, t } from '../i18n.ts';
import { loadDevice } from '../media/device.ts';
import { devicePicker } from '../media/devicePicker.ts';
import { clientConsumerOptions, clientRtpCapabilities } from '../media/wire.ts';
import { connect, request, whenConnected, type HuizhenClientSocket } from '../signaling.ts';
import { errorMessage, h, layout, mount, notice } from '../ui.ts';

type CheckState = 'pending' | 'running' | 'passed' | 'failed';
type CheckId = 'camera' | 'mic' | 'signaling' | 'media' | 'echo';

interface Check {
  row: HTMLLIElement;
  state: CheckState;
}

interface RunningTest {
  socket: HuizhenClientSocket;
  sendTransport: Transport;
  recvTransport: Transport;
  producers: Producer[];
  consumers: Consumer[];
  statsTimer: number;
}

export function selfTestPage(): void {
  const who = session.get();
  if (!who) {
    const devLoginButton = h('p', { hidden: true }, h('a', { class: 'button', href: '/dev-login' }, t('devLogin')));
    void serverInfo().then((i) => {
      devLoginButton.hidden = !i.devLogin;
    });
    mount(
      layout(
        t('selfTest'),
        notice('error', t('needLogin')),
        devLoginButton,
      ),
    );
    return;
  }

  const messages = h('div', { class: 'messages', 'aria-live': 'polite' });
  const picker = devicePicker();
  const localVideo = picker.preview;
  const echoVideo = h('video', { autoplay: true, muted: true, playsinline: true, 'data-testid': 'echo-video' });
  const startButton = h('button', { type: 'button', class: 'primary', 'data-testid': 'selftest-start' }, t('startTest'));
  const stopButton = h('button', { type: 'button', disabled: true, 'data-testid': 'selftest-stop' }, t('stopTest'));
  const summary = h('p', { class: 'summary', 'data-testid': 'selftest-summary' });

  const statCell = (testid: string) => h('td', { 'data-testid': testid }, '—');
  const stats = {
    frames: statCell('frames-decoded'),
    bitrate: statCell('bitrate'),
    rtt: statCell('rtt'),
    resolution: statCell('resolution'),
  };

  const checks = new Map<CheckId, Check>();
  const checkList = h('ul', { class: 'checklist' });
  const labels: Record<CheckId, string> = {
    camera: t('checkCamera'),
    mic: t('checkMic'),
    signaling: t('checkSignaling'),
    media: t('checkMedia'),
    echo: t('checkEcho'),
  };
  for (const id of Object.keys(labels) as CheckId[]) {
    const row = h('li', { 'data-testid': `check-${id}`, 'data-state': 'pending' }, labels[id], h('span', { class: 'state' }, t('pending')));
    checks.set(id, { row, state: 'pending' });
    checkList.append(row);
  }

  const setCheck = (id: CheckId, state: CheckState) => {
    const check = checks.get(id);
    if (!check || check.state === state) return;
    check.state = state;
    check.row.dataset['state'] = state;
    const label = state === 'passed' ? t('passed') : state === 'failed' ? t('failed') : state === 'running' ? '…' : t('pending');
    check.row.querySelector('.state')?.replaceChildren(label);
    const all = [...checks.values()];
    if (all.every((c) => c.state === 'passed')) {
      summary.textContent = t('allPassed');
      summary.className = 'summary ok';
    } else if (all.some((c) => c.state === 'failed')) {
      summary.textContent = t('someFailed');
      summary.className = 'summary bad';
    }
  };

  const showError = (err: unknown) => messages.replaceChildren(notice('error', errorMessage(err)));

  mount(
    layout(
      t('selfTest'),
      h('p', { class: 'intro' }, t('selfTestIntro')),
      messages,
      h(
        'section',
        { class: 'selftest' },
        h(
          'div',
          { class: 'panel devices' },
          picker.element,
          h('div', { class: 'buttons' }, startButton, stopButton),
          checkList,
          summary,
        ),
        h(
          'div',
          { class: 'videos' },
          h('figure', {}, localVideo, h('figcaption', {}, t('localPreview'))),
          h('figure', {}, echoVideo, h('figcaption', {}, t('echoVideo'))),
          h(
            'table',
            { class: 'stats' },
            h('tr', {}, h('th', {}, t('framesDecoded')), stats.frames),
            h('tr', {}, h('th', {}, t('bitrate')), stats.bitrate),
            h('tr', {}, h('th', {}, t('roundTrip')), stats.rtt),
            h('tr', {}, h('th', {}, t('resolution')), stats.resolution),
          ),
        ),
      ),
    ),
  );

  // --- Local devices --------------------------------------------------------
  let running: RunningTest | null = null;
  picker.onCheck((what, ok) => setCheck(what, ok ? 'passed' : 'failed'));
  picker.onChange((s) => {
    // Swap the new tracks into a running test without renegotiating.
    for (const producer of running?.producers ?? []) {
      const track = producer.kind === 'video' ? s.getVideoTracks()[0] : s.getAudioTracks()[0];
      if (track) void producer.replaceTrack({ track });
    }
  });

  // --- The loop through the SFU ----------------------------------------------
  const start = async () => {
    startButton.disabled = true;
    messages.replaceChildren();
    const s = picker.stream() ?? (await picker.start());
    setCheck('signaling', 'running');
    const socket = connect(who.token);
    socket.on('session:closing', ({ reason }) => {
      messages.replaceChildren(notice('error', `${t('closedBy')}${disconnectText(reason)}`));
    });
    try {
      await whenConnected(socket);
      setCheck('signaling', 'passed');
    } catch (err) {
      socket.disconnect();
      setCheck('signaling', 'failed');
      throw err;
    }

    setCheck('media', 'running');
    setCheck('echo', 'running');
    try {
      await runThroughServer(socket, s);
    } catch (err) {
      // Until the test is registered as running, stop() cannot clean up.
      if (!running) socket.disconnect();
      throw err;
    }
  };

  const runThroughServer = async (socket: HuizhenClientSocket, s: MediaStream) => {
    const started = await request(socket, 'selftest:start', {});
    const device = await loadDevice(clientRtpCapabilities(started.routerRtpCapabilities));
    const iceServers = started.iceServers;
    const sendTransport = device.createSendTransport({ ...started.sendTransport, iceServers });
    const recvTransport = device.createRecvTransport({ ...started.recvTransport, iceServers });
    for (const transport of [sendTransport, recvTransport]) {
      transport.on('connect', ({ dtlsParameters }, callback, errback) => {
        request(socket, 'selftest:connectTransport', { transportId: transport.id, dtlsParameters })
          .then(() => callback())
          .catch(errback);
      });
      transport.on('connectionstatechange', (state) => {
        if (state === 'connected' && sendTransport.connectionState === 'connected' && recvTransport.connectionState === 'connected') {
          setCheck('media', 'passed');
        }
        if (state === 'failed') setCheck('media', 'failed');
      });
    }
    sendTransport.on('produce', ({ kind, rtpParameters }, callback, errback) => {
      request(socket, 'selftest:produce', { transportId: sendTransport.id, kind, rtpParameters })
        .then(({ producerId }) => callback({ id: producerId }))
        .catch(errback);
    });

    const test: RunningTest = { socket, sendTransport, recvTransport, producers: [], consumers: [], statsTimer: 0 };
    running = test;
    stopButton.disabled = false;

    const videoTrack = s.getVideoTracks()[0];
    const audioTrack = s.getAudioTracks()[0];
    if (videoTrack) test.producers.push(await sendTransport.produce({ track: videoTrack }));
    if (audioTrack) test.producers.push(await sendTransport.produce({ track: audioTrack }));

    const echoStream = new MediaStream();
    for (const producer of test.producers) {
      const options = await request(socket, 'selftest:consume', {
        producerId: producer.id,
        rtpCapabilities: device.recvRtpCapabilities,
      });
      const consumer = await recvTransport.consume(clientConsumerOptions(options));
      test.consumers.push(consumer);
      if (consumer.kind === 'video') echoStream.addTrack(consumer.track);
      await request(socket, 'selftest:resumeConsumer', { consumerId: consumer.id });
    }
    echoVideo.srcObject = echoStream;

    let last = { at: performance.now(), bytes: 0 };
    test.statsTimer = window.setInterval(() => {
      void recvTransport.getStats().then((report) => {
        report.forEach((entry: Record<string, unknown>) => {
          if (entry['type'] === 'inbound-rtp' && entry['kind'] === 'video' && entry['mid'] !== 'probator') {
            const frames = Number(entry['framesDecoded'] ?? 0);
            const bytes = Number(entry['bytesReceived'] ?? 0);
            const now = performance.now();
            const kbps = ((bytes - last.bytes) * 8) / (now - last.at);
            last = { at: now, bytes };
            stats.frames.textContent = String(frames);
            stats.bitrate.textContent = `${Math.max(0, Math.round(kbps))} kbit/s`;
            if (entry['frameWidth']) stats.resolution.textContent = `${String(entry['frameWidth'])}×${String(entry['frameHeight'])}`;
            if (frames > 0 && echoVideo.videoWidth > 0) setCheck('echo', 'passed');
          }
          if (entry['type'] === 'candidate-pair' && entry['nominated'] && typeof entry['currentRoundTripTime'] === 'number') {
            stats.rtt.textContent = `${Math.round(entry['currentRoundTripTime'] * 1000)} ms`;
          }
        });
      });
    }, 1000);
  };

  const stop = async () => {
    const test = running;
    running = null;
    stopButton.disabled = true;
    if (test) {
      window.clearInterval(test.statsTimer);
      // The server has released the router when this resolves.
      await request(test.socket, 'selftest:stop', {}).catch(() => undefined);
      test.sendTransport.close();
      test.recvTransport.close();
      test.socket.disconnect();
      echoVideo.srcObject = null;
    }
    startButton.disabled = false;
  };

  startButton.addEventListener('click', () => {
    start().catch((err: unknown) => {
      showError(err);
      for (const id of ['media', 'echo'] as const) {
        if (checks.get(id)?.state === 'running') setCheck(id, 'failed');
      }
      void stop();
    });
  });
  stopButton.addEventListener('click', () => void stop());
  window.addEventListener('pagehide', () => {
    void stop();
    picker.stop();
  });

  picker.start().catch(showError);
}
