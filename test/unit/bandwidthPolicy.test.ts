import { expect } from 'chai';
import { AUDIO_BPS, CAMERA_LAYER_BPS, RESUME_MARGIN, SCREEN_LAYER_BPS, allocateBandwidth, spatialLayersOf, type VideoConsumerView } from '../../server/domain/rooms/bandwidthPolicy.ts';
import { networkQuality } from '../../server/domain/rooms/networkQuality.ts';

const camera = (consumerId: string, extra: Partial<VideoConsumerView> = {}): VideoConsumerView => ({
  consumerId,
  source: 'camera',
  spatialLayers: 3,
  activeSpeaker: false,
  pausedForBandwidth: false,
  clientMaxLayer: null,
  ...extra,
});

const decisions = (bps: number, audio: number, videos: VideoConsumerView[]) =>
  Object.fromEntries(allocateBandwidth(bps, audio, videos).map((d) => [d.consumerId, d.paused ? 'paused' : `L${d.spatialLayer}`]));

describe('bandwidth policy (rural links)', () => {
  it('gives a good link the top layer for every video', () => {
    expect(decisions(10_000_000, 2, [camera('a'), camera('b')])).to.deep.equal({ a: 'L2', b: 'L2' });
  });

  it('keeps voice: video pauses when only audio fits', () => {
    const onlyVoice = 2 * AUDIO_BPS + CAMERA_LAYER_BPS[0] - 1;
    expect(decisions(onlyVoice, 2, [camera('a')])).to.deep.equal({ a: 'paused' });
  });

  it('serves the screen share first, then the active speaker, then the others', () => {
    const screen: VideoConsumerView = { ...camera('s'), source: 'screen', spatialLayers: 1 };
    const budget = AUDIO_BPS + SCREEN_LAYER_BPS[0] + CAMERA_LAYER_BPS[0];
    expect(decisions(budget, 1, [camera('a'), camera('speaker', { activeSpeaker: true }), screen])).to.deep.equal({
      a: 'paused',
      speaker: 'L0',
      s: 'L0',
    });
  });

  it('spends what is left on upgrades in priority order', () => {
    const budget = CAMERA_LAYER_BPS[0] * 2 + (CAMERA_LAYER_BPS[1] - CAMERA_LAYER_BPS[0]);
    expect(decisions(budget, 0, [camera('a'), camera('b', { activeSpeaker: true })])).to.deep.equal({ a: 'L0', b: 'L1' });
  });

  it('resumes a paused video only with a margin, so it does not flap', () => {
    const justEnough = CAMERA_LAYER_BPS[0];
    expect(decisions(justEnough, 0, [camera('a', { pausedForBandwidth: true })])).to.deep.equal({ a: 'paused' });
    expect(decisions(justEnough * RESUME_MARGIN, 0, [camera('a', { pausedForBandwidth: true })])).to.deep.equal({ a: 'L0' });
    expect(decisions(justEnough, 0, [camera('a')])).to.deep.equal({ a: 'L0' });
  });

  it('never exceeds the layers sent or the layer the client asked for', () => {
    expect(decisions(10_000_000, 0, [camera('a', { spatialLayers: 1 }), camera('b', { clientMaxLayer: 1 })])).to.deep.equal({ a: 'L0', b: 'L1' });
  });

  it('reads spatial layers from the scalability mode', () => {
    expect(spatialLayersOf('L3T3_KEY')).to.equal(3);
    expect(spatialLayersOf('L1T3')).to.equal(1);
    expect(spatialLayersOf(undefined)).to.equal(1);
  });
});

describe('network quality', () => {
  it('is the worse of sending and receiving, on a 0–5 scale', () => {
    expect(networkQuality([10, 10], [10])).to.equal(5);
    expect(networkQuality([10], [3])).to.equal(2);
    expect(networkQuality([0], [10])).to.equal(0);
    expect(networkQuality([], [8])).to.equal(4);
    expect(networkQuality([], [])).to.equal(null);
  });
});
