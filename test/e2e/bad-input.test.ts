// Bad files and bad objects never open a node, checked with packets: the real agent (in
// process, `run --source DIR`, nft in node n1's namespace) enforces a folder holding a Pod and
// a Namespace the API server would refuse, which then turns hostile step by step — an alias
// bomb in place of the policies, the policy file rewritten in place (truncated at a document
// boundary, then emptied) — and the traffic its policies deny stays denied throughout. Then an agent started
// on an empty folder leaves the table in force until manifests appear.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { batchJson, deleteTableBatch } from '../../compiler/index.js';
import { parseConfig } from '../../controller/config.js';
import type { FileSource } from '../../controller/file-source.js';
import { startAgent, type AgentHandle } from '../../controller/run.js';
import { metricValue, nftWrapper } from '../agent/harness.js';
import { netpol, useTopology } from './harness.js';
import type { PodId, ProbeKind, Topology } from './topology.js';

const TCP80: ProbeKind = { proto: 'tcp', port: 80, family: 4 };
const RED = { matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['red'] }] };
const POLICIES = [
  netpol('x/deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }),
  netpol('z/not-from-red', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: RED }] }] }),
];
const yaml = (objs: readonly unknown[]) => objs.map((o) => JSON.stringify(o)).join('\n---\n') + '\n';
const ALIAS_BOMB = 'a: &a [x, x, x, x, x, x, x, x, x]\n' + 'bcdefgh'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill('*' + 'abcdefgh'[i]).join(', ')}]`).join('\n') + '\nkind: NetworkPolicy\n';

describe('e2e: bad files and bad objects never open a node (real agent, folder source)', function () {
  this.timeout(180_000);
  const topo = useTopology();
  let work: string;
  let h: AgentHandle | undefined;

  // x/a, z/a on n1 (the agent's node); y/a (namespace team=red) and x/b (not red) on n2.
  const probe = async (t: Topology) => {
    const pairs: [PodId, PodId][] = [['y/a', 'x/a'], ['y/a', 'z/a'], ['x/b', 'z/a']];
    const r = await t.probeCells(pairs.map(([from, to]) => ({ from, to, kind: TCP80 })), 1000);
    return Object.fromEntries(pairs.map(([f, to], i) => [`${f}->${to}`, r[i]]));
  };
  const CLOSED = { 'y/a->x/a': false, 'y/a->z/a': false, 'x/b->z/a': true };

  /** The topology's namespaces and pods (y labelled team=red), with edits to the raw objects. */
  const clusterFile = (t: Topology, edit: (o: Record<string, any>) => void = () => {}) => {
    // A copy: the topology hands out objects other suites read after this one.
    const items = structuredClone(t.clusterObjects({ nsLabels: { y: { team: 'red' } } })) as Record<string, any>[];
    items.forEach(edit);
    return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
  };

  async function start(dir: string, nft: string): Promise<AgentHandle> {
    const c = parseConfig(['--node', 'n1', '--source', dir, '--nft-path', nft, '--conntrack-path', join(dirname(nft), 'conntrack.sh'), '--metrics-address', '127.0.0.1:0', '--debounce', '10ms', '--resync-interval', '10m',
      // Probes of denied cells wait out their timeout: a writer "pausing" that long must not
      // count as done here.
      '--source-stable', '1m'], {});
    if (c === 'help') throw new Error('unexpected help');
    return startAgent(c, { logger: pino({ level: 'silent' }) });
  }
  const settle = async (a: AgentHandle) => {
    (a.source as FileSource).rescan();
    await a.runner.idle();
  };
  const readyz = async (a: AgentHandle) => (await fetch(`http://127.0.0.1:${a.port}/readyz`)).status;

  before(function () {
    work = mkdtempSync(join(tmpdir(), 'npn-e2e-badinput-'));
  });
  after(async () => {
    await h?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('invalid objects, an alias bomb and a rewrite in place keep what the policies deny denied', async () => {
    const t = topo();
    // n2 enforces nothing here: only n1's ingress decides these cells.
    await t.applyNode('n2', batchJson(deleteTableBatch('inet', 'netpol_nft')));
    const dir = join(work, 'cluster');
    mkdirSync(dir);
    // A Pod with `version: 2` and `containerPort: "80"`, a Namespace with `n: 5`, from the
    // start: kept best-effort, so x/a is isolated and y is team=red.
    writeFileSync(join(dir, 'cluster.json'), clusterFile(t, (o) => {
      if (o.kind === 'Pod' && o.metadata.namespace === 'x' && o.metadata.name === 'a') {
        o.metadata.labels.version = 2;
        o.spec.containers[0].ports[0].containerPort = '80';
      }
      if (o.kind === 'Namespace' && o.metadata.name === 'y') o.metadata.labels.n = 5;
    }));
    writeFileSync(join(dir, 'policies.yaml'), yaml(POLICIES));
    h = await start(dir, nftWrapper(work, t.node('n1').netns).path);
    await h.started;
    await h.runner.idle();
    expect(await probe(t), 'the policies in force, over an invalid Pod and Namespace').to.deep.equal(CLOSED);
    const problems = h.source.snapshot().problems.map((p) => `${p.kind} ${p.object}`);
    expect(problems).to.include.members(['pod x/a', 'namespace y']);

    // 1. The policy file becomes an alias bomb: its last good objects stay in force, it is
    // counted and /readyz says so.
    writeFileSync(join(dir, 'policies.yaml'), ALIAS_BOMB);
    await settle(h);
    expect(await probe(t), 'after the alias bomb').to.deep.equal(CLOSED);
    expect(await metricValue(h, 'netpol_nft_source_errors_total', { reason: 'parse' })).to.equal(1);
    expect(await readyz(h)).to.equal(500);
    writeFileSync(join(dir, 'policies.yaml'), yaml(POLICIES));
    await settle(h);
    expect(await readyz(h)).to.equal(200);

    // 2. Rewritten in place: truncated after its first document, then empty. Both parse; the
    // lost policies stay until the file has been stable (and the writer is done).
    writeFileSync(join(dir, 'policies.yaml'), yaml(POLICIES.slice(0, 1)));
    await settle(h);
    expect(await probe(t), 'truncated at a document boundary').to.deep.equal(CLOSED);
    writeFileSync(join(dir, 'policies.yaml'), '');
    await settle(h);
    expect(await probe(t), 'emptied').to.deep.equal(CLOSED);
    writeFileSync(join(dir, 'policies.yaml'), yaml(POLICIES));
    await settle(h);

  });

  it('an agent started on an empty folder leaves the table in force until manifests appear', async () => {
    const t = topo();
    await h?.stop();
    h = undefined;
    const empty = join(work, 'empty');
    mkdirSync(empty);
    h = await start(empty, nftWrapper(work, t.node('n1').netns).path);
    let started = false;
    void h.started.then(() => { started = true; });
    await new Promise((r) => setTimeout(r, 2500)); // past one poll of the folder
    expect(started).to.equal(false);
    expect(await readyz(h)).to.equal(500);
    expect(await probe(t), 'the previous table still denies').to.deep.equal(CLOSED);
    // Manifests arrive (no policy at all now): the agent starts and enforces them.
    writeFileSync(join(empty, 'cluster.json'), clusterFile(t));
    await h.started;
    await h.runner.idle();
    expect(await readyz(h)).to.equal(200);
    expect(await probe(t), 'the new state: no policy').to.deep.equal({ 'y/a->x/a': true, 'y/a->z/a': true, 'x/b->z/a': true });
  });
});
