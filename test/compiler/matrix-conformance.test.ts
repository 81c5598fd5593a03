// The matrix of the conformance model equals the truth tables of our e2e cases: the same
// cases (test/e2e/cases/, the examples' expectations), their expected verdicts written by
// hand, read as data. No second evaluator: `matrix` reads the IR, the tables are the truth the
// kernel is held to.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { clusterFromObjects, formatProblem } from '../../compiler/index.js';
import { buildMatrix, type Matrix } from '../../compiler/matrix.js';
import { IPBLOCK_CASES } from '../e2e/cases/ipblock.js';
import { ISOLATION_CASES } from '../e2e/cases/isolation.js';
import { PEERS_CASES } from '../e2e/cases/peers.js';
import { PORTS_CASES } from '../e2e/cases/ports.js';
import { RULES_CASES } from '../e2e/cases/rules.js';
import { CLUSTER_EXAMPLE_EXPECTED, EXAMPLE_EXPECTED, EXAMPLE_STATE } from '../e2e/example-state.js';
import type { Case } from '../e2e/objects.js';
import { cellKey, modelObjects, POD_IDS, REPO_ROOT, type Observed, type ProbeKind } from '../e2e/topology.js';
import { compare, kinds, truthTable } from '../e2e/truth.js';

const ALL_KINDS = kinds([80, 81], ['tcp', 'udp'], [4, 6]);

function exampleCases(): Case[] {
  const cases = (expected: Record<string, () => Case['expect']>, dir: string) => Object.entries(expected).map(([file, want]) => {
    const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, 'policies-examples', dir, file), 'utf8')).map((d) => d.toJS() as unknown).filter(Boolean);
    return { title: `policies-examples/${dir ? `${dir}/` : ''}${file}`, state: { ...EXAMPLE_STATE, policies: docs as Record<string, unknown>[] }, expect: want(), kinds: ALL_KINDS };
  });
  // The NetworkPolicy examples and the ClusterNetworkPolicy ones (the matrix walks the tiers).
  return [...cases(EXAMPLE_EXPECTED, ''), ...cases(CLUSTER_EXAMPLE_EXPECTED, 'cluster')];
}

/** What the matrix says for every cell of the case's probe kinds (`--by pod --family F
 *  --port N/PROTO...`, as a user would ask). */
export function observedByMatrix(c: Case, by: 'pod' | 'workload' = 'pod'): Observed {
  const { cluster, problems } = clusterFromObjects(modelObjects(c.state));
  if (problems.length) throw new Error(problems.map(formatProblem).join('; '));
  const ks: readonly ProbeKind[] = c.kinds ?? kinds();
  const observed: Observed = new Map();
  for (const family of [4, 6] as const) {
    const fk = ks.filter((k) => k.family === family);
    if (!fk.length) continue;
    const m = buildMatrix(cluster, { by, family, ports: fk.map((k) => ({ port: k.port, protocol: k.proto === 'tcp' ? 'TCP' : 'UDP' })) });
    const at = podIndex(m);
    fk.forEach((k, ci) => {
      for (const from of POD_IDS) for (const to of POD_IDS) {
        // A workload's own cell is about two distinct pods of it; a pod and itself is 'self'.
        const v = from === to ? 'self' : m.verdict(at(from), at(to), ci);
        if (v === 'self') { observed.set(cellKey(from, to, k), true); continue; }
        if (typeof v !== 'boolean') throw new Error(`${c.title}: ${from} -> ${to} ${k.proto}/${k.port}: verdict ${v}`);
        observed.set(cellKey(from, to, k), v);
      }
    });
  }
  return observed;
}

/** Entity of each model pod (a workload holds several). */
function podIndex(m: Matrix): (id: string) => number {
  const of = new Map<string, number>();
  m.entities.forEach((e, i) => e.pods.forEach((p) => of.set(`${p.namespace}/${p.name}`, i)));
  return (id) => {
    const i = of.get(id);
    if (i === undefined) throw new Error(`pod ${id} is in no row of the matrix`);
    return i;
  };
}

const CASES: readonly Case[] = [...ISOLATION_CASES, ...PEERS_CASES, ...PORTS_CASES, ...RULES_CASES, ...IPBLOCK_CASES, ...exampleCases()];

describe('matrix: the conformance model against the e2e truth tables', () => {
  it('reads every case the wire suite probes from data (none silently lost)', () => {
    expect(CASES.length).to.be.at.least(59);
  });
  for (const by of ['pod', 'workload'] as const) {
    describe(`--by ${by}`, () => {
      for (const c of CASES) {
        it(c.title, () => {
          const ks = c.kinds ?? kinds();
          const observed = observedByMatrix(c, by);
          const bad = compare(c.expect, observed, ks);
          if (bad.length) expect.fail(`${bad.length} cell(s) of the matrix differ from the case's truth table (here "observed" is the matrix)\n${truthTable(c.expect, observed, ks)}`);
          expect(observed.size).to.equal(ks.length * POD_IDS.length ** 2);
        });
      }
    });
  }
});
