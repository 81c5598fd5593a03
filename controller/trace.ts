// `netpol-nft trace`: follow real packets between two ends through our table and print each
// one in policy terms. Run on a node (in the agent's container or on the host), as root or
// with CAP_NET_ADMIN.
//
//  1. Resolves NS/POD through the same source the agent reads (--source DIR, or the
//     Kubernetes API through --kubeconfig / in-cluster config); an address needs no source.
//  2. Adds two base chains of its own to our table, `trace_<expiry>_<pid ns>_<pid>` on the
//     forward hook and the same with `_in` on the input hook (a pod talking to its own
//     node), at priority -1 (before our decision at 0), policy accept, holding only
//     `… meta nftrace set 1` rules for the address pair (both ways, port if given). They
//     carry no verdict: they never change one.
//  3. Follows `nft monitor trace` (a child process) and decodes the events of our table with
//     a PolicyEngine built from the same cluster state (chain -> group -> policies, pods).
//  4. Removes its chain when it ends: duration over, --count packets seen, Ctrl-C, SIGTERM.
//     Killed (SIGKILL), it leaves the chain: the agent's next drift check deletes it once the
//     expiry in its name has passed, or at once when the tracer's pid is gone from the
//     agent's own pid namespace (see reapTraceChains). The agent's full replace (after a
//     failure, every 10th drift check) removes the chain too: the tracer puts it back within
//     a second.
import { spawn, type ChildProcess } from 'node:child_process';
import { isIP } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { batchJson, DEFAULT_TABLE, engineFor, type Batch, type Cluster, type PodInfo } from '../compiler/index.js';
import type { Command } from '../compiler/nft.js';
import { match, meta, NFTRACE, payload, type Rule } from '../compiler/nft/build.js';
import { ruleJson } from '../compiler/nft/ir.js';
import { traceChain } from '../compiler/nft/names.js';
import { pidNamespace } from './trace-chains.js';
export { deadTraceChains, pidAlive, pidNamespace, reapTraceChains } from './trace-chains.js';
import { decodePacket, parseTraceLine, TraceCollector, tracedPacketText, type TracedPacket } from '../compiler/trace.js';
import { NftCli } from './nft.js';
import { CliUsageError, loadState } from './matrix-cli.js';

export const TRACE_USAGE = `  netpol-nft trace   --from NS/POD|IP --to NS/POD|IP [--port N[/PROTO]] [--duration 30s] [--output text|json]
                     [--count N] [--source DIR | --kubeconfig FILE] [--node NAME] [--table NAME] [--nft-path PATH]`;

/** The longest trace (the expiry in the chain's name bounds what a killed trace leaves). */
export const MAX_TRACE_MS = 10 * 60_000;
/** What a trace chain may outlive its duration by before the agent deletes it. */
const EXPIRY_GRACE_S = 5;

interface End {
  readonly text: string;
  readonly pod?: PodInfo;
  readonly ips: readonly string[];
}

function resolveEnd(spec: string, cluster: Cluster | undefined, flag: string): End {
  if (isIP(spec)) {
    const pod = cluster?.pods.find((p) => p.ips.includes(spec) && !p.hostNetwork);
    return { text: spec, ips: [spec], ...(pod ? { pod } : {}) };
  }
  const m = /^([^/]+)\/([^/]+)$/.exec(spec);
  if (!m) throw new CliUsageError(`${flag} ${spec}: NS/POD or an address`);
  if (!cluster) throw new CliUsageError(`${flag} ${spec}: a pod needs the cluster state (--source DIR or a kubeconfig)`);
  const pod = cluster.pods.find((p) => p.namespace === m[1] && p.name === m[2]);
  if (!pod) throw new CliUsageError(`${flag} ${spec}: no such pod`);
  if (!pod.ips.length) throw new CliUsageError(`${flag} ${spec}: the pod has no address`);
  return { text: spec, pod, ips: pod.ips };
}

const ipp = (a: string) => (isIP(a) === 4 ? 'ip' : 'ip6');

/** The trace chains (one per hook we decide in: forward, input) and their rules: `saddr A
 *  daddr B [proto, dport] nftrace` and the reverse (replies: `sport`), for every address
 *  pair of one family. The input chain sees only what a pod sends to its own node (the
 *  node's replies leave through output, which we do not filter). */
export function traceBatch(table: string, chains: TraceChains, from: readonly string[], to: readonly string[], port: { port: number; protocol: string } | undefined): Batch {
  const ref = { family: 'inet', table };
  const rules: Rule[] = [];
  for (const a of from) for (const b of to) {
    if (isIP(a) !== isIP(b)) continue;
    const p = ipp(a);
    const l4 = (field: 'dport' | 'sport') => (port ? [match(meta('l4proto'), port.protocol), match(payload('th', field), port.port)] : []);
    rules.push([match(payload(p, 'saddr'), a), match(payload(p, 'daddr'), b), ...l4('dport'), NFTRACE]);
    rules.push([match(payload(p, 'saddr'), b), match(payload(p, 'daddr'), a), ...l4('sport'), NFTRACE]);
  }
  return {
    nftables: [
      { add: { table: { family: 'inet', name: table } } },
      ...(['forward', 'input'] as const).flatMap((hook): Command[] => {
        const chain = chains[hook];
        return [
          { add: { chain: { ...ref, name: chain, type: 'filter', hook, prio: -1, policy: 'accept' } } },
          { flush: { chain: { ...ref, name: chain } } },
          ...rules.map((r) => ({ add: { rule: { ...ref, chain, expr: ruleJson(r), comment: 'netpol-nft trace' } } })),
        ];
      }),
    ],
  };
}

export interface TraceChains { readonly forward: string; readonly input: string }

export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s);
  if (!m) throw new CliUsageError(`--duration ${s}: a duration such as 30s, 2m, 500ms`);
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  if (ms <= 0 || ms > MAX_TRACE_MS) throw new CliUsageError(`--duration ${s}: more than 0, at most ${MAX_TRACE_MS / 60_000}m`);
  return ms;
}

export async function traceCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      from: { type: 'string' }, to: { type: 'string' }, port: { type: 'string' }, duration: { type: 'string', default: '30s' },
      output: { type: 'string', default: 'text' }, count: { type: 'string' }, source: { type: 'string' }, cluster: { type: 'string' },
      kubeconfig: { type: 'string' }, node: { type: 'string' }, table: { type: 'string', default: DEFAULT_TABLE },
      'nft-path': { type: 'string', default: process.env.NFT_PATH ?? 'nft' },
    },
  });
  if (!values.from || !values.to) throw new CliUsageError('trace needs --from and --to');
  if (values.output !== 'text' && values.output !== 'json') throw new CliUsageError(`--output ${values.output}: text or json`);
  const ms = parseDuration(values.duration!);
  const count = values.count === undefined ? Infinity : Number(values.count);
  if (!(count >= 1)) throw new CliUsageError(`--count ${values.count}: a positive number`);
  let port: { port: number; protocol: string } | undefined;
  if (values.port) {
    const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(values.port);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new CliUsageError(`--port ${values.port}: N or N/PROTO (tcp, udp, sctp)`);
    port = { port: Number(m[1]), protocol: (m[2] ?? 'tcp').toLowerCase() };
  }
  const needsCluster = !isIP(values.from) || !isIP(values.to) || values.source || values.cluster || values.kubeconfig;
  const cluster = needsCluster ? (await loadState({ cluster: values.source ?? values.cluster, kubeconfig: values.kubeconfig })).cluster : undefined;
  const from = resolveEnd(values.from, cluster, '--from'), to = resolveEnd(values.to, cluster, '--to');
  if (!from.ips.some((a) => to.ips.some((b) => isIP(a) === isIP(b)))) throw new CliUsageError(`${values.from} and ${values.to} share no address family`);
  // The node whose table we read: --node, NODE_NAME, or the node of an end that is a pod.
  const node = values.node ?? process.env.NODE_NAME ?? from.pod?.nodeName ?? to.pod?.nodeName;
  const engine = cluster && node ? engineFor(cluster, { node, table: values.table }) : undefined;
  const names = new Map<string, string>();
  for (const p of cluster?.pods ?? []) if (!p.hostNetwork) for (const a of p.ips) names.set(a, `${p.namespace}/${p.name}`);
  const who = (a: string | undefined) => (a ? names.get(a) ?? a : '?');

  const nft = new NftCli([values['nft-path']!]);
  const table = values.table!;
  const expires = Math.ceil((Date.now() + ms) / 1000) + EXPIRY_GRACE_S;
  const chains: TraceChains = { forward: traceChain(expires, pidNamespace(), process.pid), input: traceChain(expires, pidNamespace(), process.pid, 'input') };
  const chain = chains.forward;
  const install = () => nft.apply(batchJson(traceBatch(table, chains, from.ips, to.ips, port)));
  // Each chain alone: one the agent already removed must not keep the other.
  const remove = () => Promise.all([chains.forward, chains.input].map((name) =>
    nft.apply(batchJson({ nftables: [{ delete: { chain: { family: 'inet', table, name } } }] })).catch(() => undefined)));

  let monitor: ChildProcess | undefined;
  let seen = 0;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((r) => { finish = r; });
  const print = (p: TracedPacket) => {
    seen++;
    if (values.output === 'json') {
      process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...p, source: { address: p.headers.saddr, pod: names.get(p.headers.saddr ?? '') }, destination: { address: p.headers.daddr, pod: names.get(p.headers.daddr ?? '') } }) + '\n');
    } else process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${tracedPacketText(p, who).join('\n')}\n`);
    if (seen >= count) finish(0);
  };
  // The kernel's trace events reach every listener of the node: keep our pair's packets (a
  // second trace, or the drop log, marks others).
  const ours = (a: string | undefined, b: string | undefined) => !!a && !!b && ((from.ips.includes(a) && to.ips.includes(b)) || (from.ips.includes(b) && to.ips.includes(a)));
  const collector = new TraceCollector(table, (events) => {
    if (!events.some((e) => e.table === table)) return;
    const p = decodePacket(events, table, engine);
    if (!ours(p.headers.saddr, p.headers.daddr)) return;
    if (port && p.headers.dport !== port.port && p.headers.sport !== port.port) return;
    print(p);
  });
  const onSignal = () => finish(0); // Ctrl-C is how a trace usually ends
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const timer = setTimeout(() => finish(0), ms);
  let watch: NodeJS.Timeout | undefined;
  try {
    // The monitor first, so that no packet after the rule goes unseen.
    monitor = spawn(values['nft-path']!, ['monitor', 'trace'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    monitor.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    monitor.on('error', (e) => { process.stderr.write(`netpol-nft trace: cannot run ${values['nft-path']}: ${e.message}\n`); finish(1); });
    monitor.on('exit', (code) => { if (code !== null && code !== 0) { process.stderr.write(`netpol-nft trace: nft monitor trace exited ${code}: ${err.trim()}\n`); finish(1); } });
    createInterface({ input: monitor.stdout! }).on('line', (line) => {
      const e = parseTraceLine(line);
      if (e) collector.push(e);
    });
    await install();
    process.stderr.write(`netpol-nft trace: tracing ${from.text} <-> ${to.text}${port ? ` port ${port.port}/${port.protocol}` : ''} through table inet ${table}${engine ? ` (node ${node})` : ''} for ${values.duration} (chain ${chain}); Ctrl-C to stop\n`);
    // A full replace by the agent removes the chain: put it back.
    watch = setInterval(() => {
      void nft.list('inet', table, 'chains').then((j) => (j !== undefined && j.includes(`"${chains.forward}"`) && j.includes(`"${chains.input}"`) ? undefined : install())).catch(() => undefined);
    }, 1000);
    const code = await finished;
    collector.flush();
    return code;
  } finally {
    clearTimeout(timer);
    if (watch) clearInterval(watch);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await remove();
    monitor?.kill();
  }
}
