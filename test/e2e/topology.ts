// The real-kernel model cluster: two nodes and nine pods (namespaces x, y, z × pods a, b, c)
// as network namespaces, routed like Calico or the ptp CNI:
//
//   pod netns  eth0 (192.0.2.N/32, 2001:db8:<node>::N/128, default via the node)
//        └─veth─ node netns  p-<ns>-<pod> (fe80::1; /32 and /128 host routes to the pod)
//   node n1 ──veth "nl"── node n2   198.51.100.1|2/24, 2001:db8:ff::1|2/64, each with routes
//                                   to the other node's pods (192.0.2.128/25 or 2001:db8:2::/64)
//
// Pods alternate between the nodes (x/a n1, x/b n2, x/c n1, ...), so the matrix holds both
// same-node and cross-node pairs. Every pod (and each node) runs server.mjs (TCP and UDP echo
// on 80 and 81, both families) and a serving prober.mjs that probes on request.
//
// API: Topology.create(opts), topo.clusterObjects(state), topo.writeCluster(state, file),
// topo.compileNode(file, node, flags), topo.applyNode(node, batchJson), topo.probeMatrix(kinds),
// topo.prober(pod|node), topo.destroy(). Namespace names carry a prefix (default npn-e2e-).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Netns, removeNamespaces, sh } from '../helpers/kernel.js';

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const POD_NAMES = ['a', 'b', 'c'] as const;
export type NsName = (typeof NAMESPACES)[number];
export type PodId = `${NsName}/${(typeof POD_NAMES)[number]}`;
export const POD_IDS: readonly PodId[] = NAMESPACES.flatMap((ns) => POD_NAMES.map((p) => `${ns}/${p}` as PodId));
export type NodeName = 'n1' | 'n2';
export type Proto = 'tcp' | 'udp';
export type Family = 4 | 6;
/** One column set of the matrix: every pair probed on this port, protocol and family. */
export interface ProbeKind { readonly port: number; readonly proto: Proto; readonly family: Family }
export const kindKey = (k: ProbeKind) => `${k.proto}/${k.port} IPv${k.family}`;

export const SERVED_PORTS = [80, 81] as const;
const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = join(HERE, '..', '..');

export interface PodSpec {
  readonly id: PodId;
  readonly namespace: NsName;
  readonly name: string;
  readonly node: NodeName;
  readonly ipv4: string;
  readonly ipv6: string;
  readonly netns: string;
  /** The node side of the pod's veth. */
  readonly hostIf: string;
}

export interface NodeSpec {
  readonly name: NodeName;
  readonly netns: string;
  readonly ipv4: string;
  readonly ipv6: string;
}

export interface NamedPort { readonly name: string; readonly containerPort: number; readonly protocol: 'TCP' | 'UDP' | 'SCTP' }

/** What a case changes on top of the model: policies, extra labels, extra named ports. */
export interface ClusterState {
  readonly policies?: readonly unknown[];
  /** Labels added to (or, with value null, removed from) a namespace's base labels. */
  readonly nsLabels?: Partial<Record<NsName, Record<string, string | null>>>;
  readonly podLabels?: Partial<Record<PodId, Record<string, string | null>>>;
  /** Named container ports added to a pod (the base ports serve-80-tcp … are always there). */
  readonly podPorts?: Partial<Record<PodId, readonly NamedPort[]>>;
  /** status.phase of a pod (default Running): a finished pod's netns still answers, which
   *  shows whether its address really left every set. */
  readonly podPhase?: Partial<Record<PodId, string>>;
}

export interface TopologyOptions {
  /** Network namespace name prefix; leftovers with it are removed first. */
  readonly prefix?: string;
  readonly log?: (line: string) => void;
}

const BASE_PORTS: readonly NamedPort[] = SERVED_PORTS.flatMap((p) => [
  { name: `serve-${p}-tcp`, containerPort: p, protocol: 'TCP' as const },
  { name: `serve-${p}-udp`, containerPort: p, protocol: 'UDP' as const },
]);

function applyLabels(base: Record<string, string>, extra: Record<string, string | null> | undefined): Record<string, string> {
  const out = { ...base };
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** A long-running child (server or prober) in a network namespace. */
class Child {
  private readonly waiting = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private readonly ready: Promise<void>;
  private stderr = '';

  constructor(readonly netns: string, readonly proc: ChildProcessWithoutNullStreams, readonly what: string) {
    proc.stderr.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    const rl = createInterface({ input: proc.stdout });
    this.ready = new Promise((resolve, reject) => {
      proc.once('exit', (code) => {
        const e = new Error(`${what} in ${netns} exited (${code}): ${this.stderr.trim()}`);
        reject(e);
        // A request in flight would otherwise wait for the test's timeout.
        for (const w of this.waiting.values()) w.reject(e);
        this.waiting.clear();
      });
      rl.on('line', (line) => {
        if (line === 'ready') return resolve();
        const msg = JSON.parse(line) as Record<string, unknown> & { id: number };
        this.waiting.get(msg.id)?.resolve(msg);
        this.waiting.delete(msg.id);
      });
    });
    this.ready.catch(() => undefined);
  }

  static start(netns: string, script: string, args: readonly string[]): Child {
    const proc = spawn('ip', ['netns', 'exec', netns, process.execPath, join(HERE, script), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new Child(netns, proc, script);
  }

  whenReady(): Promise<void> {
    return this.ready;
  }

  request(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      if (this.proc.exitCode !== null) return reject(new Error(`${this.what} in ${this.netns} is gone: ${this.stderr.trim()}`));
      this.waiting.set(id, { resolve, reject });
      this.proc.stdin.write(JSON.stringify({ id, ...req }) + '\n');
    });
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

/** A serving prober in one pod or node: probes and long-lived flows on request. */
export class Prober {
  constructor(private readonly child: Child) {}

  async probe(targets: readonly { host: string; port: number; proto: Proto }[], timeoutMs = 1000): Promise<boolean[]> {
    const r = await this.child.request({ op: 'probe', targets, timeoutMs });
    return r.results as boolean[];
  }

  /** How one TCP connect ends: 'connected', 'timeout' (dropped), or an error code such as
   *  'ECONNREFUSED' (rejected). */
  async connectOutcome(host: string, port: number, timeoutMs = 1000): Promise<string> {
    return String((await this.child.request({ op: 'connectOutcome', host, port, timeoutMs })).outcome);
  }

  async open(conn: string, host: string, port: number, proto: Proto): Promise<boolean> {
    return (await this.child.request({ op: 'open', conn, host, port, proto })).ok === true;
  }

  /** One message on a long-lived flow; true when its echo came back in time. */
  async send(conn: string, timeoutMs = 1500): Promise<boolean> {
    return (await this.child.request({ op: 'send', conn, timeoutMs })).ok === true;
  }

  async close(conn: string): Promise<void> {
    await this.child.request({ op: 'close', conn });
  }
}

export type Observed = Map<string, boolean>;
export const cellKey = (from: PodId, to: PodId, k: ProbeKind) => `${from}|${to}|${kindKey(k)}`;

const live = new Set<Topology>();
let handlersInstalled = false;

/** Tear down on every exit path, even a Ctrl-C in the middle of a case. */
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const cleanAll = () => { for (const t of [...live]) t.destroy(); };
  process.on('exit', cleanAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanAll();
      process.exit(130);
    });
  }
}

/** The model's pods: where each one runs and its addresses (nothing is created). */
export function modelPods(prefix = 'npn-e2e-'): PodSpec[] {
  return POD_IDS.map((id, i) => {
    const [namespace, name] = id.split('/') as [NsName, string];
    const node: NodeName = i % 2 === 0 ? 'n1' : 'n2';
    const n = 10 + i;
    return {
      id, namespace, name, node,
      ipv4: node === 'n1' ? `192.0.2.${n}` : `192.0.2.${128 + n}`,
      ipv6: `2001:db8:${node === 'n1' ? 1 : 2}::${n}`,
      netns: `${prefix}${namespace}-${name}`,
      hostIf: `p-${namespace}-${name}`,
    };
  });
}

/** The Kubernetes objects of a state of the model, as every case compiles them (no kernel
 *  needed: the matrix's test reads the cases through this too). */
export function modelObjects(state: ClusterState = {}, pods: readonly PodSpec[] = modelPods()): unknown[] {
  const namespaces = NAMESPACES.map((ns) => ({
    apiVersion: 'v1', kind: 'Namespace',
    metadata: { name: ns, labels: applyLabels({ 'kubernetes.io/metadata.name': ns }, state.nsLabels?.[ns]) },
  }));
  const objs = pods.map((p) => ({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: p.name, namespace: p.namespace, labels: applyLabels({ pod: p.name }, state.podLabels?.[p.id]) },
    spec: { nodeName: p.node, containers: [{ name: 'serve', ports: [...BASE_PORTS, ...(state.podPorts?.[p.id] ?? [])] }] },
    status: { phase: state.podPhase?.[p.id] ?? 'Running', podIP: p.ipv4, podIPs: [{ ip: p.ipv4 }, { ip: p.ipv6 }] },
  }));
  return [...namespaces, ...objs, ...(state.policies ?? [])];
}

export class Topology {
  readonly pods: readonly PodSpec[];
  readonly nodes: readonly NodeSpec[];
  private readonly children: Child[] = [];
  private readonly probers = new Map<string, Prober>();
  private readonly tmp: string;
  private destroyed = false;

  private constructor(readonly prefix: string, private readonly log: (line: string) => void) {
    this.nodes = (['n1', 'n2'] as const).map((name, i) => ({ name, netns: `${prefix}${name}`, ipv4: `198.51.100.${i + 1}`, ipv6: `2001:db8:ff::${i + 1}` }));
    this.pods = modelPods(prefix);
    this.tmp = mkdtempSync(join(tmpdir(), 'npn-e2e-'));
  }

  /** Builds the namespaces, links and routes, starts every server and prober. */
  static async create(opts: TopologyOptions = {}): Promise<Topology> {
    // NPN_E2E_PREFIX lets two runs on one machine keep to their own namespaces.
    const prefix = opts.prefix ?? process.env.NPN_E2E_PREFIX ?? 'npn-e2e-';
    removeNamespaces(prefix); // a killed run may have left some
    installExitHandlers();
    const t = new Topology(prefix, opts.log ?? (() => undefined));
    live.add(t);
    try {
      await t.build();
    } catch (e) {
      t.destroy();
      throw e;
    }
    return t;
  }

  pod(id: PodId): PodSpec {
    return this.pods.find((p) => p.id === id)!;
  }

  node(name: NodeName): NodeSpec {
    return this.nodes.find((n) => n.name === name)!;
  }

  private async build(): Promise<void> {
    const batch = (netns: string, lines: string[]) => sh('ip', ['-n', netns, '-batch', '-'], lines.join('\n') + '\n');
    const sysctl = (netns: string, kv: string[]) => sh('ip', ['netns', 'exec', netns, 'sysctl', '-q', '-w', ...kv]);
    const noDad = ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0'];
    for (const n of this.nodes) {
      Netns.create(n.netns);
      sysctl(n.netns, ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', ...noDad]);
    }
    const [n1, n2] = this.nodes as [NodeSpec, NodeSpec];
    batch(n1.netns, [`link add nl type veth peer name nl netns ${n2.netns}`]);
    for (const [me, other, otherPods4, otherPods6] of [[n1, n2, '192.0.2.128/25', '2001:db8:2::/64'], [n2, n1, '192.0.2.0/25', '2001:db8:1::/64']] as const) {
      batch(me.netns, [
        `addr add ${me.ipv4}/24 dev nl`,
        `addr add ${me.ipv6}/64 dev nl nodad`,
        'link set nl up',
        `route add ${otherPods4} via ${other.ipv4}`,
        `route add ${otherPods6} via ${other.ipv6}`,
      ]);
    }
    for (const p of this.pods) {
      const node = this.node(p.node);
      Netns.create(p.netns);
      sysctl(p.netns, noDad);
      batch(node.netns, [
        `link add ${p.hostIf} type veth peer name eth0 netns ${p.netns}`,
        `link set ${p.hostIf} up`,
        `addr add fe80::1/64 dev ${p.hostIf} nodad`,
        `route add ${p.ipv4}/32 dev ${p.hostIf}`,
        `route add ${p.ipv6}/128 dev ${p.hostIf}`,
      ]);
      batch(p.netns, [
        `addr add ${p.ipv4}/32 dev eth0`,
        `addr add ${p.ipv6}/128 dev eth0 nodad`,
        'link set eth0 up',
        `route add ${node.ipv4}/32 dev eth0 scope link`,
        `route add default via ${node.ipv4} dev eth0`,
        'route add ::/0 via fe80::1 dev eth0',
      ]);
    }
    const ports = SERVED_PORTS.join(',');
    const starting: Promise<void>[] = [];
    for (const netns of [...this.nodes.map((n) => n.netns), ...this.pods.map((p) => p.netns)]) {
      const server = Child.start(netns, 'server.mjs', [ports]);
      const prober = Child.start(netns, 'prober.mjs', ['--serve']);
      this.children.push(server, prober);
      this.probers.set(netns, new Prober(prober));
      starting.push(server.whenReady(), prober.whenReady());
    }
    await Promise.all(starting);
    this.log(`topology up: ${this.nodes.length} nodes, ${this.pods.length} pods`);
  }

  prober(of: PodId | NodeName): Prober {
    const netns = of === 'n1' || of === 'n2' ? this.node(of).netns : this.pod(of).netns;
    return this.probers.get(netns)!;
  }

  addr(id: PodId, family: Family): string {
    const p = this.pod(id);
    return family === 4 ? p.ipv4 : p.ipv6;
  }

  /** Namespaces, pods (real IPs, nodeName, named ports) and the state's policies. */
  clusterObjects(state: ClusterState = {}): unknown[] {
    return modelObjects(state, this.pods);
  }

  /** Writes the cluster state as one JSON `List` (YAML's superset) and returns the path. */
  writeCluster(state: ClusterState = {}, file = join(this.tmp, 'cluster.json')): string {
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: this.clusterObjects(state) }, null, 1));
    return file;
  }

  /** `netpol-nft compile` through the real CLI; resolves with stdout (the batch) and stderr. */
  compileNode(clusterFile: string, node: NodeName, flags: readonly string[] = []): Promise<{ batch: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'controller', 'cli.ts'), 'compile', '--cluster', clusterFile, '--node', node, ...flags], { cwd: REPO_ROOT });
      let out = '', err = '';
      p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve({ batch: out, stderr: err }) : reject(new Error(`netpol-nft compile --node ${node} exited ${code}: ${err}`))));
    });
  }

  /** Loads a batch with `nft -j -f` in the node's namespace (asynchronously, so that probes
   *  in flight keep being answered). */
  applyNode(node: NodeName, batchJson: string): Promise<void> {
    const file = join(this.tmp, `batch-${node}-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, batchJson);
    return new Promise((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', this.node(node).netns, 'nft', '-j', '-f', file]);
      let err = '';
      p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      p.on('error', reject);
      p.on('close', (code) => {
        rmSync(file, { force: true });
        if (code === 0) resolve();
        else reject(new Error(`nft -j -f failed on ${node}: ${err.trim()}`));
      });
    });
  }

  /** Runs a command in a node's namespace and returns stdout. */
  nodeExec(node: NodeName, cmd: string, args: readonly string[]): string {
    return sh('ip', ['netns', 'exec', this.node(node).netns, cmd, ...args]);
  }

  /** Probes every (from, to) pair on every kind; all probes of all sources run in parallel. */
  async probeMatrix(kinds: readonly ProbeKind[], opts: { from?: readonly PodId[]; to?: readonly PodId[]; timeoutMs?: number } = {}): Promise<Observed> {
    const from = opts.from ?? POD_IDS, to = opts.to ?? POD_IDS;
    const out: Observed = new Map();
    await Promise.all(from.map(async (src) => {
      const cells: string[] = [];
      const targets: { host: string; port: number; proto: Proto }[] = [];
      for (const dst of to) for (const k of kinds) {
        cells.push(cellKey(src, dst, k));
        targets.push({ host: this.addr(dst, k.family), port: k.port, proto: k.proto });
      }
      const r = await this.prober(src).probe(targets, opts.timeoutMs);
      cells.forEach((c, i) => out.set(c, r[i]!));
    }));
    return out;
  }

  /** Re-probes single cells (a longer timeout rules out a slow machine). */
  async probeCells(cells: readonly { from: PodId; to: PodId; kind: ProbeKind }[], timeoutMs: number): Promise<boolean[]> {
    return Promise.all(cells.map(async (c) => (await this.prober(c.from).probe([{ host: this.addr(c.to, c.kind.family), port: c.kind.port, proto: c.kind.proto }], timeoutMs))[0]!));
  }

  /** Kills every server and prober, removes every namespace. Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    // SIGKILL by pid (never by name): a killed process leaves its namespace at once.
    for (const c of this.children) c.kill();
    removeNamespaces(this.prefix);
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
