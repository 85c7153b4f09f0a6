/**
 * The benchmark's two small C programs (bench/native/), compiled with the
 * machine's gcc once per source version into the cache: a UDP sink that
 * counts RTP per SSRC with recvmmsg (so that the sink is never what limits
 * the measurement), and the loopback UDP ceiling.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const CACHE = path.join(process.env['HUIZHEN_CACHE_DIR'] ?? path.join(os.homedir(), '.cache', 'huizhen'), 'bench', 'bin');

export function nativeTool(name: 'rtpsink' | 'udpceiling'): string {
  const source = path.join(HERE, '..', 'native', `${name}.c`);
  const hash = crypto.createHash('sha256').update(fs.readFileSync(source)).digest('hex').slice(0, 12);
  const binary = path.join(CACHE, `${name}-${hash}`);
  if (!fs.existsSync(binary)) {
    fs.mkdirSync(CACHE, { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', '-pthread', '-o', `${binary}.tmp`, source], { stdio: 'inherit' });
    fs.renameSync(`${binary}.tmp`, binary);
  }
  return binary;
}

export interface SinkTotals {
  packets: number;
  lost: number;
  bytes: number;
  ssrcs: number;
}

/** A running sink on a loopback port; `totals()` reads its counters (since start). */
export interface RtpSink {
  port: number;
  totals(): Promise<SinkTotals>;
  close(): Promise<void>;
}

/** `dump`: also write every packet to this file (length-prefixed), e.g. to capture a clip. */
export async function startSink(dump?: string): Promise<RtpSink> {
  const child: ChildProcess = spawn(nativeTool('rtpsink'), ['0', ...(dump ? [dump] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout! });
  const queue: Array<(line: string) => void> = [];
  let ready: (port: number) => void = () => undefined;
  const port = new Promise<number>((resolve) => (ready = resolve));
  lines.on('line', (line) => {
    if (line.startsWith('READY ')) ready(Number(line.slice(6)));
    else queue.shift()?.(line);
  });
  return {
    port: await port,
    totals() {
      return new Promise((resolve) => {
        queue.push((line) => resolve(JSON.parse(line) as SinkTotals));
        child.stdin!.write('s\n');
      });
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.stdin!.end();
      await exited;
    },
  };
}

export function loopbackCeiling(seconds: number): { seconds: number; sentPps: number; receivedPps: number; datagramBytes: number } {
  return JSON.parse(execFileSync(nativeTool('udpceiling'), [String(seconds)]).toString()) as ReturnType<typeof loopbackCeiling>;
}
