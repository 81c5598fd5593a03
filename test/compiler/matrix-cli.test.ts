// `netpol-nft matrix` and `explain` as a user runs them (the CLI's main(); the kubectl plugin's
// entry point spawned as kubectl would): outputs,
// the what-if exit status a CI job gates on, bad input named, `explain --family` and nodes'
// own addresses, and the live mode (and the kubectl plugin) against the in-test API server
// over real HTTP.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../controller/cli.js';
import { namespace, pod, policy } from '../helpers/kube-api/fixtures.js';
import { FakeKubeApi } from '../helpers/kube-api/server.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
/** The CLI's main() in this process, its output captured (spawning tsx costs seconds each;
 *  the entry points themselves are spawned in the kubectl plugin case below). */
const cli = async (...args: string[]) => {
  let stdout = '', stderr = '';
  const out = process.stdout.write, err = process.stderr.write;
  process.stdout.write = ((c: string | Uint8Array) => { stdout += String(c); return true; }) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => { stderr += String(c); return true; }) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main(args);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  return { code, stdout, stderr };
};
/** Asynchronous, so that an API server in this process can answer. */
const run = (script: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repo, env });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });

const CLUSTER = `apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: x}}
- {apiVersion: v1, kind: Namespace, metadata: {name: y}}
- {apiVersion: v1, kind: Node, metadata: {name: n1}, status: {addresses: [{type: InternalIP, address: 198.51.100.1}, {type: InternalIP, address: "2001:db8:ff::1"}, {type: Hostname, address: n1}]}}
- {apiVersion: v1, kind: Node, metadata: {name: n2}, status: {addresses: [{type: InternalIP, address: 198.51.100.2}]}}
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: x, labels: {app: web}}
  spec: {nodeName: n1, containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}
  status: {phase: Running, podIPs: [{ip: 192.0.2.10}, {ip: "2001:db8::a"}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: b, namespace: y, labels: {app: client}}
  spec: {nodeName: n2}
  status: {phase: Running, podIPs: [{ip: 192.0.2.11}, {ip: "2001:db8::b"}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-v6-only, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{ipBlock: {cidr: "2001:db8::/64"}}]
    ports: [{port: http}]
`;

const OPEN_WEB = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-y, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}], ports: [{port: 80}]}]
`;

describe('CLI: matrix, what-if, explain --family, node addresses', function () {
  this.timeout(300_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'npn-unit-matrix-'));
    writeFileSync(join(dir, 'cluster.yaml'), CLUSTER);
    writeFileSync(join(dir, 'open-web.yaml'), OPEN_WEB);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('matrix: text by default, JSON with a cell per pair and port, exit 0', async () => {
    const r = await cli('matrix', '--cluster', join(dir, 'cluster.yaml'), '--by', 'pod');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('TCP/80 (http)\n    x/a y/b\nx/a -   .\ny/b X   -\n');
    const j = await cli('matrix', '--cluster', join(dir, 'cluster.yaml'), '--by', 'pod', '--family', '6', '--port', '80/tcp', '--output', 'json');
    expect(j.code, j.stderr).to.equal(0);
    const m = JSON.parse(j.stdout) as { family: number; cells: unknown[] };
    expect(m.family).to.equal(6);
    expect(m.cells).to.deep.include({ from: 'y/b', to: 'x/a', port: 80, protocol: 'TCP', allowed: true });
  });

  it('--output html writes one self-contained page (the browser test drives it: test/matrix-html.test.ts)', async () => {
    const r = await cli('matrix', '--cluster', join(dir, 'cluster.yaml'), '--by', 'pod', '--output', 'html', '--with', join(dir, 'open-web.yaml'));
    expect(r.code, r.stderr).to.equal(3);
    expect(r.stdout.startsWith('<!doctype html>')).to.equal(true);
    expect(r.stdout).to.include(`content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"`);
    expect(r.stdout).to.not.match(/\b(src|href)=["']?(https?:)?\/\//);
    expect(r.stdout).to.include('"change":"opened"');
  });

  it('what-if: exit 3 and the pairs a new policy opens, with its rule; exit 0 when nothing moves', async () => {
    const r = await cli('matrix', '--cluster', join(dir, 'cluster.yaml'), '--with', join(dir, 'open-web.yaml'));
    expect(r.code, r.stderr).to.equal(3);
    expect(r.stdout).to.equal('1 verdict change: 1 opened, 0 closed\nopened  y/b -> x/a TCP/80: ingress: allowed by x/web-from-y ingress[0] (was: isolated by x/web-v6-only; no rule allows it)\n');
    const same = await cli('matrix', '--cluster', join(dir, 'cluster.yaml'), '--family', '6', '--with', join(dir, 'open-web.yaml'));
    expect(same.code, same.stderr).to.equal(0);
    expect(same.stdout).to.equal('no verdict changes\n');
    const removed = await cli('matrix', '--cluster', join(dir, 'cluster.yaml'), '--without', 'x/web-v6-only', '--output', 'json');
    expect(removed.code, removed.stderr).to.equal(3);
    const j = JSON.parse(removed.stdout) as { changed: boolean; changes: { from: string; to: string; change: string; other?: boolean }[] };
    expect(j.changed).to.equal(true);
    expect(j.changes.map((c) => `${c.change} ${c.from} -> ${c.to}${c.other ? ' other' : ''}`)).to.deep.equal(['opened y/b -> x/a', 'opened y/b -> x/a other']);
  });

  it('bad input names what is wrong', async () => {
    const nope = await cli('matrix', '--cluster', join(dir, 'cluster.yaml'), '--without', 'x/nope');
    expect(nope.code).to.equal(1);
    expect(nope.stderr).to.include('--without x/nope: networkpolicy x/nope is not in the cluster state');
    const ns = await cli('matrix', '--cluster', join(dir, 'cluster.yaml'), '--namespace', 'q');
    expect(ns.code).to.equal(1);
    expect(ns.stderr).to.include('--namespace q: namespace q is not in the cluster state');
    expect((await cli('matrix', '--cluster', join(dir, 'cluster.yaml'), '--by', 'team')).stderr).to.include('--by team: workload, pod or namespace');
    expect((await cli('matrix', '--cluster', join(dir, 'cluster.yaml'), '--port', '70000')).code).to.equal(2);
    expect((await cli('explain', '--cluster', join(dir, 'cluster.yaml'), '--from', 'y/b', '--to', 'x/a', '--port', '80', '--family', '5')).code).to.equal(2);
    // An invalid policy in --with is named, and fails closed: it isolates y/b and allows nothing.
    writeFileSync(join(dir, 'broken.yaml'), 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: broken, namespace: y}\nspec:\n  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 192.0.2.0/24, except: [198.51.100.0/28]}}]}]\n');
    const broken = await cli('matrix', '--cluster', join(dir, 'cluster.yaml'), '--with', join(dir, 'broken.yaml'));
    expect(broken.stderr).to.equal('netpol-nft: networkpolicy y/broken: spec.ingress[0].from[0].ipBlock.except[0]: 198.51.100.0/28 must be a strict subset of cidr 192.0.2.0/24\n');
    expect(broken.code).to.equal(3);
    expect(broken.stdout).to.include('closed  x/a -> y/b TCP/80 (http) TCP/other: ingress: isolated by y/broken; no rule allows it (invalid, allowing nothing: y/broken) (was: no policy selects y/b for ingress)');
    writeFileSync(join(dir, 'with-pod.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: extra, namespace: x}\n');
    const withPod = await cli('matrix', '--cluster', join(dir, 'cluster.yaml'), '--with', join(dir, 'with-pod.yaml'));
    expect(withPod.code).to.equal(1);
    expect(withPod.stderr).to.include('pod x/extra: a what-if changes policies and namespace labels, not pods');
    writeFileSync(join(dir, 'bad-node.yaml'), CLUSTER + '---\n{apiVersion: v1, kind: Node, metadata: {name: n3}, status: {addresses: [{type: InternalIP, address: 198.51.100.300}]}}\n');
    const bn = await cli('explain', '--cluster', join(dir, 'bad-node.yaml'), '--from', 'y/b', '--to', 'x/a', '--port', '80', '--family', '6');
    expect(bn.code, bn.stderr).to.equal(0);
    expect(bn.stderr).to.equal('netpol-nft: node n3: status.addresses[0].address: "198.51.100.300" is not an IP address\n');
  });

  it('the image puts the kubectl plugin and the CLI on PATH, as npm install -g does', async () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin).to.deep.equal({ 'netpol-nft': 'dist/controller/cli.js', 'kubectl-netpol': 'dist/controller/kubectl-netpol.js' });
    const docker = readFileSync(join(repo, 'Dockerfile'), 'utf8');
    for (const [name, path] of Object.entries(pkg.bin)) expect(docker).to.include(`ln -s /app/${path} /usr/local/bin/${name}`);
    expect(readFileSync(join(repo, 'controller', 'kubectl-netpol.ts'), 'utf8').startsWith('#!/usr/bin/env node\n')).to.equal(true);
  });

  it('explain --family 6 answers for IPv6 (IPv4 stays the default), as matrix --family 6 above', async () => {
    const v4 = await cli('explain', '--cluster', join(dir, 'cluster.yaml'), '--from', 'y/b', '--to', 'x/a', '--port', '80');
    expect(v4.code).to.equal(3);
    expect(v4.stdout).to.include('y/b (192.0.2.11) -> x/a (192.0.2.10) TCP/80: DENIED');
    const v6 = await cli('explain', '--cluster', join(dir, 'cluster.yaml'), '--from', 'y/b', '--to', 'x/a', '--port', '80', '--family', '6');
    expect(v6.code, v6.stderr).to.equal(0);
    expect(v6.stdout).to.include('y/b (2001:db8::b) -> x/a (2001:db8::a) TCP/80: ALLOWED');
    expect(v6.stdout).to.include('allowed by x/web-v6-only ingress[0]');
  });

  it("explain: a node's own address (from its Node object) reaching its pod is never filtered; another node's is", async () => {
    const own = await cli('explain', '--cluster', join(dir, 'cluster.yaml'), '--from', '198.51.100.1', '--to', 'x/a', '--port', '80');
    expect(own.code, own.stderr).to.equal(0);
    expect(own.stdout).to.include("from the address of x/a's own node n1: a node's traffic to its pods is never filtered");
    expect(own.stdout).to.include('egress  at source:      allowed  node n1: not a pod, NetworkPolicy does not restrict its egress');
    const own6 = await cli('explain', '--cluster', join(dir, 'cluster.yaml'), '--from', '2001:db8:ff::1', '--to', 'x/a', '--port', '81');
    expect(own6.code, own6.stderr).to.equal(0);
    const other = await cli('explain', '--cluster', join(dir, 'cluster.yaml'), '--from', '198.51.100.2', '--to', 'x/a', '--port', '80');
    expect(other.code).to.equal(3);
    expect(other.stdout).to.include('isolated by x/web-v6-only');
  });

  describe('live: --kubeconfig, and the kubectl plugin with the current context', () => {
    let api: FakeKubeApi;
    let kubeconfig: string;
    before(async () => {
      api = new FakeKubeApi();
      await api.start();
      api.add('namespace', namespace('x'));
      api.add('namespace', namespace('y'));
      api.add('pod', pod('x/a', { ips: ['192.0.2.10'], labels: { app: 'web' } }));
      api.add('pod', pod('y/b', { ips: ['192.0.2.11'], labels: { app: 'client' } }));
      api.add('networkpolicy', policy('x/web-from-y', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }], ports: [{ port: 80 }] }] }));
      kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(kubeconfig, JSON.stringify({
        apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
        clusters: [{ name: 'fake', cluster: { server: api.url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'tester', user: { token: 'test-token' } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'tester' } }],
      }));
    });
    after(async () => api.close());

    it('matrix --kubeconfig lists the cluster (read-only) and answers from it', async () => {
      api.failNext('node', { code: 403, times: 1 }); // RBAC without nodes
      const r = await cli('matrix', '--kubeconfig', kubeconfig, '--by', 'pod', '--port', '80', '--port', '81');
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include('TCP/80\n    x/a y/b\nx/a -   .\ny/b .   -\n');
      expect(r.stdout).to.include('TCP/81\n    x/a y/b\nx/a -   .\ny/b X   -\n');
      // Nodes refused (403): said once, and the answer goes on.
      expect(r.stderr).to.include('nodes not listed');
      const verbs = new Set(api.requests.map((q) => q.method));
      expect([...verbs]).to.deep.equal(['GET']);
    });

    it('kubectl netpol (the kubectl-netpol entry) uses $KUBECONFIG like any plugin', async () => {
      const r = await run('controller/kubectl-netpol.ts', ['explain', '--from', 'y/b', '--to', 'x/a', '--port', '81'], { ...process.env, KUBECONFIG: kubeconfig, KUBERNETES_SERVICE_HOST: '' });
      expect(r.code, r.stderr).to.equal(3);
      expect(r.stdout).to.include('y/b (192.0.2.11) -> x/a (192.0.2.10) TCP/81: DENIED');
      const m = await run('controller/kubectl-netpol.ts', ['matrix', '--with', join(dir, 'open-web.yaml')], { ...process.env, KUBECONFIG: kubeconfig, KUBERNETES_SERVICE_HOST: '' });
      expect(m.code, m.stderr).to.equal(0);
      expect(m.stdout).to.equal('no verdict changes\n');
    });

    it('an API server that cannot be reached is named, exit 1', async () => {
      const gone = join(dir, 'gone-kubeconfig');
      writeFileSync(gone, JSON.stringify({
        apiVersion: 'v1', kind: 'Config', 'current-context': 'g',
        clusters: [{ name: 'g', cluster: { server: 'http://127.0.0.1:9', 'insecure-skip-tls-verify': true } }], users: [{ name: 'u', user: {} }],
        contexts: [{ name: 'g', context: { cluster: 'g', user: 'u' } }],
      }));
      const r = await cli('matrix', '--kubeconfig', gone);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include('http://127.0.0.1:9');
    });
  });
});
