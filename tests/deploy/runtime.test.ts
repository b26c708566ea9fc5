import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../../src/config/load';
import {
  DEPLOY_NODE_MAJOR,
  DEPLOY_RUNTIME,
  functionTimeoutSeconds,
  reportBudgetSeconds,
} from '../../src/deploy/runtime';

const ROOT = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

describe('the deploy runtime', () => {
  it('is the one CI proves the code on, the one engines allows, and the one README and deploy name', () => {
    expect(DEPLOY_RUNTIME).toBe(`nodejs${DEPLOY_NODE_MAJOR}`);
    const ci = /^DEPLOY_NODE_VERSION=(\d+)\.\d+\.\d+$/m.exec(read('.ci/run'));
    expect(Number(ci?.[1])).toBe(DEPLOY_NODE_MAJOR);
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    // The machines' Node 20 (quick start) and the deploy runtime both satisfy it.
    expect(engines).toBe('>=20.19 <21 || >=22');
    expect(read('tests/deploy/golden/default.sh')).toContain(`--runtime=${DEPLOY_RUNTIME}`);
    expect(read('README.md')).toContain(`--runtime=${DEPLOY_RUNTIME}`);
    expect(read('README.md')).not.toMatch(/--runtime[= ]nodejs(20|22)/);
  });

  it('gives the function time for the deadline, the report and the alerts', () => {
    const c = parseConfig('scheduler: { deadline_seconds: 300 }\ncollectors: { a: {} }\n', 'c.yaml', {});
    expect(reportBudgetSeconds(c)).toBe(30);
    expect(functionTimeoutSeconds(c)).toBe(300 + 30 + 10);
    const floor = parseConfig('deploy: { timeout_seconds: 900 }\ncollectors: { a: {} }\n', 'c.yaml', {});
    expect(functionTimeoutSeconds(floor)).toBe(900);
  });
});
