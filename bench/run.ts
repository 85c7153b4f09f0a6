/**
 * `npm run bench`: the benchmarks, in one bounded run on loopback (inside a
 * loopback-only network namespace, scripts/bench.sh): the loopback UDP
 * ceiling, forwarding capacity on bare mediasoup and through Huizhen's room
 * (plain RTP, twice each, interleaved; once more each with SRTP), join
 * latency in Chromium, recording cost and playback, and memory per room.
 * Results go to bench/results/<time>.json, bench/results/latest.json and
 * bench/results/latest.md (the table README quotes), with the machine they
 * ran on.
 *
 *   npm run bench [-- --only forwarding,join,recording,memory]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CPU_LIMIT, sweep, type SweepResult } from './forwarding.ts';
import { joinLatency, type JoinLatencyResult } from './joinLatency.ts';
import { loopbackCeiling } from './lib/native.ts';
import { round } from './lib/stats.ts';
import { memory, type MemoryResult } from './memory.ts';
import { recordingCost, type RecordingCostResult } from './recordingCost.ts';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const RESULTS = path.join(ROOT, 'bench', 'results');
const only = (() => {
  const i = process.argv.indexOf('--only');
  return i >= 0 ? new Set((process.argv[i + 1] ?? '').split(',')) : null;
})();
const wanted = (section: string) => only === null || only.has(section);
const log = (line: string) => process.stdout.write(`${line}\n`);

interface Target {
  what: string;
  target: string;
  measured: string;
  met: boolean;
}

function machine() {
  const cpus = os.cpus();
  const version = (pkg: string) => (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  let commit = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {
    commit = 'unknown';
  }
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    kernel: os.release(),
    node: process.version,
    mediasoup: version('mediasoup'),
    commit,
  };
}

/** Mean of the repeated sweeps of one variant. */
function combine(runs: SweepResult[]) {
  const mean = (f: (r: SweepResult) => number) => round(runs.reduce((n, r) => n + f(r), 0) / runs.length, 4);
  return {
    runs: runs.length,
    ppsPerCore: Math.round(mean((r) => r.ppsPerCore ?? 0)),
    cpuPerConsumerPercent: mean((r) => r.cpuPerConsumerPercent),
    consumersAtLimit: Math.round(mean((r) => r.consumersAtLimit)),
    capacityPps: Math.round(mean((r) => r.capacityPps)),
    maxLossWithinLimits: Math.max(...runs.map((r) => r.best?.loss ?? 0)),
    bestForwardedPps: Math.round(mean((r) => r.best?.forwardedPps ?? 0)),
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const results: Record<string, unknown> = { startedAt: new Date().toISOString(), machine: machine() };
  const targets: Target[] = [];
  log(`Huizhen benchmarks on ${results['machine'] && JSON.stringify(results['machine'])}`);

  // First, while the process is fresh: a smaller baseline to measure against.
  if (wanted('memory')) {
    log('memory per room:');
    const mem: MemoryResult = await memory(200, 6, log);
    results['memory'] = mem;
  }

  if (wanted('forwarding')) {
    log('loopback UDP ceiling (C, sendmmsg → recvmmsg, 1100-byte datagrams):');
    const ceiling = loopbackCeiling(3);
    log(`  ${ceiling.receivedPps} pkt/s received`);
    results['loopbackCeiling'] = ceiling;
    log('forwarding capacity (plain RTP), bare mediasoup and through a Huizhen room, interleaved:');
    const plain: Record<'bare' | 'huizhen', SweepResult[]> = { bare: [], huizhen: [] };
    for (let round_ = 0; round_ < 2; round_++) {
      for (const variant of ['bare', 'huizhen'] as const) plain[variant].push(await sweep(variant, false, log));
    }
    log('forwarding capacity with SRTP on the receivers’ PlainTransports, interleaved:');
    const srtpRuns: Record<'bare' | 'huizhen', SweepResult[]> = { bare: [], huizhen: [] };
    for (let round_ = 0; round_ < 2; round_++) {
      for (const variant of ['bare', 'huizhen'] as const) srtpRuns[variant].push(await sweep(variant, true, log));
    }
    const srtp = { bare: combine(srtpRuns.bare), huizhen: combine(srtpRuns.huizhen) };
    const bare = combine(plain.bare);
    const huizhen = combine(plain.huizhen);
    const ratio = round(huizhen.capacityPps / Math.max(1, bare.capacityPps), 3);
    const srtpRatio = round(srtp.huizhen.capacityPps / Math.max(1, srtp.bare.capacityPps), 3);
    results['forwarding'] = {
      limits: { workerCpu: CPU_LIMIT, loss: 0.01 },
      bare,
      huizhen,
      huizhenToBare: ratio,
      srtp: { ...srtp, huizhenToBare: srtpRatio },
      sweeps: { plain, srtp: srtpRuns },
    };
    targets.push(
      { what: 'Huizhen forwarding capacity vs bare mediasoup (plain RTP)', target: '≥ 90 %', measured: `${(ratio * 100).toFixed(1)} %`, met: ratio >= 0.9 },
      { what: 'Huizhen forwarding capacity vs bare mediasoup (SRTP)', target: '≥ 90 %', measured: `${(srtpRatio * 100).toFixed(1)} %`, met: srtpRatio >= 0.9 },
      {
        what: 'forwarded packets/s per worker core at < 1 % loss (Huizhen, plain RTP)',
        target: '≥ 45 000',
        measured: `${huizhen.ppsPerCore}`,
        met: huizhen.ppsPerCore >= 45_000 && huizhen.maxLossWithinLimits < 0.01,
      },
      {
        what: 'forwarded packets/s per worker core at < 1 % loss (Huizhen, SRTP)',
        target: '≥ 45 000',
        measured: `${srtp.huizhen.ppsPerCore}`,
        met: srtp.huizhen.ppsPerCore >= 45_000 && srtp.huizhen.maxLossWithinLimits < 0.01,
      },
    );
  }

  if (wanted('join')) {
    log('join latency (Chromium, fake media, loopback):');
    const join: JoinLatencyResult = await joinLatency(22, log);
    results['joinLatency'] = join;
    targets.push({ what: 'join → first remote frame, p95', target: '≤ 300 ms', measured: `${join.p95Ms} ms (p50 ${join.p50Ms} ms, ${join.joins} joins)`, met: join.p95Ms <= 300 });
  }

  if (wanted('recording')) {
    log('recording cost (4 two-party visits recording at once) and approved playback:');
    const rec: RecordingCostResult = await recordingCost(4, 12, log);
    results['recording'] = rec;
    targets.push(
      { what: 'recording CPU per track (ffmpeg + sealing + upload)', target: '≤ 1 % of a core', measured: `${(rec.cpuPerTrack.total * 100).toFixed(2)} %`, met: rec.cpuPerTrack.total <= 0.01 },
      { what: 'encryption + hashing as a share of remux CPU', target: '≤ 15 %', measured: `${(rec.encryptionHashingShareOfRemux * 100).toFixed(1)} %`, met: rec.encryptionHashingShareOfRemux <= 0.15 },
      { what: 'end of visit → recording durable in S3', target: '≤ 2 s', measured: `${(rec.endToDurableMs.max / 1000).toFixed(2)} s (max of ${rec.visits}; p50 ${(rec.endToDurableMs.p50 / 1000).toFixed(2)} s)`, met: rec.endToDurableMs.max <= 2000 },
    );
  }

  results['targets'] = targets;
  results['seconds'] = Math.round((Date.now() - started) / 1000);
  fs.mkdirSync(RESULTS, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const json = JSON.stringify(results, null, 2);
  fs.writeFileSync(path.join(RESULTS, `${stamp}.json`), json);
  fs.writeFileSync(path.join(RESULTS, 'latest.json'), json);
  const md = table(results, targets);
  fs.writeFileSync(path.join(RESULTS, 'latest.md'), md);
  log(`\n${md}`);
  log(`results: bench/results/${stamp}.json (${results['seconds']} s)`);
}

function table(results: Record<string, any>, targets: Target[]): string {
  const m = results['machine'];
  const lines = [
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, mediasoup ${m.mediasoup}; commit ${m.commit}; ${results['startedAt']}.`,
    '',
  ];
  const f = results['forwarding'];
  if (f) {
    lines.push(
      '| Forwarding (one worker, to 85 % CPU or 1 % loss) | bare mediasoup | Huizhen room | Huizhen / bare |',
      '|---|---|---|---|',
      `| plain RTP: packets/s per worker core | ${f.bare.ppsPerCore} | ${f.huizhen.ppsPerCore} | ${((f.huizhen.ppsPerCore / f.bare.ppsPerCore) * 100).toFixed(1)} % |`,
      `| plain RTP: CPU per consumer (% of a core, linear fit) | ${f.bare.cpuPerConsumerPercent} | ${f.huizhen.cpuPerConsumerPercent} | |`,
      `| plain RTP: consumers at 85 % CPU (fit) → packets/s | ${f.bare.consumersAtLimit} → ${f.bare.capacityPps} | ${f.huizhen.consumersAtLimit} → ${f.huizhen.capacityPps} | ${(f.huizhenToBare * 100).toFixed(1)} % |`,
      `| SRTP: packets/s per worker core | ${f.srtp.bare.ppsPerCore} | ${f.srtp.huizhen.ppsPerCore} | ${((f.srtp.huizhen.ppsPerCore / Math.max(1, f.srtp.bare.ppsPerCore)) * 100).toFixed(1)} % |`,
      `| SRTP: consumers at 85 % CPU (fit) → packets/s | ${f.srtp.bare.consumersAtLimit} → ${f.srtp.bare.capacityPps} | ${f.srtp.huizhen.consumersAtLimit} → ${f.srtp.huizhen.capacityPps} | ${(f.srtp.huizhenToBare * 100).toFixed(1)} % |`,
      `| loopback UDP ceiling (C, one sender, one receiver) | ${results['loopbackCeiling'].receivedPps} packets/s | | |`,
      '',
    );
  }
  const j = results['joinLatency'];
  if (j) lines.push(`Join → first remote frame (Chromium, loopback, ${j.joins} joins): p50 ${j.p50Ms} ms, p95 ${j.p95Ms} ms, min ${j.minMs} ms, max ${j.maxMs} ms.`, '');
  const r = results['recording'];
  if (r) {
    lines.push(
      `Recording (${r.visits} two-party visits, ${r.tracks} tracks at once, ${Math.round(r.bytesPerTrackSecond / 1000)} kB per track-second): ${(r.cpuPerTrack.total * 100).toFixed(2)} % of a core per track (ffmpeg ${(r.cpuPerTrack.ffmpeg * 100).toFixed(2)} %, server ${(r.cpuPerTrack.server * 100).toFixed(2)} %, worker ${(r.cpuPerTrack.worker * 100).toFixed(2)} %); encryption + hashing ${(r.encryptionHashingShareOfRemux * 100).toFixed(1)} % of the remux CPU; end of visit → durable in S3 p50 ${r.endToDurableMs.p50} ms, max ${r.endToDurableMs.max} ms.`,
      `Approved playback: the first play prepares the file in ${r.playback.prepareMs} ms; first byte ${r.playback.firstByteMs} ms; ${r.playback.throughputMBps} MB/s over ${r.playback.ranges} ranges (${r.playback.bytes} bytes).`,
      '',
    );
  }
  const mem = results['memory'];
  if (mem) {
    lines.push(
      '| Memory | per idle room | per active three-party room |',
      '|---|---|---|',
      `| server: JS heap + buffers retained (RSS) | ${mem.perIdleRoomKiB.server} KiB (${mem.perIdleRoomKiB.serverRss}) | ${mem.perActiveRoomKiB.server} KiB (${mem.perActiveRoomKiB.serverRss}) |`,
      `| media worker RSS | ${mem.perIdleRoomKiB.worker} KiB | ${mem.perActiveRoomKiB.worker} KiB |`,
      `| together | ${mem.perIdleRoomKiB.total} KiB | ${mem.perActiveRoomKiB.total} KiB |`,
      '',
      `Memory measured over ${mem.idleRooms} idle and ${mem.activeRooms} active rooms; baseline ${mem.baselineMiB.serverRss} MiB server RSS (${mem.baselineMiB.serverHeap} MiB heap) + ${mem.baselineMiB.worker} MiB worker.`,
      '',
    );
  }
  if (targets.length > 0) {
    lines.push('| Target | Aim | Measured | Met |', '|---|---|---|---|');
    for (const t of targets) lines.push(`| ${t.what} | ${t.target} | ${t.measured} | ${t.met ? 'yes' : '**no**'} |`);
    lines.push('');
  }
  return lines.join('\n');
}

await main();
process.exit(0);
