/**
 * Running Huizhen's own entry points (`server/main.ts`, CLIs) as child
 * processes under the project's Node, the way an operator does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);

export interface RunningProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
  /** Resolves with the first stderr/stdout match of `pattern`, rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

/**
 * `detached`: the process leads its own process group, so that the test can
 * take it down with everything it started (media workers, ffmpeg) at once,
 * as when a machine dies.
 */
export function runNode(script: string, args: string[], env: Record<string, string>, options: { detached?: boolean } = {}): RunningProcess {
  const child = spawn(process.execPath, [path.join(ROOT, script), ...args], {
    cwd: ROOT,
    // A clean environment: only what the test gives, plus PATH and HOME.
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    waiters.forEach((w) => w());
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    waiters.forEach((w) => w());
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      waiters.forEach((w) => w());
      resolve(code ?? signal ?? -1);
    });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}\nstdout:${out.slice(-3000)}\nstderr:${err.slice(-3000)}`)), timeoutMs);
        const check = () => {
          const m = (err + out).match(pattern);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          } else if (child.exitCode !== null) {
            clearTimeout(timer);
            reject(new Error(`process exited (${child.exitCode}) before ${pattern}\nstdout:${out.slice(-3000)}\nstderr:${err.slice(-3000)}`));
          }
        };
        waiters.push(check);
        check();
      });
    },
  };
}
