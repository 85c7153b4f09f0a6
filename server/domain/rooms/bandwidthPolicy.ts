/**
 * How a participant's downlink is shared among the videos they receive, from
 * the server's estimate of what reaches them (mediasoup's send-side
 * bandwidth estimation). Pure: the controller feeds it and applies it.
 *
 * Rural links (village clinics on 4G or ADSL) are why this exists: voice
 * must survive. Audio is budgeted first; videos are then given their lowest
 * simulcast layer in priority order (screen share, then the active speaker,
 * then the others) and paused when even that does not fit; what is left
 * upgrades layers in the same order. A paused video comes back only with a
 * margin, so it does not flap on the edge of the budget.
 */
/** Opus voice with FEC, plus RTP/SRTP overhead. */
export const AUDIO_BPS = 40_000;
/** Bitrate cap of each camera simulcast layer, as the browser client encodes them. */
export const CAMERA_LAYER_BPS = [100_000, 300_000, 900_000] as const;
/** Screen shares: text must stay legible, so the floor is higher. */
export const SCREEN_LAYER_BPS = [250_000, 800_000, 1_500_000] as const;
export const RESUME_MARGIN = 1.3;

export interface VideoConsumerView {
  consumerId: string;
  source: 'camera' | 'screen';
  /** Spatial layers the producer sends (1 without simulcast). */
  spatialLayers: number;
  activeSpeaker: boolean;
  /** Currently paused by this policy. */
  pausedForBandwidth: boolean;
  /** Highest layer the client asked for (small tile), if any. */
  clientMaxLayer: number | null;
}

export interface VideoDecision {
  consumerId: string;
  paused: boolean;
  /** Preferred spatial layer when not paused. */
  spatialLayer: number;
}

export function allocateBandwidth(
  availableBps: number,
  audioConsumers: number,
  videos: readonly VideoConsumerView[],
): VideoDecision[] {
  let budget = availableBps - audioConsumers * AUDIO_BPS;
  const ordered = [...videos].sort((a, b) => rank(a) - rank(b) || a.consumerId.localeCompare(b.consumerId));
  const layerOf = new Map<string, number>();

  // 1. The lowest layer for as many videos as fit, by priority.
  for (const v of ordered) {
    const floor = layersOf(v)[0] as number;
    const need = v.pausedForBandwidth ? floor * RESUME_MARGIN : floor;
    if (budget >= need) {
      layerOf.set(v.consumerId, 0);
      budget -= floor;
    }
  }

  // 2. Upgrades with what is left, in the same order.
  for (const v of ordered) {
    let layer = layerOf.get(v.consumerId);
    if (layer === undefined) continue;
    const table = layersOf(v);
    const max = Math.min(v.spatialLayers - 1, table.length - 1, v.clientMaxLayer ?? Infinity);
    while (layer < max) {
      const step = (table[layer + 1] as number) - (table[layer] as number);
      if (budget < step) break;
      budget -= step;
      layer += 1;
    }
    layerOf.set(v.consumerId, layer);
  }

  return videos.map((v) => {
    const layer = layerOf.get(v.consumerId);
    return { consumerId: v.consumerId, paused: layer === undefined, spatialLayer: layer ?? 0 };
  });
}

function rank(v: VideoConsumerView): number {
  if (v.source === 'screen') return 0;
  return v.activeSpeaker ? 1 : 2;
}

function layersOf(v: VideoConsumerView): readonly number[] {
  return v.source === 'screen' ? SCREEN_LAYER_BPS : CAMERA_LAYER_BPS;
}

/** Spatial layers of a consumer from its scalability mode (e.g. "L3T3" → 3). */
export function spatialLayersOf(scalabilityMode: string | undefined): number {
  const match = /^L(\d+)T\d+/.exec(scalabilityMode ?? '');
  return match ? Number(match[1]) : 1;
}
