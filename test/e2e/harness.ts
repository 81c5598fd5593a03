// What every e2e test file shares: one topology for the whole run (built in the first
// `before` that asks for it, destroyed by a root `after` hook and on any exit), and the
// step of a case: write the cluster, compile per node with the real CLI, load each node's
// batch with `nft -j -f` on top of the previous case's table, probe, compare, and fail
// with a truth table.
import { AssertionError } from 'chai';
import { batchJson, clusterFromObjects, compile, formatProblem, fullBatch, PolicyEngine, type CompileResult, type EngineOptions } from '../../compiler/index.js';
import { requireKernel } from '../helpers/kernel.js';
import { compare, kinds, truthTable, type Expect } from './truth.js';
import { cellKey, Topology, type ClusterState, type NodeName, type ProbeKind } from './topology.js';

export const NODES: readonly NodeName[] = ['n1', 'n2'];
let shared: Promise<Topology> | undefined;

/** Root hook: whichever test files ran, the topology goes at the end of the run. */
after(async function () {
  this.timeout(30_000);
  if (shared) (await shared.catch(() => undefined))?.destroy();
  shared = undefined;
});

/** Call inside a `describe`: returns a getter for the shared topology. */
export function useTopology(): () => Topology {
  let topo: Topology | undefined;
  before(async function () {
    requireKernel(this);
    this.timeout(120_000);
    shared ??= Topology.create();
    topo = await shared;
  });
  return () => {
    if (!topo) throw new Error('topology not built (before hook did not run)');
    return topo;
  };
}

export { netpol } from './objects.js';

export interface Applied { readonly stderr: Record<NodeName, string>; readonly batch: Record<NodeName, string> }

/** NPN_E2E_COMPILE=in-process skips the CLI's process start (the same compile() and
 *  fullBatch() the CLI calls) to iterate faster on a loaded machine; the default is the CLI. */
const IN_PROCESS = process.env.NPN_E2E_COMPILE === 'in-process';

/** Each load carries a new generation (as the agent's transactions do), so that connections
 *  decided under the previous ruleset are decided again at their next packet. */
let generation = 1;

/** Compiles the state for both nodes with the CLI and loads each batch in its node. */
export async function applyState(topo: Topology, state: ClusterState, given: readonly string[] = []): Promise<Applied> {
  const file = topo.writeCluster(state);
  const flags = [...given, '--generation', String(++generation)];
  const out = IN_PROCESS
    ? NODES.map((n) => compileInProcess(topo, state, n, flags))
    : await Promise.all(NODES.map((n) => topo.compileNode(file, n, flags)));
  await Promise.all(NODES.map((n, i) => topo.applyNode(n, out[i]!.batch)));
  return {
    stderr: { n1: out[0]!.stderr, n2: out[1]!.stderr },
    batch: { n1: out[0]!.batch, n2: out[1]!.batch },
  };
}

/** Probes the matrix and fails with a truth table on any disagreement. A cell expected to
 *  pass that did not is probed once more with a long timeout first (a loaded machine may be
 *  slow to answer); a cell that passed against expectation is final. */
export async function expectMatrix(topo: Topology, expect: Expect, ks: readonly ProbeKind[] = kinds(), title = ''): Promise<void> {
  const observed = await topo.probeMatrix(ks);
  const slow = compare(expect, observed, ks).filter((m) => m.expected);
  if (slow.length) {
    const again = await topo.probeCells(slow, 4000);
    slow.forEach((m, i) => { if (again[i]) observed.set(cellKey(m.from, m.to, m.kind), true); });
  }
  const bad = compare(expect, observed, ks);
  if (bad.length) {
    throw new AssertionError(`${title ? title + ': ' : ''}${bad.length} verdict(s) differ from the expected truth table\n${truthTable(expect, observed, ks)}\n`);
  }
}

export interface Step {
  readonly state: ClusterState;
  readonly expect: Expect;
  readonly kinds?: readonly ProbeKind[];
  readonly flags?: readonly string[];
  readonly title?: string;
}

/** One step of a case: apply, probe, compare. Returns what the CLI printed. */
export async function runStep(topo: Topology, step: Step): Promise<Applied> {
  const applied = await applyState(topo, step.state, step.flags);
  await expectMatrix(topo, step.expect, step.kinds ?? kinds(), step.title);
  return applied;
}

function compileInProcess(topo: Topology, state: ClusterState, node: NodeName, flags: readonly string[]): { batch: string; stderr: string } {
  const { cluster, problems } = clusterFromObjects(topo.clusterObjects(state));
  const g = flags.indexOf('--generation');
  const r = compile(cluster, { node, establishedFastPath: flags.includes('--established-fast-path'), generation: g >= 0 ? Number(flags[g + 1]) : undefined });
  const stderr = [...problems, ...r.problems].map((p) => `netpol-nft: ${formatProblem(p)}\n`).join('');
  return { batch: batchJson(fullBatch(r.ruleset)), stderr };
}

/** In-process compile of a state for one node (for cases that apply hundreds of updates). */
export function compileState(topo: Topology, state: ClusterState, node: NodeName, opts: { establishedFastPath?: boolean; policyRuleCounters?: boolean } = {}): CompileResult {
  const { cluster } = clusterFromObjects(topo.clusterObjects(state));
  return compile(cluster, { node, ...opts });
}

/** Applies states in process, as the agent does: one policy engine per node, the objects
 *  that changed applied to it as events (compared key by key), and its delta transaction
 *  (with a new generation) handed to nft. Each step checks the engine's wanted ruleset
 *  against a fresh compile of the same state, so a stale engine fails the case instead of
 *  loading wrong rules. */
export class InProcessApplier {
  private readonly engines = new Map<NodeName, PolicyEngine>();
  private generation = 1;
  /** The batches of the last apply(), by node (undefined: nothing changed there). */
  last: Partial<Record<NodeName, string>> = {};
  /** `opts`: engine options beyond the node (e.g. policyRuleCounters), as the agent's flags. */
  constructor(private readonly topo: Topology, private readonly opts: Omit<EngineOptions, 'node'> = {}) {}

  async apply(state: ClusterState): Promise<void> {
    const { cluster } = clusterFromObjects(this.topo.clusterObjects(state));
    const gen = ++this.generation;
    await Promise.all(NODES.map(async (n) => {
      let engine = this.engines.get(n);
      const first = !engine;
      if (!engine) this.engines.set(n, (engine = new PolicyEngine({ ...this.opts, node: n })));
      for (const ev of [...engine.reconcileEvents(cluster)]) engine.apply(ev);
      const fresh = compile(cluster, { ...this.opts, node: n, generation: gen }).ruleset;
      if (batchJson(fullBatch(engine.ruleset(gen))) !== batchJson(fullBatch(fresh))) throw new Error(`node ${n}: the engine's ruleset differs from a fresh compile`);
      const batch = first ? engine.fullBatch(gen) : engine.deltaBatch(gen);
      this.last[n] = batch ? batchJson(batch) : undefined;
      if (batch) await this.topo.applyNode(n, this.last[n]!);
      engine.commit();
    }));
  }
}
