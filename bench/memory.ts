/**
 * Memory per idle room (a host in it, nothing sent) and per active
 * three-party room (three participants each sending camera and microphone
 * from the RTP generators and receiving the other two), as the difference
 * over a baseline after a garbage collection (the benchmark runs with
 * --expose-gc): for the server process what the JavaScript heap and its
 * buffers retain (its RSS barely moves for small objects once the heap has
 * grown), also given as RSS; for the media worker its RSS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadClip } from './lib/clips.ts';
import { startSink } from './lib/native.ts';
import { startPlainHuizhen } from './lib/plainRooms.ts';
import { processRssBytes, round, sleep } from './lib/stats.ts';

export interface MemoryResult {
  idleRooms: number;
  activeRooms: number;
  baselineMiB: { serverRss: number; serverHeap: number; worker: number };
  /** `server`: heap + buffers retained; `serverRss`: the process's RSS; `total`: server + worker. */
  perIdleRoomKiB: { server: number; serverRss: number; worker: number; total: number };
  perActiveRoomKiB: { server: number; serverRss: number; worker: number; total: number };
}

export async function memory(idleRooms: number, activeRooms: number, log: (line: string) => void): Promise<MemoryResult> {
  const clips = [await loadClip('video'), await loadClip('audio')];
  const sink = await startSink();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'huizhen-bench-mem-'));
  const huizhen = await startPlainHuizhen({ dataDir, sinkPort: sink.port });
  const workerPid = huizhen.server.workers.workers()[0]!.pid;
  const sample = async () => {
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(1000);
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    return { heap: m.heapUsed + m.external, rss: m.rss, worker: processRssBytes(workerPid) };
  };
  try {
    // A warm server: one room opened and closed first (code paths loaded).
    const warm = await huizhen.server.rooms.room('bench-warm');
    warm.leave(huizhen.join(warm, 'dr-warm', 'host'));
    const base = await sample();
    for (let i = 0; i < idleRooms; i++) huizhen.join(await huizhen.server.rooms.room(`bench-idle-${i}`), `dr-idle-${i}`, 'host');
    const idle = await sample();
    for (let i = 0; i < activeRooms; i++) {
      const room = await huizhen.server.rooms.room(`bench-active-${i}`);
      const host = huizhen.join(room, `dr-a-${i}`, 'host');
      const peers = [host, huizhen.join(room, `dr-b-${i}`, 'expert', host), huizhen.join(room, `pt-${i}`, 'patient', host)];
      for (const peer of peers) {
        await huizhen.send(room, peer, clips);
        await huizhen.receive(room, peer);
      }
      await huizhen.settled(room, 12);
    }
    await sleep(3000);
    const active = await sample();
    const kib = (bytes: number, n: number) => round(bytes / 1024 / n, 1);
    const per = (from: typeof base, to: typeof base, n: number) => ({
      server: kib(to.heap - from.heap, n),
      serverRss: kib(to.rss - from.rss, n),
      worker: kib(to.worker - from.worker, n),
      total: kib(to.heap - from.heap + to.worker - from.worker, n),
    });
    const result: MemoryResult = {
      idleRooms,
      activeRooms,
      baselineMiB: { serverRss: round(base.rss / 1048576, 1), serverHeap: round(base.heap / 1048576, 1), worker: round(base.worker / 1048576, 1) },
      perIdleRoomKiB: per(base, idle, idleRooms),
      perActiveRoomKiB: per(idle, active, activeRooms),
    };
    log(`  idle room ${result.perIdleRoomKiB.total} KiB, active three-party room ${result.perActiveRoomKiB.total} KiB (server + worker)`);
    return result;
  } finally {
    await huizhen.close();
    await sink.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
