// The agent in its container image, with the Helm chart's security context (issue 10: "trace
// and drop log work in the agent's container image and with the chart's security context").
// No container runtime here: the image is a root filesystem built from the Dockerfile's own
// lines (rootfs.ts), run the way the chart's DaemonSet asks (container.ts: root with only the
// capabilities the chart adds, no_new_privs, read-only root, a tmpfs per emptyDir), in node n1
// of the real-kernel topology (test/e2e/topology.ts). The agent runs with the chart's own
// arguments and a folder of policies; `netpol-nft trace` runs in the agent's container as
// `kubectl exec` would. Run by scripts/image-check.sh (root, the kernel lock, debootstrap).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parse as parseYaml } from 'yaml';
import { Chart } from '../chart-render.test.js';
import { requireKernel } from '../helpers/kernel.js';
import { netpol } from '../e2e/objects.js';
import { Topology, type ClusterState } from '../e2e/topology.js';
import { capMask, childrenOf, execInContainer, privilegesOf, securityFromPod, startContainer, type Container, type SecurityContext } from './container.js';
import { buildImageRootfs, type ImageRootfs } from './rootfs.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const cacheDir = process.env.NPN_IMAGE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'netpol-nft-image');

const STATE: ClusterState = {
  policies: [
    netpol('y/deny', { podSelector: {}, policyTypes: ['Ingress'] }),
    netpol('y/web', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } } }], ports: [{ port: 80, protocol: 'TCP' }] }] }),
  ],
};

interface LogLine { level: number; msg: string; [k: string]: unknown }
interface Dropped extends LogLine { direction?: string; pod?: string; policies?: string[]; reason?: string; protocol?: string; traced?: boolean; source?: { pod?: string; port?: number }; destination?: { pod?: string; port?: number } }
interface Traced { headers: { daddr?: string; dport?: number; protocol?: string }; verdict: string; steps: { decision: string; direction?: string; rule?: string; pods?: string[]; policies?: string[] }[] }

interface DaemonSet {
  spec: { template: { spec: { containers: { args: string[]; env?: { name: string }[]; securityContext: unknown; volumeMounts?: { name: string; mountPath: string }[] }[]; volumes?: { name: string; emptyDir?: unknown }[] } } };
}

/** Kubernetes' $(VAR) expansion of container args. */
const expand = (arg: string, env: Record<string, string>) => arg.replace(/\$\((\w+)\)/g, (m, k: string) => env[k] ?? m);

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Collects a child's output, JSON lines parsed. */
function collect(proc: ChildProcessWithoutNullStreams): { lines: LogLine[]; stdout: () => string; stderr: () => string; exited: Promise<number | null> } {
  let out = '', err = '', partial = '';
  const lines: LogLine[] = [];
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    for (const l of parts) if (l.startsWith('{')) lines.push(JSON.parse(l) as LogLine);
  });
  proc.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((r) => proc.on('close', (code) => r(code)));
  return { lines, stdout: () => out, stderr: () => err, exited };
}

describe('the agent in its container image, with the chart\'s security context', function () {
  this.timeout(60_000);
  let image: ImageRootfs | undefined;
  let topo: Topology | undefined;
  let agent: (Container & ReturnType<typeof collect>) | undefined;
  let agentPid = 0;
  let security: SecurityContext;
  let containerEnv: Record<string, string>;
  let policies: string;
  const t = () => topo!;

  before(async function () {
    requireKernel(this);
    this.timeout(20 * 60_000);
    // The chart's DaemonSet, rendered with its default values.
    const ds = parseYaml(new Chart(join(repo, 'charts', 'netpol-nft')).render().get('daemonset.yaml')!) as DaemonSet;
    const pod = ds.spec.template.spec;
    const c = pod.containers[0]!;
    security = securityFromPod(c as Parameters<typeof securityFromPod>[0], pod.volumes ?? []);
    const t0 = Date.now();
    image = buildImageRootfs({ repo, cacheDir, mirror: process.env.NPN_DEBIAN_MIRROR, log: (l) => console.log(`    image: ${l}`) });
    console.log(`    image: root filesystem in ${Math.round((Date.now() - t0) / 1000)} s (${JSON.stringify(image.timings)}); apt packages: ${image.packages.join(' ')}; capabilities: ${security.capabilities.join(' ') || 'none'}`);
    topo = await Topology.create({ prefix: process.env.NPN_E2E_PREFIX ?? 'npn-img-' });
    policies = mkdtempSync(join(tmpdir(), 'npn-image-policies-'));
    t().writeCluster(STATE, join(policies, 'cluster.json'));
    // The pod's env: the downward API's values for node n1.
    containerEnv = { ...image.env, NODE_NAME: 'n1', HOST_IP: t().node('n1').ipv4 };
    for (const e of c.env ?? []) expect(containerEnv, `env ${e.name} of the chart`).to.have.property(e.name);
    // The chart's arguments, with a folder of policies standing for the Kubernetes API.
    const argv = [...image.entrypoint, ...c.args.map((a) => expand(a, containerEnv)), '--source=/policies'];
    expect(image.user).to.equal('root');
    const ctr = startContainer({ root: image.root, workdir: image.workdir, env: containerEnv, argv, netns: t().node('n1').netns, security, binds: [{ host: policies, path: '/policies' }] });
    agent = { ...ctr, ...collect(ctr.proc) };
    agentPid = await ctr.init();
    await waitFor('the agent\'s first sync (/readyz)', async () => (await httpGet('/readyz')).status === 200, 60_000)
      .catch((e: Error) => { throw new Error(`${e.message}\n${agent!.stdout().slice(-3000)}\n${agent!.stderr()}`); });
  });

  after(async function () {
    this.timeout(60_000);
    if (agent && agent.proc.exitCode === null) {
      if (agentPid) process.kill(agentPid, 'SIGTERM');
      await Promise.race([agent.exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (agent.proc.exitCode === null) agent.proc.kill('SIGKILL');
    }
    topo?.destroy();
    if (policies) rmSync(policies, { recursive: true, force: true });
    image?.remove();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && agent) {
      for (const l of agent.lines.slice(-30)) console.log(JSON.stringify(l));
      console.log(agent.stderr());
    }
  });

  /** An HTTP GET to the agent's listener, from inside n1 (the chart's metrics port). */
  function httpGet(path: string): Promise<{ status: number; body: string }> {
    const port = /--metrics-address=.*:(\d+)$/.exec(agentArgs().find((a) => a.startsWith('--metrics-address=')) ?? '')?.[1] ?? '9743';
    const script = `fetch('http://${t().node('n1').ipv4}:${port}${path}').then(async (r) => { console.log(JSON.stringify({ status: r.status, body: await r.text() })); }, () => console.log('{"status":0,"body":""}'))`;
    const p = spawn('ip', ['netns', 'exec', t().node('n1').netns, process.execPath, '-e', script]);
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    return new Promise((r) => p.on('close', () => r(out ? JSON.parse(out) as { status: number; body: string } : { status: 0, body: '' })));
  }
  const agentArgs = () => readFileSync(`/proc/${agentPid}/cmdline`, 'utf8').split('\0');

  it('runs as the chart says: root with only its capabilities, no_new_privs, read-only root, writable emptyDirs', async () => {
    const want = capMask(security.capabilities);
    // The agent and every child it keeps (nft monitor trace for the drop log).
    const procs = [agentPid, ...childrenOf(agentPid)];
    expect(procs.length, 'the agent and its drop-log monitor').to.be.at.least(2);
    for (const pid of procs) {
      expect(privilegesOf(pid), `process ${pid} (${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()})`).to.deep.equal({ uid: '0\t0\t0\t0', capInh: '0'.repeat(16), capPrm: want, capEff: want, capBnd: want, capAmb: '0'.repeat(16), noNewPrivs: '1' });
    }
    // What the container can write: the emptyDirs only.
    const probe = collect(execInContainer(agentPid, { env: containerEnv, security }, ['/bin/sh', '-c', `touch /app/x 2>&1; touch /policies/x 2>&1; ${security.tmpfs.map((p) => `touch ${p}/x && echo wrote ${p}`).join('; ')}`]));
    await probe.exited;
    expect(probe.stdout()).to.include('/app/x').and.include('Read-only file system').and.include('/policies/x');
    for (const p of security.tmpfs) expect(probe.stdout()).to.include(`wrote ${p}`);
  });

  it('syncs with the verdict cache on (conntrack clears the stamps) and logs no warning or error', async () => {
    const lines = agent!.lines;
    expect(lines.some((l) => String(l.msg).startsWith('cleared the verdict-cache stamps')), 'conntrack cleared the stamps').to.equal(true);
    const bad = lines.filter((l) => l.level >= 40);
    expect(bad.map((l) => `${l.msg} ${JSON.stringify(l)}`), 'warnings and errors of the agent').to.deep.equal([]);
    expect(agent!.stderr().trim(), 'the agent\'s stderr').to.equal('');
    const metrics = (await httpGet('/metrics')).body;
    expect(metrics).to.match(/^netpol_nft_conntrack_clears_total\{result="ok"\} [1-9]/m);
    expect(metrics).to.not.match(/^netpol_nft_conntrack_clears_total\{result="failed"\} [1-9]/m);
    expect(metrics).to.not.match(/^netpol_nft_sync_failures_total\{[^}]*\} [1-9]/m);
  });

  it('the drop log (default rate) names the pods and the isolating policies; allowed traffic is not logged', async () => {
    const p = t().prober('x/a');
    expect(await p.probe([{ host: t().addr('y/b', 4), port: 80, proto: 'tcp' }, { host: t().addr('y/b', 4), port: 81, proto: 'tcp' }])).to.deep.equal([true, false]);
    const dropped = () => agent!.lines.filter((l) => l.msg === 'packet dropped') as Dropped[];
    await waitFor('a drop log line', () => dropped().length > 0, 10_000);
    const line = dropped()[0]!;
    expect(line).to.deep.include({ direction: 'ingress', pod: 'y/b', protocol: 'tcp', policies: ['y/deny', 'y/web'], reason: 'ingress: isolated by y/deny, y/web' });
    expect(line.traced, 'no trace runs: logged by the rate limit').to.equal(undefined);
    expect(line.source).to.deep.include({ pod: 'x/a' });
    expect(line.destination).to.deep.include({ pod: 'y/b', port: 81 });
    expect(dropped().filter((l) => l.destination?.port === 80)).to.deep.equal([]);
    expect((await httpGet('/metrics')).body).to.match(/^netpol_nft_drop_log_lines_total [1-9]/m);
  });

  it('`netpol-nft trace` in the agent\'s container (kubectl exec) attributes an allowed and a dropped connection, and the verdict cache', async () => {
    // As `kubectl exec -n kube-system ds/netpol-nft -- netpol-nft trace …`: NODE_NAME from the env.
    const proc = execInContainer(agentPid, { env: containerEnv, security }, ['netpol-nft', 'trace', '--from', 'x/a', '--to', 'y/b', '--source', '/policies', '--output', 'json', '--duration', '60s']);
    const tr = collect(proc);
    await waitFor('the trace to start', () => tr.stderr().includes('tracing '), 30_000)
      .catch((e: Error) => { throw new Error(`${e.message}: ${tr.stderr()}`); });
    const p = t().prober('x/a');
    expect(await p.probe([{ host: t().addr('y/b', 4), port: 80, proto: 'tcp' }, { host: t().addr('y/b', 4), port: 81, proto: 'tcp' }])).to.deep.equal([true, false]);
    await new Promise((r) => setTimeout(r, 1000));
    // Ctrl-C: to the trace itself (nsenter forked it into the container's pid namespace).
    const [tracer] = childrenOf(proc.pid!);
    expect(tracer, 'the trace process').to.be.a('number');
    expect(privilegesOf(tracer!).capEff, 'the trace has the agent\'s privileges').to.equal(capMask(security.capabilities));
    process.kill(tracer!, 'SIGINT');
    expect(await tr.exited, tr.stderr()).to.equal(0);
    const traced = tr.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Traced);
    const first = (port: number) => traced.find((l) => l.headers.dport === port && l.headers.protocol === 'tcp');
    expect(first(80), JSON.stringify(traced.map((l) => l.headers))).to.not.equal(undefined);
    expect(first(80)!.verdict).to.equal('accept');
    expect(first(80)!.steps.find((s) => s.decision === 'allow')).to.deep.include({ direction: 'ingress', rule: 'y/web ingress[0] from[0]', pods: ['y/b'] });
    expect(first(81)?.verdict).to.equal('drop');
    expect(first(81)!.steps.find((s) => s.decision === 'drop')).to.deep.include({ direction: 'ingress', pods: ['y/b'], policies: ['y/deny', 'y/web'] });
    expect(traced.some((l) => l.steps.some((s) => s.decision === 'cache')), 'a later packet decided earlier under this ruleset (the verdict cache)').to.equal(true);
    expect(t().nodeExec('n1', 'nft', ['list', 'chains', 'inet']), 'the trace removed its chain').to.not.match(/trace_/);
    // The drops of the traced pair reached the drop log too (marked traced).
    const dropped = agent!.lines.filter((l) => l.msg === 'packet dropped' && (l as Dropped).traced === true);
    expect(dropped.length).to.be.at.least(1);
  });
});
