import { expect } from 'chai';
import { SHUTDOWN_PHASES, ShutdownSequence } from '../../server/lifecycle/ShutdownSequence.ts';
import { captureLogger } from '../support/server.ts';

describe('shutdown sequence', () => {
  it('runs phases in the fixed order whatever the registration order', async () => {
    const ran: string[] = [];
    const seq = new ShutdownSequence(captureLogger().log);
    seq.register('close-database', 'db', () => void ran.push('db'));
    seq.register('stop-media', 'workers', () => void ran.push('workers'));
    seq.register('flush-uploads', 'uploads', async () => {
      await new Promise((r) => setTimeout(r, 20));
      ran.push('uploads');
    });
    seq.register('end-rooms', 'rooms', () => void ran.push('rooms'));
    seq.register('close-object-store', 's3', () => void ran.push('s3'));
    seq.register('close-connections', 'sockets', () => void ran.push('sockets'));
    seq.register('stop-accepting', 'edge', () => void ran.push('edge'));
    await seq.run();
    expect(ran).to.deep.equal(['edge', 'rooms', 'sockets', 'uploads', 'workers', 's3', 'db']);
    expect(SHUTDOWN_PHASES[0]).to.equal('stop-accepting');
    expect(SHUTDOWN_PHASES.at(-1)).to.equal('close-database');
  });

  it('is idempotent: a second run returns the first run and repeats nothing', async () => {
    let count = 0;
    const seq = new ShutdownSequence(captureLogger().log);
    seq.register('stop-media', 'counter', () => void count++);
    const [a, b] = await Promise.all([seq.run(), seq.run()]);
    await seq.run();
    expect(count).to.equal(1);
    expect(a).to.equal(b);
    expect(seq.started).to.equal(true);
  });

  it('goes on past a failing or hanging step so the database still closes', async () => {
    const { log, lines } = captureLogger();
    const seq = new ShutdownSequence(log);
    let dbClosed = false;
    seq.register('end-rooms', 'broken', () => {
      throw new Error('room refused to end');
    });
    seq.register('flush-uploads', 'stuck', () => new Promise<void>(() => undefined), 50);
    seq.register('close-database', 'db', () => {
      dbClosed = true;
    });
    const report = await seq.run();
    expect(dbClosed).to.equal(true);
    expect(report.failed.map((f) => f.step)).to.deep.equal(['end-rooms/broken', 'flush-uploads/stuck']);
    expect(report.failed[1]?.error).to.match(/timed out/);
    expect(lines.join('\n')).to.include('shutdown step failed');
  });
});
