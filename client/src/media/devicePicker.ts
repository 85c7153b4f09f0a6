/**
 * Camera and microphone choice with a live preview and a microphone level
 * meter: the device pre-test shown before joining a consultation and in
 * the self-test. Remembers the choice for the next visit.
 */
import { t } from '../i18n.ts';
import { h } from '../ui.ts';

const CHOICE_KEY = 'huizhen.devices';

export interface DevicePicker {
  element: HTMLElement;
  preview: HTMLVideoElement;
  /** The current stream; acquired on `start()` and again on every device change. */
  stream(): MediaStream | null;
  /** Opens the chosen (or default) devices. Rejects with the browser's error. */
  start(): Promise<MediaStream>;
  /** Called after the stream changed because the user picked another device. */
  onChange(listener: (stream: MediaStream) => void): void;
  /** Called when the camera shows a picture / the microphone hears sound. */
  onCheck(listener: (what: 'camera' | 'mic', ok: boolean) => void): void;
  stop(): void;
}

export function devicePicker(options: { testidPrefix?: string } = {}): DevicePicker {
  const prefix = options.testidPrefix ?? '';
  const cameraSelect = h('select', { id: `${prefix}camera`, 'data-testid': `${prefix}camera-select` });
  const micSelect = h('select', { id: `${prefix}microphone`, 'data-testid': `${prefix}mic-select` });
  const preview = h('video', { autoplay: true, muted: true, playsinline: true, 'data-testid': `${prefix}local-video` });
  const meterBar = h('div', { class: 'meter-bar' });
  const meter = h('div', { class: 'meter', role: 'meter', 'aria-label': t('micLevel'), 'data-testid': `${prefix}mic-meter` }, meterBar);
  const element = h(
    'div',
    { class: 'device-picker' },
    h('label', { for: `${prefix}camera` }, t('camera')),
    cameraSelect,
    h('label', { for: `${prefix}microphone` }, t('microphone')),
    micSelect,
    h('label', {}, t('micLevel')),
    meter,
  );

  let stream: MediaStream | null = null;
  let audioContext: AudioContext | null = null;
  const changeListeners: Array<(s: MediaStream) => void> = [];
  const checkListeners: Array<(what: 'camera' | 'mic', ok: boolean) => void> = [];
  const check = (what: 'camera' | 'mic', ok: boolean) => checkListeners.forEach((l) => l(what, ok));

  const saved = (() => {
    try {
      return JSON.parse(localStorage.getItem(CHOICE_KEY) ?? '{}') as { camera?: string; mic?: string };
    } catch {
      return {};
    }
  })();

  const acquire = async (): Promise<MediaStream> => {
    stream?.getTracks().forEach((track) => track.stop());
    const camera = cameraSelect.value || saved.camera;
    const mic = micSelect.value || saved.mic;
    let s: MediaStream;
    try {
      s = await navigator.mediaDevices.getUserMedia({
        video: camera ? { deviceId: { ideal: camera } } : true,
        audio: mic ? { deviceId: { ideal: mic } } : true,
      });
    } catch (err) {
      check('camera', false);
      check('mic', false);
      throw err;
    }
    stream = s;
    preview.srcObject = s;
    preview.onloadeddata = () => check('camera', preview.videoWidth > 0);
    watchLevel(s);
    await fillLists(s);
    localStorage.setItem(
      CHOICE_KEY,
      JSON.stringify({ camera: s.getVideoTracks()[0]?.getSettings().deviceId, mic: s.getAudioTracks()[0]?.getSettings().deviceId }),
    );
    return s;
  };

  const fillLists = async (s: MediaStream) => {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (select: HTMLSelectElement, kind: MediaDeviceKind, active?: string) => {
      const list = devices.filter((d) => d.kind === kind);
      select.replaceChildren(
        ...(list.length > 0
          ? list.map((d, i) => h('option', { value: d.deviceId, selected: d.deviceId === active }, d.label || `${kind} ${i + 1}`))
          : [h('option', { value: '' }, t('noDevice'))]),
      );
    };
    fill(cameraSelect, 'videoinput', s.getVideoTracks()[0]?.getSettings().deviceId);
    fill(micSelect, 'audioinput', s.getAudioTracks()[0]?.getSettings().deviceId);
  };

  const watchLevel = (s: MediaStream) => {
    void audioContext?.close();
    const track = s.getAudioTracks()[0];
    if (!track) {
      check('mic', false);
      return;
    }
    const ctx = new AudioContext();
    audioContext = ctx;
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const tick = () => {
      if (ctx.state === 'closed') return;
      analyser.getFloatTimeDomainData(samples);
      const rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
      const level = Math.min(1, rms * 4);
      meterBar.style.width = `${Math.round(level * 100)}%`;
      if (level > 0.02) check('mic', true);
      requestAnimationFrame(tick);
    };
    void ctx.resume().then(tick);
  };

  const changed = () => {
    acquire()
      .then((s) => changeListeners.forEach((l) => l(s)))
      .catch(() => undefined);
  };
  cameraSelect.addEventListener('change', changed);
  micSelect.addEventListener('change', changed);

  return {
    element,
    preview,
    stream: () => stream,
    start: acquire,
    onChange: (l) => changeListeners.push(l),
    onCheck: (l) => checkListeners.push(l),
    stop() {
      stream?.getTracks().forEach((track) => track.stop());
      stream = null;
      void audioContext?.close();
      audioContext = null;
    },
  };
}
