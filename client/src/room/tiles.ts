/**
 * Video tiles: one per participant's camera (showing their name and role
 * even while their camera is off) and one per screen share. Remote audio
 * plays through hidden <audio> elements, one per consumer.
 */
import type { LiveRole } from '../../../server/protocol/roles.ts';
import type { MediaSource, NetworkQuality } from '../../../server/protocol/room.ts';
import { roleName, t } from '../i18n.ts';
import { h } from '../ui.ts';

export interface TileInfo {
  peerId: string;
  userId: string;
  source: 'camera' | 'screen';
  displayName: string;
  role: LiveRole;
  self: boolean;
}

export class Tile {
  readonly element: HTMLElement;
  readonly video: HTMLVideoElement;
  readonly #placeholder: HTMLElement;
  readonly #muted: HTMLElement;
  readonly #quality: HTMLElement;
  readonly #pausedNotice: HTMLElement;
  readonly #stats: HTMLElement;
  consumerId: string | null = null;

  constructor(info: TileInfo) {
    this.video = h('video', { autoplay: true, playsinline: true, muted: true });
    this.#placeholder = h('div', { class: 'placeholder' }, (info.displayName || '?').slice(0, 1));
    this.#muted = h('span', { class: 'muted-icon', hidden: true }, t('muted'));
    this.#quality = h('span', { class: 'quality', 'data-quality': '', title: t('networkQuality') }, h('i'), h('i'), h('i'), h('i'), h('i'));
    this.#pausedNotice = h('div', { class: 'paused-notice', hidden: true, 'data-testid': 'paused-network' }, t('videoPausedNetwork'));
    this.#stats = h('span', { class: 'stats-label' });
    const label =
      info.source === 'screen'
        ? `${info.self ? t('you') : info.displayName}${t('screenOf')}`
        : `${info.self ? `${info.displayName}（${t('you')}）` : info.displayName} · ${roleName(info.role)}`;
    this.element = h(
      'figure',
      {
        class: `tile ${info.source}`,
        'data-testid': `tile-${info.source}`,
        'data-peer-id': info.peerId,
        'data-user-id': info.userId,
        'data-self': info.self,
      },
      this.video,
      this.#placeholder,
      this.#pausedNotice,
      h('figcaption', {}, h('span', { class: 'name' }, label), this.#stats, this.#muted, this.#quality),
    );
    this.showVideo(false);
  }

  attach(track: MediaStreamTrack, consumerId: string | null): void {
    this.consumerId = consumerId;
    this.video.srcObject = new MediaStream([track]);
    this.showVideo(true);
  }

  detach(): void {
    this.consumerId = null;
    this.video.srcObject = null;
    this.showVideo(false);
    this.setPausedForNetwork(false);
  }

  showVideo(on: boolean): void {
    this.video.hidden = !on;
    this.#placeholder.hidden = on;
  }

  setMicMuted(muted: boolean): void {
    this.#muted.hidden = !muted;
  }

  setQuality(quality: NetworkQuality | null): void {
    this.#quality.dataset['quality'] = quality === null ? '' : String(quality);
    this.#quality.title = `${t('networkQuality')}: ${quality ?? '—'}/5`;
  }

  setSpeaking(on: boolean): void {
    this.element.classList.toggle('speaking', on);
  }

  setPausedForNetwork(on: boolean): void {
    this.#pausedNotice.hidden = !on;
    this.element.classList.toggle('paused-network', on);
  }

  /** Receive statistics of this tile's video, refreshed by the page. */
  setStats(stats: { width: number; height: number; framesDecoded: number; fps: number } | null): void {
    this.element.dataset['framesDecoded'] = String(stats?.framesDecoded ?? 0);
    this.#stats.textContent = stats && stats.width ? `${stats.width}×${stats.height} ${Math.round(stats.fps)}fps` : '';
  }
}

/** Hidden audio elements for remote microphones. */
export class AudioSink {
  readonly element = h('div', { class: 'audio-sink', hidden: true });
  readonly #players = new Map<string, HTMLAudioElement>();

  play(consumerId: string, track: MediaStreamTrack): void {
    const audio = h('audio', { autoplay: true, 'data-consumer-id': consumerId });
    audio.srcObject = new MediaStream([track]);
    this.#players.set(consumerId, audio);
    this.element.append(audio);
    void audio.play().catch(() => undefined);
  }

  /** Stops every player (their consumers are gone, e.g. after a media reset). */
  clear(): void {
    for (const consumerId of [...this.#players.keys()]) this.stop(consumerId);
  }

  stop(consumerId: string): boolean {
    const audio = this.#players.get(consumerId);
    if (!audio) return false;
    audio.srcObject = null;
    audio.remove();
    this.#players.delete(consumerId);
    return true;
  }
}

export function tileKey(peerId: string, source: MediaSource): string {
  return `${peerId}:${source === 'screen' ? 'screen' : 'camera'}`;
}
