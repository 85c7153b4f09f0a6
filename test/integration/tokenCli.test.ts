import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { runNode } from '../support/process.ts';
import { tempDir } from '../support/server.ts';

describe('npm run token (minting short-lived tokens)', function () {
  this.timeout(30_000);
  let dataDir: string;
  before(() => {
    dataDir = tempDir();
  });
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('prints one ES256 token that the server key verifies, with the requested claims', async () => {
    const proc = runNode('server/cli/token.ts', ['--role', 'expert', '--user', 'dr-zhou', '--room', 'room-42', '--name', '周主任', '--ttl', '600'], {
      HUIZHEN_DATA_DIR: dataDir,
    });
    expect(await proc.exited).to.equal(0);
    const lines = proc.stdout().trim().split('\n');
    expect(lines).to.have.length(1);
    const publicKey = fs.readFileSync(path.join(dataDir, 'keys', 'token-signing.pub.pem'), 'utf8');
    const claims = jwt.verify(lines[0] as string, publicKey, { algorithms: ['ES256'], issuer: 'huizhen', audience: 'huizhen' }) as jwt.JwtPayload;
    expect(claims).to.include({ sub: 'dr-zhou', role: 'expert', room: 'room-42', name: '周主任' });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).to.equal(600);
    expect(proc.stderr()).to.match(/token for dr-zhou \(expert\) expires/);
  });

  it('refuses an unknown role or a missing user with usage help', async () => {
    const badRole = runNode('server/cli/token.ts', ['--role', 'god', '--user', 'x'], { HUIZHEN_DATA_DIR: dataDir });
    expect(await badRole.exited).to.equal(2);
    expect(badRole.stderr()).to.match(/--role must be one of host, expert, patient, observer/);
    expect(badRole.stdout()).to.equal('');

    const noUser = runNode('server/cli/token.ts', ['--role', 'host'], { HUIZHEN_DATA_DIR: dataDir });
    expect(await noUser.exited).to.equal(2);
    expect(noUser.stderr()).to.match(/--user is required/);
    expect(noUser.stderr()).to.include('Usage: npm run token');
  });
});
