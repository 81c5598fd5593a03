// The compile and explain commands as a user runs them: exit codes, and messages that name
// the object, the field or the file. Each case spawns the real CLI through tsx.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'controller/cli.ts', ...args], { cwd: repo, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

const CLUSTER = `apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: x}}
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: x, labels: {pod: a}}
  spec: {nodeName: n1, containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}
  status: {phase: Running, podIPs: [{ip: 192.0.2.10}, {ip: "2001:db8::a"}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: b, namespace: x, labels: {pod: b}}
  spec: {nodeName: n1}
  status: {phase: Running, podIPs: [{ip: 192.0.2.11}, {ip: "2001:db8::b"}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: c, namespace: x, labels: {pod: c}}
  spec: {nodeName: n2}
  status: {phase: Running, podIPs: [{ip: 192.0.2.12}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: c}}}]
  - from: [{podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: http}]
`;
const BAD = `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress: [{from: [{ipBlock: {cidr: 198.51.100.0/24, except: [198.51.100.0/24]}}]}]
`;

describe('CLI: explain and compile errors', function () {
  this.timeout(300_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'npn-unit-cli-'));
    writeFileSync(join(dir, 'cluster.yaml'), CLUSTER);
    writeFileSync(join(dir, 'with-bad.yaml'), CLUSTER + BAD);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('explain: exit 0 when allowed, naming the policy and the rule', () => {
    const r = cli('explain', '--cluster', join(dir, 'cluster.yaml'), '--from', 'x/b', '--to', 'x/a', '--port', '80');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('x/b (192.0.2.11) -> x/a (192.0.2.10) TCP/80: ALLOWED');
    expect(r.stdout).to.contain('allowed by x/web ingress[1]');
  });
  it('explain: exit 3 when denied, naming the isolating policy; json output carries the sides', () => {
    const r = cli('explain', '--cluster', join(dir, 'cluster.yaml'), '--from', 'x/b', '--to', 'x/a', '--port', '81/tcp');
    expect(r.code, r.stderr).to.equal(3);
    expect(r.stdout).to.contain('DENIED');
    expect(r.stdout).to.contain('isolated by x/web; no rule allows it');
    const j = cli('explain', '--cluster', join(dir, 'cluster.yaml'), '--from', '2001:db8::b', '--to', 'x/a', '--port', '80/udp', '--output', 'json');
    expect(j.code, j.stderr).to.equal(3);
    const e = JSON.parse(j.stdout);
    expect(e.to).to.deep.equal({ ip: '2001:db8::a', pod: 'x/a' });
    expect(e.ingress.policies).to.deep.equal(['x/web']);
    expect(e.ingress.allowed).to.equal(false);
  });
  it('compile: an unreadable file fails with a message naming it', () => {
    const missing = join(dir, 'nope.yaml');
    const r = cli('compile', '--cluster', missing, '--node', 'n1');
    expect(r.code).to.not.equal(0);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.contain(missing);
    expect(r.stderr).to.contain('ENOENT');
  });
  it('compile: --table is checked as the agent checks it (a name that would carry nft syntax exits 2, prints nothing)', () => {
    for (const output of ['text', 'json']) {
      const r = cli('compile', '--cluster', join(dir, 'cluster.yaml'), '--node', 'n1', '--table', 'x;flush ruleset', '--output', output);
      expect(r.code, output).to.equal(2);
      expect(r.stdout, output).to.equal('');
      expect(r.stderr).to.contain('--table "x;flush ruleset": letters, digits and _');
    }
    expect(cli('compile', '--cluster', join(dir, 'cluster.yaml'), '--node', 'n1', '--table', 'np_2', '--output', 'text').stdout).to.contain('table inet np_2 {');
  });
  it('compile: a dangling link inside a folder is a problem naming it, not a stack trace; the rest compiles, exit 1', () => {
    const sub = mkdtempSync(join(dir, 'folder-'));
    writeFileSync(join(sub, 'a.yaml'), CLUSTER);
    symlinkSync(join(sub, 'gone.yaml'), join(sub, 'b.yaml'));
    const r = cli('compile', '--cluster', sub, '--node', 'n1');
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain(`document ${join(sub, 'b.yaml')}: dangling symbolic link`);
    expect(r.stderr, 'a stack trace is not a message').to.not.match(/\n\s+at /);
    const whole = cli('compile', '--cluster', join(dir, 'cluster.yaml'), '--node', 'n1');
    expect(r.stdout, 'a.yaml compiled as if alone').to.equal(whole.stdout);
  });
  it('compile: an invalid policy is reported on stderr by object and field; exit 0 and the rest compiles', () => {
    const good = cli('compile', '--cluster', join(dir, 'cluster.yaml'), '--node', 'n1');
    const r = cli('compile', '--cluster', join(dir, 'with-bad.yaml'), '--node', 'n1');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.equal('netpol-nft: networkpolicy x/bad: spec.ingress[0].from[0].ipBlock.except[0]: 198.51.100.0/24 must be a strict subset of cidr 198.51.100.0/24\n');
    const batch = JSON.parse(r.stdout) as { nftables: Record<string, Record<string, any>>[] };
    const before = JSON.parse(good.stdout) as typeof batch;
    // x/a's allowances are untouched by the broken policy; x/b is now isolated (fail closed).
    const setsOf = (b: typeof batch) => b.nftables.filter((c) => c.add?.set).map((c) => JSON.stringify([c.add!.set.type, c.add!.set.elem]));
    expect(setsOf(batch)).to.include.members(setsOf(before));
    const inMap = (b: typeof batch) => b.nftables.find((c) => c.add?.map?.name === 'in4_orig')!.add!.map.elem.map((e: unknown[]) => e[0]);
    expect(inMap(before)).to.deep.equal(['192.0.2.10']);
    expect(inMap(batch)).to.deep.equal(['192.0.2.10', '192.0.2.11']);
  });
});
