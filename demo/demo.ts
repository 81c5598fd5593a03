// `npm run demo` (as root): the first thing to run. Builds a small cluster out of network
// namespaces (two nodes, pods x/a … z/c, routed like Calico; the e2e suite's topology), writes
// its Namespaces and Pods (with their real IPs) into a folder, starts one real agent per node
// (`netpol-nft run --source DIR`, nft run inside the node's namespace), prints the connectivity
// matrix, then applies each example of policies-examples/ in turn and prints the matrix the
// kernel enforces after each, with the agents' drop counters. Everything it creates is removed
// on every exit path, Ctrl-C included.
//
//   sudo npm run demo [-- --examples DIR] [--established-fast-path]
// With --established-fast-path the agents accept established connections up front: the
// flows opened before any policy then keep passing after a policy denies them.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { kernelUnavailable, removeNamespaces } from '../test/helpers/kernel.js';
import { cellKey, POD_IDS, Topology, type NodeName, type ProbeKind } from '../test/e2e/topology.js';
import { AgentProcess, freePort, total, type Sample } from './agent-process.js';
import { eventCount, EXAMPLE_STATE, readExamples } from './examples.js';
import { bold, dim, legend, matrixText, reachedCount } from './matrix.js';

const PREFIX = 'npn-demo-';
const REPO = fileURLToPath(new URL('..', import.meta.url));
const NODES: readonly NodeName[] = ['n1', 'n2'];
const KINDS: readonly ProbeKind[] = [
  { proto: 'tcp', port: 80, family: 4 },
  { proto: 'tcp', port: 81, family: 4 },
  { proto: 'udp', port: 80, family: 4 },
  { proto: 'udp', port: 81, family: 4 },
];
/** Probed on every step too: policies apply to the pods' IPv6 addresses as well. */
const KIND6: ProbeKind = { proto: 'tcp', port: 80, family: 6 };
const PROBE_TIMEOUT_MS = 600;
const RETRY_TIMEOUT_MS = 1500;
const APPLY_TIMEOUT_MS = 15_000;

const say = (s = '') => process.stdout.write(s + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const EVENTS = 'netpol_nft_kubernetes_events_total';
const PROGRAMMED = 'netpol_nft_network_programming_duration_seconds_count';

/** Waits until every agent's file source has seen `events` more policy events than in
 *  `before`, and has programmed every event it saw into the kernel. */
async function waitApplied(agents: readonly AgentProcess[], before: readonly Sample[][], events: number): Promise<boolean> {
  const deadline = Date.now() + APPLY_TIMEOUT_MS;
  for (;;) {
    const now = await Promise.all(agents.map((a) => a.metrics()));
    const done = now.every((m, i) => {
      const seen = total(m, EVENTS, { kind: 'networkpolicy' });
      return seen - total(before[i]!, EVENTS, { kind: 'networkpolicy' }) >= events && total(m, PROGRAMMED, { kind: 'networkpolicy' }) >= seen;
    });
    if (done) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

function dropsLine(samples: readonly Sample[][]): string {
  const drops = samples
    .flat()
    .filter((s) => s.name === 'netpol_nft_dropped_packets_total' && s.value > 0)
    .sort((a, b) => b.value - a.value)
    .map((s) => `${s.labels.namespace}/${s.labels.pod} ${s.labels.direction} ${s.value}`);
  return drops.length ? drops.join(', ') : 'none';
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { examples: { type: 'string', default: join(REPO, 'policies-examples') }, 'established-fast-path': { type: 'boolean', default: false } },
    }));
  } catch (e) {
    process.stderr.write(`netpol-nft demo: ${(e as Error).message}\nusage: npm run demo [-- --examples DIR] [--established-fast-path]\n`);
    return 2;
  }
  const fastPath = values['established-fast-path'];
  const why = kernelUnavailable();
  if (why) {
    process.stderr.write(`netpol-nft demo: cannot run here: ${why}.\nThe demo builds a cluster out of network namespaces and loads nftables rules: run it as root with nft and ip installed, e.g. \`sudo npm run demo\`.\n`);
    return 1;
  }
  const examplesDir = values.examples!;
  const examples = readExamples(examplesDir);
  const started = Date.now();

  const work = mkdtempSync(join(tmpdir(), PREFIX));
  const source = join(work, 'cluster');
  mkdirSync(source);
  const agents: AgentProcess[] = [];
  let topo: Topology | undefined;
  // Exit handlers cannot wait: kill agents at once and remove our namespaces and files.
  const cleanupNow = () => {
    for (const a of agents) a.killNow();
    topo?.destroy();
    removeNamespaces(PREFIX);
    rmSync(work, { recursive: true, force: true });
  };
  process.on('exit', cleanupNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\nnetpol-nft demo: ${sig}, cleaning up\n`);
      cleanupNow();
      process.exit(130);
    });
  }

  let failed = true;
  try {
    say(bold('netpol-nft demo') + dim(`  (network namespaces ${PREFIX}*, work folder ${work})`));
    say('Building the cluster: nodes n1 and n2, pods x/a … z/c (IPv4 and IPv6) serving TCP and UDP on ports 80 and 81 …');
    topo = await Topology.create({ prefix: PREFIX });
    const t = topo;
    t.writeCluster(EXAMPLE_STATE, join(source, '00-cluster.json'));
    say(`  ${POD_IDS.map((id) => `${id}=${t.pod(id).ipv4}@${t.pod(id).node}`).join('  ')}`);

    say(`Starting one agent per node: netpol-nft run --source ${basename(source)}/ --node nX --nft-path <nft in nX's namespace>${fastPath ? ' --established-fast-path' : ''} …`);
    for (const node of NODES) {
      agents.push(AgentProcess.start({ node, netns: t.node(node).netns, sourceDir: source, workDir: work, repoRoot: REPO, port: await freePort(), establishedFastPath: fastPath }));
    }
    await Promise.all(agents.map((a) => a.waitReady(60_000)));
    say(`  ready: ${agents.map((a) => `${a.o.node} metrics on 127.0.0.1:${a.o.port}`).join(', ')}`);

    const show = async (title: string, description: readonly string[]) => {
      const all = [...KINDS, KIND6];
      const observed = await t.probeMatrix(all, { timeoutMs: PROBE_TIMEOUT_MS });
      // A loaded machine can be slow to answer: a blocked cell is probed once more with a
      // longer timeout (a cell that passed is final: a policy cannot be slow to allow).
      const blocked = POD_IDS.flatMap((from) => POD_IDS.flatMap((to) => all.filter((kind) => !observed.get(cellKey(from, to, kind))).map((kind) => ({ from, to, kind }))));
      const again = await t.probeCells(blocked, RETRY_TIMEOUT_MS);
      blocked.forEach((c, i) => { if (again[i]) observed.set(cellKey(c.from, c.to, c.kind), true); });
      const v4 = new Map([...observed].filter(([k]) => !k.endsWith('IPv6')));
      const { reached, probed } = reachedCount(v4);
      say('');
      say(bold(`── ${title} `) + dim(`(${reached}/${probed} probes reached)`));
      for (const d of description) say(dim(`   ${d}`));
      say(matrixText(t, observed, KINDS));
      const reached6 = POD_IDS.flatMap((from) => POD_IDS.map((to) => observed.get(cellKey(from, to, KIND6)))).filter(Boolean).length;
      const reached4 = POD_IDS.flatMap((from) => POD_IDS.map((to) => observed.get(cellKey(from, to, KINDS[0]!)))).filter(Boolean).length;
      const samples = await Promise.all(agents.map((a) => a.metrics()));
      say(dim(`   tcp/80 pairs reached: IPv4 ${reached4}/${POD_IDS.length ** 2}, IPv6 ${reached6}/${POD_IDS.length ** 2}; ${await flowLine()}`));
      say(dim(`   drop counters of the agents (packets, since the pod became isolated): ${dropsLine(samples)}`));
    };

    // Flows opened before any policy: each step sends one message on each flow still alive.
    // A policy that denies them stops the very next packet (every packet is decided; no
    // conntrack flush needed); a cut flow is not used again (TCP would be retransmitting).
    const flowFrom = 'y/b' as const, flowTo = 'x/b' as const;
    const flows = new Map<string, boolean>();
    for (const proto of ['tcp', 'udp'] as const) {
      const ok = await t.prober(flowFrom).open(`demo-${proto}`, t.pod(flowTo).ipv4, 80, proto);
      flows.set(proto, ok && (await t.prober(flowFrom).send(`demo-${proto}`)));
    }
    const flowLine = async (): Promise<string> => {
      const parts: string[] = [];
      for (const proto of ['tcp', 'udp'] as const) {
        if (flows.get(proto)) flows.set(proto, await t.prober(flowFrom).send(`demo-${proto}`, 1500));
        parts.push(`${proto.toUpperCase()} ${flows.get(proto) ? 'passes' : 'cut'}`);
      }
      return `flows ${flowFrom} → ${flowTo}:80 opened before any policy: ${parts.join(', ')}`;
    };
    say(legend(KINDS));
    say(dim('a pod reaching itself never leaves its own namespace, so the diagonal is never filtered'));
    await show('no NetworkPolicy: everything is reachable', []);

    if (!examples.length) say(`\n(no examples found in ${examplesDir})`);
    let current = new Map<string, string>();
    let currentFile: string | undefined;
    for (const ex of examples) {
      const before = await Promise.all(agents.map((a) => a.metrics()));
      // One example at a time: the matrix shows that example's effect alone.
      if (currentFile) rmSync(join(source, currentFile), { force: true });
      currentFile = `10-${ex.file}`;
      writeFileSync(join(source, currentFile), ex.text);
      const events = eventCount(current, ex.objects);
      current = ex.objects;
      const applied = await waitApplied(agents, before, events);
      if (!applied) say(dim(`   (the agents did not report ${ex.file} programmed within ${APPLY_TIMEOUT_MS / 1000}s; probing anyway)`));
      await show(`policies-examples/${ex.file}`, ex.description);
    }

    say('');
    say(bold('── what the agents report (GET /metrics, excerpt)'));
    for (const a of agents) {
      const m = await a.metrics();
      const pick = m.filter(
        (s) =>
          (s.name === 'netpol_nft_dropped_packets_total' && s.value > 0) ||
          s.name === 'netpol_nft_local_pods' ||
          s.name === 'netpol_nft_sync_duration_seconds_count' ||
          s.name === 'netpol_nft_sync_failures_total' ||
          s.name === 'netpol_nft_network_policies',
      );
      say(dim(`   # node ${a.o.node}`));
      for (const s of pick) {
        const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${v}"`).join(',');
        say(`   ${s.name}${labels ? `{${labels}}` : ''} ${s.value}`);
      }
      const p = total(m, 'netpol_nft_network_programming_duration_seconds_sum') / Math.max(1, total(m, PROGRAMMED));
      say(dim(`   mean change-to-kernel time on ${a.o.node}: ${(p * 1000).toFixed(0)} ms`));
    }
    say('');
    failed = false;
    say(dim(`done in ${((Date.now() - started) / 1000).toFixed(0)}s; ask why a connection is allowed: npm run -s netpol-nft -- explain --cluster test/fixtures/small.yaml --from x/b --to x/a --port 80`));
    return 0;
  } finally {
    // The agents leave their tables in force on SIGTERM (as in a cluster); the namespaces
    // that hold the tables go right after.
    const codes = await Promise.all(agents.map((a) => a.stop()));
    if (failed || codes.some((c) => c !== 0)) {
      // The work folder goes below: show the end of each agent's log while it exists.
      for (const a of agents) {
        const tail = readFileSync(a.logFile, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
        process.stderr.write(`netpol-nft demo: agent ${a.o.node} exited with ${codes[agents.indexOf(a)]}; last lines of its log:\n${tail}\n`);
      }
    }
    cleanupNow();
    process.off('exit', cleanupNow);
    say(dim(`cleaned up: agents stopped, namespaces ${PREFIX}* and ${work} removed`));
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`netpol-nft demo: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  },
);
