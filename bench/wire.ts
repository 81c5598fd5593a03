// Per-packet cost on the wire: two pairs of "pods" (network namespaces) talking through a
// "node" namespace that holds the M ruleset: a pair selected by 7 egress / 10 ingress policies
// (WIRE_PAIR), and a pair whose pods are each selected by 60 policies (WIRE_PAIR60, where only
// the last policy of the group chain allows the traffic: the worst first packet).
//
//   npn-bench-pa (client 192.0.2.10) --veth-- npn-bench-node --veth-- npn-bench-pb (server 192.0.2.20)
//   npn-bench-pc (client 192.0.2.30) --veth--        "       --veth-- npn-bench-pd (server 192.0.2.40)
//
// Traffic: documentation addresses only, and only between these namespaces (the node answers
// as 192.0.2.1 on both links, routed like the ptp CNI: /32 routes, no bridge).
//
// Tables: conntrack only (the floor every stateful enforcer pays); ours, exactly what the agent
// loads by default (the agent's own engine path with its marker chain, a real verdict-cache
// stamp, the guard with the node's pod CIDR populated, the drop log at its default rate, rule
// counters off); ours-counters (--policy-rule-counters); ours-noguard (--no-anti-spoofing and no
// pod CIDR: what the guard costs). All are loaded once, side by side, each under its own table
// name; all but the measured one are dormant (`flags dormant`: their hooks unregistered), so
// switching tables is one small transaction and the conntrack table is flushed at each switch.
//
// Rounds are short and interleaved: for each pair and load, every table in turn (the order
// rotating from round to round), so the figures compared sit seconds apart, and the ratio is
// taken within the round. The load generators are pinned (client side on one CPU, servers on
// the other) so that on a shared machine they compete the same way for every table. Figures:
// new TCP connections per second (each connection fresh, so the rules decide it), one long
// TCP stream, and 64-byte UDP packets (every packet decided).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batchJson, DEFAULT_CT_MARK_MASK, DEFAULT_TABLE, engineFor } from '../compiler/index.js';
import { DEFAULT_DROP_LOG } from '../controller/config.js';
import { Netns, removeNamespaces, trySh } from '../test/helpers/kernel.js';
import { ruleCounterName } from '../compiler/nft/names.js';
import { BENCH_NODE, generateCluster, PAIR60_POLICY_COUNT, SIZES, WIRE_PAIR, WIRE_PAIR60, type GenerateOptions } from './generate.js';
import { median, spread, type RatioStats } from './stats.js';

export type { RatioStats } from './stats.js';

export const WIRE_PREFIX = 'npn-bench-';
export type Variant = 'conntrack' | 'ours' | 'ours-counters' | 'ours-noguard';
export const VARIANTS: readonly Variant[] = ['conntrack', 'ours', 'ours-counters', 'ours-noguard'];
/** The variants that load our table. */
export type Ours = 'ours' | 'ours-counters' | 'ours-noguard';
export const OURS: readonly Ours[] = ['ours', 'ours-counters', 'ours-noguard'];
export type Load = 'crr' | 'stream' | 'udp';
export const LOADS: readonly Load[] = ['crr', 'stream', 'udp'];
export const LOAD_UNIT: Record<Load, string> = { crr: 'conn/s', stream: 'Gbit/s', udp: 'pkt/s' };

/** The 60-policy pair: the same loads, on the tables its goal compares (the guard's and the
 *  rule counters' costs do not depend on the number of policies: the first pair shows them). */
export type Variant60 = 'conntrack' | 'ours';
export const VARIANTS60: readonly Variant60[] = ['conntrack', 'ours'];
export type Ours60 = Exclude<Variant60, 'conntrack'>;

export interface Wire60Result {
  /** Policies selecting the client (egress) and the server (ingress), as compiled. */
  clientEgressPolicies: number;
  serverIngressPolicies: number;
  /** In the loaded table: the group chains the verdict maps send each pod to (client
   *  egress, server ingress, original direction), the distinct policies whose rules they
   *  hold (from the rule comments; a rule whose match an earlier one has is left out), and the
   *  policy rules before the allowing policy's (the last: the bench fails otherwise). */
  chains: { client: string; server: string; clientPolicies: number; serverPolicies: number; clientRulesBefore: number; serverRulesBefore: number };
  disallowedPortDropped: boolean;
  raw: Record<Variant60, Record<Load, number[]>>;
  ratioToConntrack: Record<Ours60, Record<Load, RatioStats>>;
  /** ours-counters, one crr run: the allowing policy's ingress and egress rule counters
   *  (each must equal the connections) and the sum of the other 59 policies' counters (must
   *  be 0: their rules were walked and did not match). The bench fails otherwise. */
  ruleCounterCheck: { connections: number; failed: number; allowIngress: number; allowEgress: number; othersMatched: number };
}

export interface WireResult {
  seconds: number;
  rounds: number;
  /** The CPUs the client side and the servers were pinned to (undefined: one CPU, no pinning). */
  pinned?: { client: number; server: number };
  loadavg: { start: number[]; end: number[] };
  /** What `ours` is: the agent's defaults, as loaded. */
  ours: { stamp: number; dropLog: string; podCidrs: string[]; antiSpoofing: boolean; ruleCounters: boolean };
  /** Policies selecting the client (egress) and the server (ingress) in the M ruleset. */
  clientEgressPolicies: number;
  serverIngressPolicies: number;
  /** A port no policy allows is dropped by our table (checked once, before measuring). */
  disallowedPortDropped: boolean;
  /** raw[variant][load] = one figure per round. */
  raw: Record<Variant, Record<Load, number[]>>;
  errors: string[];
  /** Same-round ratios to conntrack only (seconds apart, same conditions), over the rounds. */
  ratioToConntrack: Record<Ours, Record<Load, RatioStats>>;
  /** Same-round ratios of ours to ours-noguard (what the guard costs) and ours-counters to ours. */
  guardCost: Record<Load, RatioStats>;
  countersCost: Record<Load, RatioStats>;
  /** ours-counters: connections made in one crr run, and what the rule counters counted
   *  meanwhile (the server's ingress rules, the client's egress rules): each should equal
   *  the connections. Undefined when the check could not run. */
  ruleCounterCheck?: { connections: number; failed: number; ingress: number; egress: number };
  /** The pair whose pods are each selected by 60 policies (undefined in results of older runs). */
  pair60?: Wire60Result;
}

const NODE = `${WIRE_PREFIX}node`, PA = `${WIRE_PREFIX}pa`, PB = `${WIRE_PREFIX}pb`, PC = `${WIRE_PREFIX}pc`, PD = `${WIRE_PREFIX}pd`;
interface Pair { readonly client: string; readonly server: string; readonly serverIp: string; readonly crrPort: number; readonly iperfPort: number }
const P7: Pair = { client: PA, server: PB, serverIp: WIRE_PAIR.server.ip, crrPort: WIRE_PAIR.crrPort, iperfPort: WIRE_PAIR.iperfPort };
const P60: Pair = { client: PC, server: PD, serverIp: WIRE_PAIR60.server.ip, crrPort: WIRE_PAIR60.crrPort, iperfPort: WIRE_PAIR60.iperfPort };
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
  const node = Netns.create(NODE), pa = Netns.create(PA), pb = Netns.create(PB), pc = Netns.create(PC), pd = Netns.create(PD);
  for (const [pod, dev, ip] of [[pa, 'va', WIRE_PAIR.client.ip], [pb, 'vb', WIRE_PAIR.server.ip], [pc, 'vc', WIRE_PAIR60.client.ip], [pd, 'vd', WIRE_PAIR60.server.ip]] as const) {
    node.exec('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.name]);
    node.exec('ip', ['addr', 'add', `${GW}/32`, 'dev', dev]);
    node.exec('ip', ['link', 'set', dev, 'up']);
    node.exec('ip', ['route', 'add', `${ip}/32`, 'dev', dev]);
    pod.exec('ip', ['addr', 'add', `${ip}/32`, 'dev', 'eth0']);
    pod.exec('ip', ['link', 'set', 'eth0', 'up']);
    pod.exec('ip', ['route', 'add', GW, 'dev', 'eth0', 'scope', 'link']);
    pod.exec('ip', ['route', 'add', 'default', 'via', GW, 'dev', 'eth0']);
  }
  node.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', ...['va', 'vb', 'vc', 'vd'].map((d) => `net.ipv4.conf.${d}.rp_filter=0`)]);
  // Closed connections leave conntrack quickly, so tens of thousands of connections a second
  // do not fill the (machine-wide) conntrack table. Per-namespace settings.
  node.tryExec('sysctl', ['-qw', 'net.netfilter.nf_conntrack_tcp_timeout_close=1', 'net.netfilter.nf_conntrack_tcp_timeout_time_wait=1', 'net.netfilter.nf_conntrack_tcp_timeout_fin_wait=1', 'net.netfilter.nf_conntrack_tcp_timeout_close_wait=1', 'net.netfilter.nf_conntrack_udp_timeout=2']);
  for (const c of [pa, pc]) c.exec('sysctl', ['-qw', 'net.ipv4.ip_local_port_range=1024 65535']);
  return [node, pa, pb, pc, pd];
}

/** CPU pinning of the load generators: the client side (and the forward path of its packets,
 *  which runs in the sender's softirq) on one CPU, the servers (and the replies) on the other.
 *  Undefined on a machine with one CPU. Each also runs in a session of its own whose autogroup
 *  is at nice -20 (with sched_autogroup, nice alone only ranks a process within its session):
 *  on a shared machine the load generators then take most of their CPU whatever else runs,
 *  and so lose the same small share for every table, instead of whatever share the
 *  neighbours leave them at that second. */
let PIN: { client: number; server: number } | undefined;
const pinned = (side: 'client' | 'server', cmd: string, args: string[]): [string, string[]] =>
  ['setsid', ['sh', '-c', '[ -w /proc/$$/autogroup ] && echo -20 > /proc/$$/autogroup; exec "$@"', 'sh', 'nice', '-n', '-20', ...(PIN ? ['taskset', '-c', String(PIN[side])] : []), cmd, ...args]];

/** Starts a server in `ns` and resolves once something listens on `port` there (servers
 *  buffer their output when piped, so their banner is no signal). */
async function startServer(ns: string, cmd: string, args: string[], port: number, proto: 'tcp' | 'udp' = 'tcp'): Promise<ChildProcess> {
  const [c, a] = pinned('server', cmd, args);
  const p = spawn('ip', ['netns', 'exec', ns, c, ...a], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '', exited: number | null | undefined;
  p.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  p.on('exit', (code) => { exited = code; });
  for (let i = 0; i < 400; i++) {
    if (exited !== undefined) throw new Error(`${cmd} exited (${exited}) in ${ns}: ${err.trim()}`);
    const ss = trySh('ip', ['netns', 'exec', ns, 'ss', proto === 'tcp' ? '-Hltn' : '-Hlun', `sport = :${port}`]);
    if (ss.stdout?.trim()) return p;
    await new Promise((r) => setTimeout(r, i < 20 ? 5 : 50));
  }
  p.kill('SIGKILL');
  throw new Error(`${cmd} does not listen on ${port} in ${ns} after 10 s: ${err.trim()}`);
}

function run(ns: string, cmd: string, args: string[], timeoutMs: number): string {
  const [c, a] = pinned('client', cmd, args);
  const r = spawnSync('ip', ['netns', 'exec', ns, c, ...a], { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${ns}: ${(r.stderr || r.stdout || `status ${r.status}`).trim().split('\n').slice(-2).join(' | ')}`);
  return r.stdout;
}

async function measure(pair: Pair, load: Load, gen: string, seconds: number): Promise<number> {
  const { client: PA, server: PB, serverIp: server } = pair;
  const budget = (seconds + 15) * 1000;
  switch (load) {
    case 'crr': {
      const [ok, err, secs] = run(PA, gen, ['client', server, String(pair.crrPort), String(seconds), '4'], budget).trim().split(/\s+/).map(Number);
      if (!ok || err! > ok! * 0.01) throw new Error(`crr: ${ok} connections, ${err} failed`);
      return ok! / secs!;
    }
    case 'stream': {
      const j = JSON.parse(run(PA, 'iperf3', ['-c', server, '-p', String(pair.iperfPort), '-t', String(seconds), '-J'], budget));
      return j.end.sum_received.bits_per_second / 1e9;
    }
    case 'udp': {
      // Received packets per second at the server pod, one flow per sender, 64-byte payloads.
      const sink = await startServer(PB, gen, ['udp-sink', String(pair.iperfPort), String(seconds)], pair.iperfPort, 'udp');
      let out = '';
      sink.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
      const done = new Promise<void>((resolve) => sink.on('exit', () => resolve()));
      try {
        run(PA, gen, ['udp-flood', server, String(pair.iperfPort), String(seconds), '2'], budget);
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

/** A port no policy allows gets no answer from our table (a connect that times out), where
 *  without a table the server's kernel refuses it at once. */
function disallowedDropped(pair: Pair, gen: string): boolean {
  const probe = spawnSync('ip', ['netns', 'exec', pair.client, gen, 'client', pair.serverIp, '9999', '1', '1'], { encoding: 'utf8', timeout: 10_000 });
  const [ok, err] = probe.stdout.trim().split(/\s+/).map(Number);
  return ok === 0 && (err ?? 0) <= 3;
}

type NftList = { nftables: Record<string, any>[] };

/** The group chain a verdict map of `table` sends `ip` to, the distinct policies
 *  (namespace/name, from the rule comments) whose rules that chain holds, the policy of its
 *  last policy rule, and how many policy rules come before that policy's first rule. */
function groupChainOf(node: Netns, table: string, map: string, ip: string): { chain: string; policies: number; last: string; rulesBefore: number } {
  const listed = JSON.parse(node.exec('nft', ['-j', 'list', 'map', 'inet', table, map])) as NftList;
  const elems: unknown[] = listed.nftables.find((o) => o.map)?.map.elem ?? [];
  let chain: string | undefined;
  for (const e of elems) {
    // [key, verdict] or {elem: {val: [key, verdict]}} depending on the nft version.
    const pair = Array.isArray(e) ? e : (e as { elem?: { val?: unknown } }).elem?.val;
    if (!Array.isArray(pair) || pair[0] !== ip) continue;
    const v = pair[1] as { jump?: { target: string }; goto?: { target: string } };
    chain = v.jump?.target ?? v.goto?.target;
  }
  if (!chain) throw new Error(`${map} has no verdict for ${ip}: the pod is not isolated in the loaded table`);
  const rules = JSON.parse(node.exec('nft', ['-j', 'list', 'chain', 'inet', table, chain])) as NftList;
  // A policy rule's comment starts `namespace/name ingress[i]` (the drop tail's does not).
  const origins = rules.nftables.flatMap((o) => /^(\S+\/\S+) (?:ingress|egress)\[\d+\]/.exec(String(o.rule?.comment ?? ''))?.slice(1, 2) ?? []);
  const last = origins[origins.length - 1] ?? '';
  return { chain, policies: new Set(origins).size, last, rulesBefore: origins.indexOf(last) };
}

/** Same-round ratios a[i] / b[i]. */
const sameRound = (a: readonly number[], b: readonly number[]) => spread(a.map((x, i) => x / b[i]!));

/** Each variant's table name in the node namespace: ours is the agent's own. */
const TABLE: Record<Variant, string> = { conntrack: 'npn_bench_ct', ours: DEFAULT_TABLE, 'ours-counters': 'npn_bench_counters', 'ours-noguard': 'npn_bench_noguard' };
/** The node's pod CIDR in this topology (what its Node object's spec.podCIDRs would say). */
const POD_CIDRS = ['192.0.2.0/24'];
/** One generation per table, so no table's verdict cache accepts a stamp another wrote. */
const GENERATION: Record<Ours, number> = { ours: 11, 'ours-counters': 12, 'ours-noguard': 13 };

/** `extra`: more of the M cluster (the tiers part adds its ClusterNetworkPolicies; the
 *  60-policy pair is measured without them, by the wire part, which passes no `extra`). */
export async function measureWire(workDir: string, seconds: number, rounds: number, log: (s: string) => void, extra: Omit<GenerateOptions, 'wirePair' | 'wirePair60'> = {}): Promise<WireResult> {
  const gen = prepareTools(workDir);
  const loadStart = loadavg().map((x) => Number(x.toFixed(2)));
  PIN = cpus().length >= 2 ? { client: 0, server: 1 } : undefined;
  // The M cluster with the two wire pods rewritten to documentation addresses on the node,
  // and the 60-policy pair added (its own namespace, pods and policies; the rest unchanged).
  const with60 = !extra.clusterPolicies;
  const { cluster } = generateCluster(SIZES.M, { ...extra, wirePair: true, wirePair60: with60 });
  const files = Object.fromEntries(OURS.map((v) => [v, join(workDir, `wire-${v}.json`)])) as Record<Ours, string>;
  let clientEgressPolicies = 0, serverIngressPolicies = 0, p60Egress = 0, p60Ingress = 0;
  const stamps = {} as Record<Ours, number>;
  for (const v of OURS) {
    // The agent's path (controller/agent.ts): one engine, a full batch with its marker chain
    // and a stamp, the options of `netpol-nft run` with no flags (controller/config.ts
    // DEFAULTS: drop log 10/second, anti-spoofing on, rule counters off) and the node's pod CIDR.
    const engine = engineFor(cluster, {
      node: BENCH_NODE, table: TABLE[v], ctMarkMask: DEFAULT_CT_MARK_MASK, owner: 'npn-bench', dropLog: DEFAULT_DROP_LOG,
      policyRuleCounters: v === 'ours-counters', antiSpoofing: v !== 'ours-noguard', podCidrs: v === 'ours-noguard' ? [] : POD_CIDRS,
    });
    stamps[v] = engine.stamp(GENERATION[v]);
    writeFileSync(files[v], batchJson(engine.fullBatch(GENERATION[v], { serial: 1 })));
    const lp = (ns: string, n: string) => engine.localPods().find((p) => p.namespace === ns && p.name === n);
    clientEgressPolicies = lp(WIRE_PAIR.namespace, WIRE_PAIR.client.name)?.egress.policies.length ?? 0;
    serverIngressPolicies = lp(WIRE_PAIR.namespace, WIRE_PAIR.server.name)?.ingress.policies.length ?? 0;
    p60Egress = lp(WIRE_PAIR60.namespace, WIRE_PAIR60.client.name)?.egress.policies.length ?? 0;
    p60Ingress = lp(WIRE_PAIR60.namespace, WIRE_PAIR60.server.name)?.ingress.policies.length ?? 0;
  }
  // The 60-policy pair must really be selected by 60 policies, or its figure means nothing.
  if (with60 && (p60Egress < PAIR60_POLICY_COUNT || p60Ingress < PAIR60_POLICY_COUNT)) {
    throw new Error(`wire: the 60-policy pair is selected by ${p60Egress} egress / ${p60Ingress} ingress policies in the compiled M ruleset, expected >= ${PAIR60_POLICY_COUNT}`);
  }
  const procs: ChildProcess[] = [];
  const nss = topology();
  const node = nss[0]!;
  const errors: string[] = [];
  const empty = () => ({ crr: [], stream: [], udp: [] }) as Record<Load, number[]>;
  const raw = Object.fromEntries(VARIANTS.map((v) => [v, empty()])) as WireResult['raw'];
  const raw60 = Object.fromEntries(VARIANTS60.map((v) => [v, empty()])) as Wire60Result['raw'];
  // Every table loaded once, dormant; `setTable` wakes one and puts the others to sleep in one
  // transaction (text: nft 1.0.6's JSON input ignores table flags), then empties conntrack so
  // that each measurement starts from the same state whatever ran before it.
  node.exec('nft', ['-f', '-'], CT_ONLY.replace(CT_TABLE, TABLE.conntrack));
  for (const v of OURS) node.exec('nft', ['-j', '-f', files[v]]);
  const canFlush = spawnSync('sh', ['-c', 'command -v conntrack']).status === 0;
  const setTable = (v: Variant) => {
    node.exec('nft', ['-f', '-'], VARIANTS.map((w) => (w === v ? `add table inet ${TABLE[w]}\n` : `add table inet ${TABLE[w]} { flags dormant; }\n`)).join(''));
    if (canFlush) trySh('ip', ['netns', 'exec', NODE, 'conntrack', '-F']);
  };
  const dormant = (t: string) => /^\s*flags dormant/m.test(node.exec('nft', ['list', 'table', 'inet', t]).split('\n').slice(0, 3).join('\n'));
  let disallowedPortDropped = false;
  let ruleCounterCheck: WireResult['ruleCounterCheck'];
  let pair60: Omit<Wire60Result, 'raw' | 'ratioToConntrack'> | undefined;
  try {
    for (const pair of [P7, P60]) {
      procs.push(await startServer(pair.server, gen, ['server', String(pair.crrPort), '4'], pair.crrPort));
      procs.push(await startServer(pair.server, 'iperf3', ['-s', '-p', String(pair.iperfPort)], pair.iperfPort));
    }
    // Switching works: with conntrack only a port no policy allows is refused at once, with
    // ours it is dropped, and only the woken table is awake.
    setTable('conntrack');
    if (disallowedDropped(P7, gen)) throw new Error('wire: with the conntrack-only table awake, a port no policy allows is still dropped: a dormant table is deciding');
    setTable('ours');
    if (VARIANTS.some((w) => dormant(TABLE[w]) !== (w !== 'ours'))) throw new Error('wire: tables are not dormant as set');
    disallowedPortDropped = disallowedDropped(P7, gen);
    if (with60) {
      const p60Dropped = disallowedDropped(P60, gen);
      // The 60-policy pair's pods go to group chains holding the rules of their 60 policies,
      // less the rules whose match an earlier rule already has (graph/lower.ts leaves those
      // copies out: they can never match). The figures say how many rules remain.
      const cc = groupChainOf(node, TABLE.ours, 'eg4_orig', WIRE_PAIR60.client.ip), sc = groupChainOf(node, TABLE.ours, 'in4_orig', WIRE_PAIR60.server.ip);
      const chains = { client: cc.chain, server: sc.chain, clientPolicies: cc.policies, serverPolicies: sc.policies, clientRulesBefore: cc.rulesBefore, serverRulesBefore: sc.rulesBefore };
      // The worst first packet: the allowing policy's rules are the last of both chains.
      const allowId = `${WIRE_PAIR60.namespace}/${WIRE_PAIR60.allowPolicy}`;
      if (cc.last !== allowId || sc.last !== allowId) throw new Error(`wire: the last policy of the 60-policy pair's group chains is ${cc.last} / ${sc.last}, expected ${allowId}`);
      // Its measured connections are allowed by the last policy of the chain, and only by it:
      // one crr run on the table with rule counters, before measuring.
      setTable('ours-counters');
      node.exec('nft', ['reset', 'counters', 'table', 'inet', TABLE['ours-counters']]);
      const [ok60, failed60] = run(P60.client, gen, ['client', P60.serverIp, String(P60.crrPort), '1', '4'], 30_000).trim().split(/\s+/).map(Number);
      const counters = new Map((JSON.parse(node.exec('nft', ['-j', 'list', 'counters', 'table', 'inet', TABLE['ours-counters']])) as NftList).nftables
        .flatMap((o) => (o.counter ? [[o.counter.name as string, o.counter.packets as number] as const] : [])));
      const allow = { namespace: WIRE_PAIR60.namespace, name: WIRE_PAIR60.allowPolicy };
      const allowIn = ruleCounterName(allow, 'ingress', 0), allowEg = ruleCounterName(allow, 'egress', 0);
      const p60Prefix = [ruleCounterName({ namespace: WIRE_PAIR60.namespace, name: 'x' }, 'ingress', 0), ruleCounterName({ namespace: WIRE_PAIR60.namespace, name: 'x' }, 'egress', 0)].map((n) => n.replace(/x_0$/, ''));
      let othersMatched = 0;
      for (const [name, packets] of counters) if (name !== allowIn && name !== allowEg && p60Prefix.some((pre) => name.startsWith(pre))) othersMatched += packets;
      const rc60 = { connections: ok60!, failed: failed60!, allowIngress: counters.get(allowIn) ?? -1, allowEgress: counters.get(allowEg) ?? -1, othersMatched };
      if (!(rc60.connections > 0) || rc60.allowIngress !== rc60.connections || rc60.allowEgress !== rc60.connections || othersMatched !== 0) {
        throw new Error(`wire: the 60-policy pair's connections are not allowed by ${allow.namespace}/${allow.name} alone: ${JSON.stringify(rc60)}`);
      }
      pair60 = { clientEgressPolicies: p60Egress, serverIngressPolicies: p60Ingress, chains, disallowedPortDropped: p60Dropped, ruleCounterCheck: rc60 };
    }
    const plan: [Pair, readonly Variant[], Record<string, Record<Load, number[]>>][] = [[P7, VARIANTS, raw]];
    if (with60) plan.push([P60, VARIANTS60, raw60]);
    for (let round = 0; round < rounds; round++) {
      for (const [pair, variants, into] of plan) {
        for (const load of LOADS) {
          // Every table in turn for this pair and load, the order rotating with the round (no
          // table always first or last), so the figures of one round sit seconds apart.
          for (const v of variants.map((_, i) => variants[(i + round) % variants.length]!)) {
            setTable(v);
            try {
              into[v]![load].push(await measure(pair, load, gen, seconds));
            } catch (e) {
              errors.push(`${pair === P60 ? 'pair60 ' : ''}${v} ${load} round ${round + 1}: ${(e as Error).message}`);
              into[v]![load].push(NaN);
            }
          }
        }
      }
      if ((round + 1) % 5 === 0 || round + 1 === rounds) log(`wire: round ${round + 1}/${rounds} done`);
    }
    // The rule counters count connections: one crr run on a fresh load, then their sums.
    try {
      setTable('ours-counters');
      node.exec('nft', ['reset', 'counters', 'table', 'inet', TABLE['ours-counters']]);
      const [ok, failed] = run(PA, gen, ['client', WIRE_PAIR.server.ip, String(WIRE_PAIR.crrPort), '1', '4'], 30_000).trim().split(/\s+/).map(Number);
      const listed = JSON.parse(node.exec('nft', ['-j', 'list', 'counters', 'table', 'inet', TABLE['ours-counters']])) as { nftables: { counter?: { name: string; packets: number } }[] };
      const sum = (prefix: string) => listed.nftables.reduce((n, o) => n + (o.counter?.name.startsWith(prefix) ? o.counter.packets : 0), 0);
      ruleCounterCheck = { connections: ok!, failed: failed!, ingress: sum('rule_in_'), egress: sum('rule_eg_') };
    } catch (e) {
      errors.push(`rule counter check: ${(e as Error).message}`);
    }
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    for (const ns of nss) ns.delete();
  }
  const perLoad = (f: (l: Load) => RatioStats) => Object.fromEntries(LOADS.map((l) => [l, f(l)])) as Record<Load, RatioStats>;
  const ratioToConntrack = Object.fromEntries(OURS.map((v) => [v, perLoad((l) => sameRound(raw[v][l], raw.conntrack[l]))])) as WireResult['ratioToConntrack'];
  const ratio60 = Object.fromEntries((['ours'] as const).map((v) => [v, perLoad((l) => sameRound(raw60[v][l], raw60.conntrack[l]))])) as Wire60Result['ratioToConntrack'];
  return {
    seconds, rounds, ...(PIN ? { pinned: PIN } : {}), loadavg: { start: loadStart, end: loadavg().map((x) => Number(x.toFixed(2))) },
    ours: { stamp: stamps.ours, dropLog: `${DEFAULT_DROP_LOG.rate}/${DEFAULT_DROP_LOG.per}`, podCidrs: POD_CIDRS, antiSpoofing: true, ruleCounters: false },
    clientEgressPolicies, serverIngressPolicies, disallowedPortDropped, raw, errors, ratioToConntrack,
    guardCost: perLoad((l) => sameRound(raw.ours[l], raw['ours-noguard'][l])),
    countersCost: perLoad((l) => sameRound(raw['ours-counters'][l], raw.ours[l])),
    ruleCounterCheck,
    ...(pair60 ? { pair60: { ...pair60, raw: raw60, ratioToConntrack: ratio60 } } : {}),
  };
}
