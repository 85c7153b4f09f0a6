/**
 * User-timing marks of a visit (performance.mark): visible in the browser's
 * own performance tools, and read by the join-latency benchmark
 * (bench/joinLatency.ts): from the signaling connection to the first frame
 * of a remote video.
 */
export const MARKS = {
  signalingConnected: 'huizhen:signaling-connected',
  firstRemoteFrame: 'huizhen:first-remote-frame',
} as const;

export function markOnce(name: string): void {
  if (performance.getEntriesByName(name).length === 0) performance.mark(name);
}

/** Marks the first frame any remote video presents (once per page). */
export function markFirstFrame(video: HTMLVideoElement): void {
  if (performance.getEntriesByName(MARKS.firstRemoteFrame).length > 0) return;
  video.requestVideoFrameCallback(() => markOnce(MARKS.firstRemoteFrame));
}
