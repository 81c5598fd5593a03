// Per-packet cost on the wire: two "pods" (network namespaces) talking through a "node"
// namespace that holds the M ruleset, where both pods are selected by many policies.
//
//   npn-bench-pa (client 192.0.2.10) --veth-- npn-bench-node --veth-- npn-bench-pb (server 192.0.2.20)
//
// Traffic: documentation addresses only, and only between these namespaces (the node answers
// as 192.0.2.1 on both links, routed like the ptp CNI: /32 routes, no bridge).
// Five tables are measured in the same run, alternating round by round (each round starting
// with the next one) so that drift and the colleagues' load hit them alike: none, conntrack only (the floor every stateful enforcer
// pays), ours (every packet decided, through the ct-mark generation), ours with the
// established fast path (ours variants carry the guard chain's reverse-path check and
// unknown-pod look-ups on every packet), and ours with per-rule counters (--policy-rule-counters: one more
// counter statement on the allowing rule, in the first packet's path only). Figures: new TCP
// connections per second (each connection fresh, so the rules decide it), one long TCP stream,
// and 64-byte UDP packets (every packet decided).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batchJson, compile, fullBatch } from '../compiler/index.js';
import { Netns, removeNamespaces, trySh } from '../test/helpers/kernel.js';
import { BENCH_NODE, generateCluster, SIZES, WIRE_PAIR, type GenerateOptions } from './generate.js';
import { median } from './stats.js';

export const WIRE_PREFIX = 'npn-bench-';
export type Variant = 'none' | 'conntrack' | 'ours' | 'ours-fast' | 'ours-counters';
export const VARIANTS: readonly Variant[] = ['none', 'conntrack', 'ours', 'ours-fast', 'ours-counters'];
/** The variants that load our table. */
export type Ours = 'ours' | 'ours-fast' | 'ours-counters';
export const OURS: readonly Ours[] = ['ours', 'ours-fast', 'ours-counters'];
export type Load = 'crr' | 'stream' | 'udp';
export const LOADS: readonly Load[] = ['crr', 'stream', 'udp'];
export const LOAD_UNIT: Record<Load, string> = { crr: 'conn/s', stream: 'Gbit/s', udp: 'pkt/s' };

export interface WireResult {
  seconds: number;
  rounds: number;
  /** Policies selecting the client (egress) and the server (ingress) in the M ruleset. */
  clientEgressPolicies: number;
  serverIngressPolicies: number;
  /** A port no policy allows is dropped by our table (checked once, before measuring). */
  disallowedPortDropped: boolean;
  /** raw[variant][load] = one figure per round. */
  raw: Record<Variant, Record<Load, number[]>>;
  errors: string[];
  /** Medians over rounds of the per-round ratio (same round, same conditions). */
  ratioToConntrack: Record<Ours, Record<Load, number>>;
  ratioToNone: Record<Ours, Record<Load, number>>;
  /** ours-counters: connections made in one crr run, and what the rule counters counted
   *  meanwhile (the server's ingress rules, the client's egress rules): each should equal
   *  the connections. Undefined when the check could not run. */
  ruleCounterCheck?: { connections: number; failed: number; ingress: number; egress: number };
}

const NODE = `${WIRE_PREFIX}node`, PA = `${WIRE_PREFIX}pa`, PB = `${WIRE_PREFIX}pb`;
const GW = '192.0.2.1';
const CT_TABLE = 'npn_bench_ct';
const CT_ONLY = `table inet ${CT_TABLE} {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n    ct state invalid drop\n    ct state established,related accept\n  }\n}\n`;

/** Installs the load generators when missing (a fresh Debian machine) and builds crr.c. */
export function prepareTools(workDir: string): string {
  mkdirSync(workDir, { recursive: true });
  const missing = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0;
  const pkgs = [missing('iperf3') ? 'iperf3' : '', missing('gcc') ? 'gcc' : ''].filter(Boolean);
  if (pkgs.length) {
    process.stderr.write(`bench: installing ${pkgs.join(' ')} (apt-get)\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { env, encoding: 'utf8' });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update'], { env });
      r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { env, encoding: 'utf8' });
    }
    if (r.status !== 0) throw new Error(`apt-get install ${pkgs.join(' ')} failed: ${r.stderr.trim().split('\n').pop()}`);
  }
  const src = fileURLToPath(new URL('./loadgen.c', import.meta.url));
  const bin = join(workDir, 'loadgen');
  const r = spawnSync('gcc', ['-O2', '-Wall', '-o', bin, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc loadgen.c failed: ${r.stderr.trim()}`);
  return bin;
}

function topology(): Netns[] {
  removeNamespaces(WIRE_PREFIX);
  const node = Netns.create(NODE), pa = Netns.create(PA), pb = Netns.create(PB);
  for (const [pod, dev, ip] of [[pa, 'va', WIRE_PAIR.client.ip], [pb, 'vb', WIRE_PAIR.server.ip]] as const) {
    node.exec('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.name]);
    node.exec('ip', ['addr', 'add', `${GW}/32`, 'dev', dev]);
    node.exec('ip', ['link', 'set', dev, 'up']);
    node.exec('ip', ['route', 'add', `${ip}/32`, 'dev', dev]);
    pod.exec('ip', ['addr', 'add', `${ip}/32`, 'dev', 'eth0']);
    pod.exec('ip', ['link', 'set', 'eth0', 'up']);
    pod.exec('ip', ['route', 'add', GW, 'dev', 'eth0', 'scope', 'link']);
    pod.exec('ip', ['route', 'add', 'default', 'via', GW, 'dev', 'eth0']);
  }
  node.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.va.rp_filter=0', 'net.ipv4.conf.vb.rp_filter=0']);
  // Closed connections leave conntrack quickly, so tens of thousands of connections a second
  // do not fill the (machine-wide) conntrack table. Per-namespace settings.
  node.tryExec('sysctl', ['-qw', 'net.netfilter.nf_conntrack_tcp_timeout_close=1', 'net.netfilter.nf_conntrack_tcp_timeout_time_wait=1', 'net.netfilter.nf_conntrack_tcp_timeout_fin_wait=1', 'net.netfilter.nf_conntrack_tcp_timeout_close_wait=1', 'net.netfilter.nf_conntrack_udp_timeout=2']);
  pa.exec('sysctl', ['-qw', 'net.ipv4.ip_local_port_range=1024 65535']);
  return [node, pa, pb];
}

/** Starts a server in `ns` and resolves once something listens on `port` there (servers
 *  buffer their output when piped, so their banner is no signal). */
async function startServer(ns: string, cmd: string, args: string[], port: number, proto: 'tcp' | 'udp' = 'tcp'): Promise<ChildProcess> {
  const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '', exited: number | null | undefined;
  p.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  p.on('exit', (code) => { exited = code; });
  for (let i = 0; i < 100; i++) {
    if (exited !== undefined) throw new Error(`${cmd} exited (${exited}) in ${ns}: ${err.trim()}`);
    const ss = trySh('ip', ['netns', 'exec', ns, 'ss', proto === 'tcp' ? '-Hltn' : '-Hlun', `sport = :${port}`]);
    if (ss.stdout?.trim()) return p;
    await new Promise((r) => setTimeout(r, 100));
  }
  p.kill('SIGKILL');
  throw new Error(`${cmd} does not listen on ${port} in ${ns} after 10 s: ${err.trim()}`);
}

function run(ns: string, cmd: string, args: string[], timeoutMs: number): string {
  const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${ns}: ${(r.stderr || r.stdout || `status ${r.status}`).trim().split('\n').slice(-2).join(' | ')}`);
  return r.stdout;
}

async function measure(load: Load, gen: string, seconds: number): Promise<number> {
  const server = WIRE_PAIR.server.ip;
  const budget = (seconds + 15) * 1000;
  switch (load) {
    case 'crr': {
      const [ok, err, secs] = run(PA, gen, ['client', server, String(WIRE_PAIR.crrPort), String(seconds), '4'], budget).trim().split(/\s+/).map(Number);
      if (!ok || err! > ok! * 0.01) throw new Error(`crr: ${ok} connections, ${err} failed`);
      return ok! / secs!;
    }
    case 'stream': {
      const j = JSON.parse(run(PA, 'iperf3', ['-c', server, '-p', String(WIRE_PAIR.iperfPort), '-t', String(seconds), '-J'], budget));
      return j.end.sum_received.bits_per_second / 1e9;
    }
    case 'udp': {
      // Received packets per second at the server pod, one flow per sender, 64-byte payloads.
      const sink = await startServer(PB, gen, ['udp-sink', String(WIRE_PAIR.iperfPort), String(seconds)], WIRE_PAIR.iperfPort, 'udp');
      let out = '';
      sink.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
      const done = new Promise<void>((resolve) => sink.on('exit', () => resolve()));
      try {
        run(PA, gen, ['udp-flood', server, String(WIRE_PAIR.iperfPort), String(seconds), '2'], budget);
        await done;
      } finally {
        sink.kill('SIGKILL');
      }
      const [packets, secs] = out.trim().split(/\s+/).map(Number);
      if (!packets || !secs) throw new Error(`udp: no packets received (${out.trim()})`);
      return packets / secs;
    }
    default: {
      const never: never = load;
      throw new Error(`unknown load ${String(never)}`);
    }
  }
}

/** `extra`: more of the M cluster (the tiers part adds its ClusterNetworkPolicies). */
export async function measureWire(workDir: string, seconds: number, rounds: number, log: (s: string) => void, extra: Omit<GenerateOptions, 'wirePair'> = {}): Promise<WireResult> {
  const gen = prepareTools(workDir);
  // The M cluster with the two wire pods rewritten to documentation addresses on the node.
  const { cluster } = generateCluster(SIZES.M, { ...extra, wirePair: true });
  const files = Object.fromEntries(OURS.map((v) => [v, join(workDir, `wire-${v}.json`)])) as Record<Ours, string>;
  let clientEgressPolicies = 0, serverIngressPolicies = 0;
  for (const v of OURS) {
    // With the guard as the agent runs it: the reverse-path check (default on) and the node's
    // pod CIDR, so that every packet also passes the unknown-pod look-ups.
    const r = compile(cluster, { node: BENCH_NODE, establishedFastPath: v === 'ours-fast', policyRuleCounters: v === 'ours-counters', podCidrs: ['192.0.2.0/24'] });
    writeFileSync(files[v], batchJson(fullBatch(r.ruleset)));
    const lp = (n: string) => r.localPods.find((p) => p.namespace === WIRE_PAIR.namespace && p.name === n);
    clientEgressPolicies = lp(WIRE_PAIR.client.name)?.egress.policies.length ?? 0;
    serverIngressPolicies = lp(WIRE_PAIR.server.name)?.ingress.policies.length ?? 0;
  }
  const procs: ChildProcess[] = [];
  const nss = topology();
  const node = nss[0]!;
  const errors: string[] = [];
  const empty = () => ({ crr: [], stream: [], udp: [] }) as Record<Load, number[]>;
  const raw: WireResult['raw'] = { none: empty(), conntrack: empty(), ours: empty(), 'ours-fast': empty(), 'ours-counters': empty() };
  const setTable = (v: Variant) => {
    trySh('ip', ['netns', 'exec', NODE, 'nft', 'delete', 'table', 'inet', CT_TABLE]);
    trySh('ip', ['netns', 'exec', NODE, 'nft', 'delete', 'table', 'inet', 'netpol_nft']);
    if (v === 'conntrack') node.exec('nft', ['-f', '-'], CT_ONLY);
    else if (v !== 'none') node.exec('nft', ['-j', '-f', files[v]]);
  };
  let disallowedPortDropped = false;
  let ruleCounterCheck: WireResult['ruleCounterCheck'];
  try {
    procs.push(await startServer(PB, gen, ['server', String(WIRE_PAIR.crrPort), '4'], WIRE_PAIR.crrPort));
    procs.push(await startServer(PB, 'iperf3', ['-s', '-p', String(WIRE_PAIR.iperfPort)], WIRE_PAIR.iperfPort));
    // Our table must really decide: a port no policy allows gets no answer (a connect that
    // times out), where without a table the server's kernel refuses it at once.
    setTable('ours');
    const probe = spawnSync('ip', ['netns', 'exec', PA, gen, 'client', WIRE_PAIR.server.ip, '9999', '1', '1'], { encoding: 'utf8', timeout: 10_000 });
    const [ok, err] = probe.stdout.trim().split(/\s+/).map(Number);
    disallowedPortDropped = ok === 0 && (err ?? 0) <= 3;
    for (let round = 0; round < rounds; round++) {
      // Each round starts with another variant, so that no table always runs first or last
      // (a machine that warms up or gets busier during a round would favour one).
      for (const v of VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!)) {
        setTable(v);
        for (const load of LOADS) {
          try {
            raw[v][load].push(await measure(load, gen, seconds));
          } catch (e) {
            errors.push(`${v} ${load} round ${round + 1}: ${(e as Error).message}`);
            raw[v][load].push(NaN);
          }
        }
      }
      log(`wire: round ${round + 1}/${rounds} done`);
    }
    // The rule counters count connections: one crr run on a fresh load, then their sums.
    try {
      setTable('ours-counters');
      const [ok, failed] = run(PA, gen, ['client', WIRE_PAIR.server.ip, String(WIRE_PAIR.crrPort), '1', '4'], 30_000).trim().split(/\s+/).map(Number);
      const listed = JSON.parse(node.exec('nft', ['-j', 'list', 'counters', 'table', 'inet', 'netpol_nft'])) as { nftables: { counter?: { name: string; packets: number } }[] };
      const sum = (prefix: string) => listed.nftables.reduce((n, o) => n + (o.counter?.name.startsWith(prefix) ? o.counter.packets : 0), 0);
      ruleCounterCheck = { connections: ok!, failed: failed!, ingress: sum('rule_in_'), egress: sum('rule_eg_') };
    } catch (e) {
      errors.push(`rule counter check: ${(e as Error).message}`);
    }
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    for (const ns of nss) ns.delete();
  }
  const ratio = (a: Variant, b: Variant, load: Load) => median(raw[a][load].map((x, i) => x / raw[b][load][i]!).filter(Number.isFinite));
  const ratios = (b: Variant) => Object.fromEntries(OURS.map((v) => [v, Object.fromEntries(LOADS.map((l) => [l, ratio(v, b, l)]))])) as WireResult['ratioToNone'];
  return { seconds, rounds, clientEgressPolicies, serverIngressPolicies, disallowedPortDropped, raw, errors, ratioToConntrack: ratios('conntrack'), ratioToNone: ratios('none'), ruleCounterCheck };
}
