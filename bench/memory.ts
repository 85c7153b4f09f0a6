/**
 * Memory: resident memory (server process + media worker) per idle room
 * (a host in it, nothing sent) and per active three-party room (three
 * participants each sending camera and microphone from the RTP generators
 * and receiving the other two), as the difference over a baseline, after a
 * garbage collection (the benchmark runs with --expose-gc).
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
  baselineMiB: { server: number; worker: number };
  perIdleRoomKiB: { server: number; worker: number; total: number };
  perActiveRoomKiB: { server: number; worker: number; total: number };
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
    return { server: process.memoryUsage().rss, worker: processRssBytes(workerPid) };
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
    const result: MemoryResult = {
      idleRooms,
      activeRooms,
      baselineMiB: { server: round(base.server / 1048576, 1), worker: round(base.worker / 1048576, 1) },
      perIdleRoomKiB: {
        server: kib(idle.server - base.server, idleRooms),
        worker: kib(idle.worker - base.worker, idleRooms),
        total: kib(idle.server - base.server + idle.worker - base.worker, idleRooms),
      },
      perActiveRoomKiB: {
        server: kib(active.server - idle.server, activeRooms),
        worker: kib(active.worker - idle.worker, activeRooms),
        total: kib(active.server - idle.server + active.worker - idle.worker, activeRooms),
      },
    };
    log(`  idle room ${result.perIdleRoomKiB.total} KiB, active three-party room ${result.perActiveRoomKiB.total} KiB (server + worker)`);
    return result;
  } finally {
    await huizhen.close();
    await sink.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
