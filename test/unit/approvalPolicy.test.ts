import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { PolicyError } from '../../server/config/policyFile.ts';
import { loadApprovalPolicy, tiersFor } from '../../server/domain/approvals/ApprovalPolicy.ts';
import { tempDir } from '../support/server.ts';

const SHIPPED_DIR = new URL('../../recordings-config', import.meta.url).pathname;
const shipped = fs.readFileSync(path.join(SHIPPED_DIR, 'approval.jsonc'), 'utf8');

function problemsOf(text: string): string[] {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'approval.jsonc'), text);
  try {
    loadApprovalPolicy(dir);
  } catch (err) {
    expect(err).to.be.instanceOf(PolicyError);
    return (err as PolicyError).problems;
  }
  return [];
}

describe('playback approval policy (recordings-config/approval.jsonc)', () => {
  it('ships two tiers for every recording and a third for minors and psychiatry', () => {
    const policy = loadApprovalPolicy(SHIPPED_DIR);
    expect(policy.requesterRoles).to.have.members(['quality_reviewer', 'records_staff']);
    expect(tiersFor(policy, []).map((t) => t.id)).to.deep.equal(['department_head', 'medical_affairs']);
    expect(tiersFor(policy, ['psychiatry']).map((t) => t.id)).to.deep.equal(['department_head', 'medical_affairs', 'vice_president']);
    expect(tiersFor(policy, ['infectious_disease']).map((t) => t.id)).to.deep.equal(['department_head', 'medical_affairs']);
    expect(tiersFor(policy, [])[0]?.sameDepartment).to.equal(true);
    expect(policy.grant.maxPlays).to.be.at.least(1);
    expect(policy.playSession).to.deep.equal({ idleMinutes: 10, lifetimeFactor: 2, lifetimeSlackMinutes: 15 });
  });

  it('gives play sessions an idle time and a lifetime of at least the recording’s length', () => {
    expect(problemsOf(shipped.replace('"lifetimeFactor": 2', '"lifetimeFactor": 0.5')).join('\n')).to.match(/playSession\.lifetimeFactor/);
    expect(problemsOf(shipped.replace('"idleMinutes": 10', '"idleMinutes": 0')).join('\n')).to.match(/playSession\.idleMinutes/);
    // A policy file without the section gets the defaults.
    expect(problemsOf(shipped.replace(/"playSession": \{[^}]*\},/, ''))).to.deep.equal([]);
  });

  it('refuses tiers that reference unknown categories or repeat, naming the setting', () => {
    expect(problemsOf(shipped.replace('"onlyForCategories": ["minor", "psychiatry"]', '"onlyForCategories": ["minor", "oncology"]'))).to.include(
      'tiers.2.onlyForCategories: unknown category oncology (declare it under "categories")',
    );
    expect(problemsOf(shipped.replace('"id": "vice_president"', '"id": "medical_affairs"')).join('\n')).to.match(/tiers\.2\.id: tier medical_affairs is listed twice/);
  });

  it('refuses a break-glass review by a missing or conditional tier', () => {
    expect(problemsOf(shipped.replace('"reviewByTier": "medical_affairs"', '"reviewByTier": "nobody"'))).to.include('breakGlass.reviewByTier: no tier nobody');
    expect(problemsOf(shipped.replace('"reviewByTier": "medical_affairs"', '"reviewByTier": "vice_president"'))).to.include(
      'breakGlass.reviewByTier: the break-glass review tier must apply to every recording',
    );
  });

  it('refuses live-room roles as requesters and unusable grants', () => {
    const problems = problemsOf(shipped.replace('"records_staff"]', '"patient"]').replace('"maxPlays": 3', '"maxPlays": 0')).join('\n');
    expect(problems).to.match(/requesterRoles\.1/).and.match(/grant\.maxPlays/);
  });
});
