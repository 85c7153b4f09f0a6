/**
 * The recording player (`/player?request=<id>`), for the holder of a
 * playback grant. Starting uses one play of the grant (the reader is told
 * before, since plays are few). The server decrypts and streams over HTTP
 * Range to this page's <video>; nothing can be downloaded from here.
 *
 * - A watermark (viewer, user id, request, the time to the second) lies over
 *   the picture, tiled and drifting so that no crop removes it; it goes to
 *   full screen with the picture, because full screen is of the stage, not
 *   of the <video>.
 * - When the grant is revoked or runs out the server says so on the events
 *   stream (and cuts the media); the player stops at once and says why.
 * - The media, events and end-of-session URLs work only with the HttpOnly
 *   cookie the start of the session set (same origin: <video>, EventSource
 *   and fetch send it); the media comes in byte ranges of at most 2 MiB.
 * - Leaving the page ends the play session (DELETE, keepalive).
 */
import type { PlaybackRequestView, PlayStart } from '../../../server/protocol/playback.ts';
import type { ErrorCode } from '../../../server/protocol/errorCodes.ts';
import { api, isBackOffice, session } from '../api.ts';
import { errorText, formatDateTime, t, tf } from '../i18n.ts';
import { cardHead, facts } from '../playback/requestView.ts';
import { errorMessage, h, layout, mount, notice } from '../ui.ts';

type StopReason = 'revoked' | 'expired' | 'ended' | 'error' | 'left';

const STOP_TEXT: Record<Exclude<StopReason, 'left'>, () => string> = {
  revoked: () => t('grantRevokedStop'),
  expired: () => t('grantExpiredStop'),
  ended: () => t('sessionEndedStop'),
  error: () => t('playbackInterrupted'),
};

/** Why a request cannot be played by this viewer now, as an error code to translate. */
function notPlayable(r: PlaybackRequestView, userId: string): ErrorCode {
  if (r.requester.userId !== userId) return 'FORBIDDEN';
  switch (r.status) {
    case 'pending':
    case 'denied':
      return 'GRANT_NOT_ACTIVE';
    case 'expired':
      return 'GRANT_EXPIRED';
    case 'revoked':
      return 'GRANT_REVOKED';
    case 'granted':
      return 'GRANT_EXHAUSTED';
    default: {
      const never: never = r.status;
      return never;
    }
  }
}

export function playerPage(): void {
  const who = session.get();
  const requestId = new URLSearchParams(location.search).get('request');
  const back = h('a', { href: '/review', class: 'button secondary' }, t('backToReview'));
  if (!isBackOffice(who)) {
    mount(layout(t('player'), notice('error', who ? t('backOfficeOnly') : errorText('AUTH_TOKEN_MISSING'))));
    return;
  }
  if (!requestId) {
    mount(layout(t('player'), notice('error', t('noRequestParam')), back));
    return;
  }
  const messages = h('div', { class: 'messages', 'aria-live': 'polite' });
  mount(layout(t('player'), messages, h('p', { class: 'muted' }, t('loading'))));
  api<PlaybackRequestView>('GET', `/api/playback-requests/${encodeURIComponent(requestId)}`).then(
    (view) => playerScreen(view, who.userId),
    (err: unknown) => mount(layout(t('player'), notice('error', errorMessage(err)), back)),
  );
}

function playerScreen(initial: PlaybackRequestView, userId: string): void {
  let view = initial;
  const messages = h('div', { class: 'messages', 'aria-live': 'polite' });
  const video = h('video', {
    controls: true,
    controlsList: 'nodownload nofullscreen noremoteplayback',
    disablePictureInPicture: true,
    disableRemotePlayback: true,
    playsinline: true,
    preload: 'auto',
    'data-testid': 'player-video',
  });
  const watermark = new Watermark();
  const stopOverlay = h('div', { class: 'stop-overlay', role: 'alert', hidden: true, 'data-testid': 'player-stopped' });
  const startPanel = h('div', { class: 'start-panel' });
  const stage = h('div', { class: 'player-stage', 'data-testid': 'player-stage' }, video, watermark.element, startPanel, stopOverlay);
  const fullscreenButton = h('button', { type: 'button', disabled: true }, t('fullscreen'));
  const endButton = h('button', { type: 'button', class: 'danger', disabled: true, 'data-testid': 'end-viewing' }, t('endViewing'));
  const info = h('div', {});

  const showView = (v: PlaybackRequestView, grant = v.grant) => {
    view = v;
    info.replaceChildren(
      cardHead(v),
      facts(
        [t('purpose'), v.purpose],
        [t('caseReference'), v.caseReference],
        grant && [t('grantExpiresAt'), formatDateTime(grant.expiresAt)],
        grant && [t('plays'), tf('playsUsed', { used: grant.playsUsed, max: grant.maxPlays })],
      ),
    );
  };

  /** The start button (and what a start costs), or why there is none; `before` explains a stop. */
  const showStart = (again: boolean, before?: HTMLElement) => {
    startPanel.hidden = false;
    if (view.actions.play && view.grant) {
      const button = h('button', { type: 'button', class: 'primary big', 'data-testid': 'start-playback', onclick: () => start(button) }, again ? t('startAgain') : t('startPlayback'));
      startPanel.replaceChildren(before ?? '', h('p', {}, tf('startPlaybackNote', { used: view.grant.playsUsed, max: view.grant.maxPlays })), button);
    } else {
      startPanel.replaceChildren(before ?? '', h('p', { class: 'notice error', role: 'alert' }, `${t('notPlayableNow')}${errorText(notPlayable(view, userId))}`));
    }
  };

  // Nothing to save or copy from here: no context menu, no dragging.
  stage.addEventListener('contextmenu', (e) => e.preventDefault());
  stage.addEventListener('dragstart', (e) => e.preventDefault());
  // Full screen is of the stage, so that the watermark goes with the picture.
  const toggleFullscreen = () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void stage.requestFullscreen().catch(() => undefined);
  };
  video.addEventListener('dblclick', (e) => {
    e.preventDefault();
    toggleFullscreen();
  });
  fullscreenButton.addEventListener('click', toggleFullscreen);
  document.addEventListener('fullscreenchange', () => {
    // Should the bare <video> get there anyway (a browser's own control), the stage takes its place.
    if (document.fullscreenElement === video) {
      void document.exitFullscreen().then(() => stage.requestFullscreen()).catch(() => undefined);
    }
    fullscreenButton.textContent = document.fullscreenElement ? t('exitFullscreen') : t('fullscreen');
  });

  interface Current {
    play: PlayStart;
    events: EventSource;
    expiry: ReturnType<typeof setTimeout>;
  }
  let current: Current | null = null;

  const start = (button: HTMLButtonElement) => {
    button.disabled = true;
    messages.replaceChildren();
    api<PlayStart>('POST', `/api/playback-requests/${encodeURIComponent(view.requestId)}/plays`).then(
      (play) => {
        const events = new EventSource(play.eventsUrl);
        for (const type of ['revoked', 'expired', 'ended'] as const) events.addEventListener(type, () => stop(type));
        // The server ends the session (and says so on the events stream); this stops the picture even if that word is lost.
        const grantEnd = new Date(play.grant.expiresAt).getTime();
        const sessionEnd = Math.min(new Date(play.sessionEndsAt).getTime(), grantEnd);
        const msLeft = sessionEnd - Date.now();
        current = { play, events, expiry: setTimeout(() => stop(sessionEnd >= grantEnd ? 'expired' : 'ended'), Math.min(Math.max(msLeft, 0), 2 ** 31 - 1)) };
        startPanel.hidden = true;
        stopOverlay.hidden = true;
        showView(view, play.grant);
        watermark.start(play.watermark);
        video.src = play.mediaUrl;
        stage.dataset['state'] = 'playing';
        fullscreenButton.disabled = false;
        endButton.disabled = false;
        video.play().catch(() => undefined);
      },
      (err: unknown) => {
        button.disabled = false;
        messages.replaceChildren(notice('error', errorMessage(err)));
      },
    );
  };

  /** Stops the picture at once; tells the server (unless it ended the session) and the viewer why. */
  const stop = (reason: StopReason) => {
    const c = current;
    if (!c) return;
    current = null;
    video.pause();
    video.removeAttribute('src');
    video.load();
    c.events.close();
    clearTimeout(c.expiry);
    void fetch(c.play.endUrl, { method: 'DELETE', keepalive: true }).catch(() => undefined);
    watermark.stop();
    fullscreenButton.disabled = true;
    endButton.disabled = true;
    if (document.fullscreenElement) void document.exitFullscreen();
    if (reason === 'left') return;
    stage.dataset['state'] = 'stopped';
    const text = STOP_TEXT[reason]();
    messages.replaceChildren(notice('error', text));
    if (reason === 'revoked' || reason === 'expired') {
      stopOverlay.textContent = text;
      stopOverlay.hidden = false;
    }
    // The request as it stands now; a session that merely ended can be started again.
    api<PlaybackRequestView>('GET', `/api/playback-requests/${encodeURIComponent(view.requestId)}`).then(
      (now) => {
        showView(now);
        if (reason === 'ended' || reason === 'error') showStart(true, h('p', { class: 'stop-reason' }, text));
      },
      () => undefined,
    );
  };

  /** The media failed: say why if the grant ended, otherwise that playback broke. */
  video.addEventListener('error', () => {
    if (!current) return;
    api<PlaybackRequestView>('GET', `/api/playback-requests/${encodeURIComponent(view.requestId)}`).then(
      (now) => stop(now.status === 'revoked' ? 'revoked' : now.status === 'expired' ? 'expired' : 'error'),
      () => stop('error'),
    );
  });

  endButton.addEventListener('click', () => {
    stop('left');
    location.assign('/review');
  });
  window.addEventListener('pagehide', () => stop('left'));

  showView(view);
  showStart(false);
  mount(
    layout(
      t('player'),
      messages,
      h(
        'div',
        { class: 'player' },
        stage,
        h(
          'aside',
          { class: 'panel player-info' },
          info,
          h('div', { class: 'buttons' }, fullscreenButton, endButton),
          h('p', {}, h('a', { href: '/review' }, t('backToReview'))),
        ),
      ),
    ),
  );
}

/**
 * Viewer, user id, request and the time, tiled over the whole picture at an
 * angle and drifting slowly, with one bolder copy that jumps to a new place
 * every few seconds. Clicks go through to the video.
 */
class Watermark {
  readonly element = h('div', { class: 'watermark', 'data-testid': 'watermark', 'aria-hidden': 'true' });
  readonly #tiles = h('div', { class: 'watermark-tiles' });
  readonly #roaming = h('div', { class: 'watermark-roaming' });
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor() {
    this.element.append(this.#tiles, this.#roaming);
    this.element.hidden = true;
  }

  start(mark: PlayStart['watermark']): void {
    const TILES = 60;
    const spans = Array.from({ length: TILES }, () => h('span', {}));
    this.#tiles.replaceChildren(...spans);
    const ref = mark.requestId.replace(/^pbr-/, '').slice(0, 8);
    let tick = 0;
    const paint = () => {
      const line = `${mark.name} · ${mark.userId} · ${formatDateTime(new Date(), true)} · ${ref}`;
      for (const s of spans) s.textContent = line;
      this.#roaming.textContent = line;
      if (tick++ % 7 === 0) {
        this.#roaming.style.left = `${5 + Math.random() * 55}%`;
        this.#roaming.style.top = `${8 + Math.random() * 78}%`;
      }
    };
    paint();
    this.element.hidden = false;
    clearInterval(this.#timer);
    this.#timer = setInterval(paint, 1000);
  }

  /** Nothing is shown any more, so nothing needs marking. */
  stop(): void {
    clearInterval(this.#timer);
    this.element.hidden = true;
  }
}
