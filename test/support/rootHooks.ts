/**
 * Mocha root hooks for the whole suite.
 *
 * - A watchdog ends a run that hangs (a stuck browser or child process)
 *   instead of letting CI wait for its own timeout: `timeout` around
 *   `unshare -n` cannot stop it, so the process stops itself.
 * - Shared resources started lazily by tests (the PostgreSQL cluster) are
 *   stopped once, after everything.
 */
import { stopSharedPostgres } from './postgres.ts';

const WATCHDOG_MINUTES = Number(process.env['HUIZHEN_TEST_WATCHDOG_MINUTES'] ?? 40);

export const mochaHooks = {
  beforeAll(): void {
    const timer = setTimeout(() => {
      process.stderr.write(`\n[watchdog] test run exceeded ${WATCHDOG_MINUTES} minutes; exiting\n`);
      process.exit(3);
    }, WATCHDOG_MINUTES * 60_000);
    timer.unref();
  },
  async afterAll(): Promise<void> {
    await stopSharedPostgres();
  },
};
