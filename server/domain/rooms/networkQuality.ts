/**
 * A participant's network quality, 0–5, from mediasoup's RTP stream scores
 * (0–10): how well the server receives what they send, and how well they
 * receive what the server sends them. The worse of the two decides, because
 * either one breaks the conversation.
 */
import type { NetworkQuality } from '../../protocol/room.ts';

export function networkQuality(sendScores: readonly number[], receiveScores: readonly number[]): NetworkQuality | null {
  const averages = [sendScores, receiveScores]
    .filter((scores) => scores.length > 0)
    .map((scores) => scores.reduce((a, b) => a + b, 0) / scores.length);
  if (averages.length === 0) return null;
  return Math.max(0, Math.min(5, Math.round(Math.min(...averages) / 2))) as NetworkQuality;
}
