// netpol_nft_policy_rule_connections_total through the whole agent on the in-memory nft (no
// root): a series per policy rule of the table (0 for a rule nothing used), the kernel's
// counts added read after read, kept through incremental syncs (the counter is not
// recreated), and not lost on a full replace (the agent reads the counters just before it).
import { expect } from 'chai';
import { pino } from 'pino';
import { clusterFromObjects, type Cluster } from '../../compiler/index.js';
import { parseConfig } from '../../controller/config.js';
import { startAgent, type AgentHandle } from '../../controller/run.js';
import { ns, pod, policy } from '../compiler/builders.js';
import { FakeConntrack } from '../helpers/fake-conntrack.js';
import { FakeNft } from '../helpers/fake-nft.js';
import { FakeClock } from './fake-clock.js';
import { HandSource } from './hand-source.js';


const METRIC = 'netpol_nft_policy_rule_connections_total';
const objs = [
  ns('x'), ns('y'),
  pod('x/a', { labels: { pod: 'a' }, ips: ['192.0.2.10', '2001:db8::a'] }),
  pod('x/b', { labels: { pod: 'b' }, node: 'n2', ips: ['192.0.2.11'] }),
  policy('x/web', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }] }, { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }] }),
];

async function withAgent(flags: string[], body: (h: AgentHandle, nft: FakeNft, change: (c: Cluster) => Promise<void>, clock: FakeClock) => Promise<void>): Promise<void> {
  const c = parseConfig(['--node', 'n1', '--source', 'unused', '--metrics-address', '127.0.0.1:0', '--retry-min', '100ms', '--retry-max', '100ms', ...flags], {});
  if (c === 'help') throw new Error('help');
  const nft = new FakeNft({ strict: true });
  const src = new HandSource();
  const clock = new FakeClock();
  src.state = { cluster: clusterFromObjects(objs).cluster, problems: [] };
  const h = await startAgent(c, { logger: pino({ level: 'silent' }), clock, nft, source: src, conntrack: new FakeConntrack() });
  const change = async (cluster: Cluster) => {
    src.state = { cluster, problems: [] };
    src.hooks!.onChange({ kind: 'pod', action: 'update', seenAt: clock.now() });
    await clock.advance(50);
  };
  try {
    await h.started;
    await clock.advance(0);
    await body(h, nft, change, clock);
  } finally {
    await h.stop();
  }
}

async function series(h: AgentHandle): Promise<Record<string, number>> {
  await h.metrics.readCountersNow();
  const m = await h.metrics.registry.getSingleMetric(METRIC)!.get();
  return Object.fromEntries(m.values.map((v) => [[v.labels.namespace, v.labels.policy, v.labels.direction, v.labels.rule].join('|'), v.value]));
}

describe('agent: per-rule connection metrics (--policy-rule-counters)', function () {
  this.timeout(60_000);

  it('is not registered, and the table holds no rule counter, without the flag', async () => {
    await withAgent([], async (h, nft) => {
      expect(h.metrics.registry.getSingleMetric(METRIC)).to.equal(undefined);
      expect(nft.dump()).to.not.include('rule_in_');
    });
  });

  it('exports every rule, adds the counts, keeps them through incremental syncs and a full replace', async () => {
    await withAgent(['--policy-rule-counters'], async (h, nft, change, clock) => {
      expect(await series(h)).to.deep.equal({ 'x|web|ingress|0': 0, 'x|web|ingress|1': 0 });
      nft.setCounter('rule_in_x_web_0', 4, 240);
      expect(await series(h)).to.deep.equal({ 'x|web|ingress|0': 4, 'x|web|ingress|1': 0 });

      // Incremental: a pod joins the group, another the peer; the kernel counter lives on.
      const more = clusterFromObjects([...objs, pod('x/a2', { labels: { pod: 'a' }, ips: ['192.0.2.12'] }), pod('x/b2', { labels: { pod: 'b' }, node: 'n2', ips: ['192.0.2.13'] })]).cluster;
      nft.setCounter('rule_in_x_web_0', 2, 120);
      await change(more);
      expect(h.runner.consecutiveFailures()).to.equal(0);
      const deltas = nft.batches.slice(1).map((b) => JSON.stringify(b));
      expect(deltas.length, 'incremental syncs').to.be.greaterThan(0);
      for (const d of deltas) expect(d, 'a delta never touches a rule counter that stays').to.not.match(/"counter":\{[^}]*"name":"rule_/);
      expect(await series(h)).to.deep.equal({ 'x|web|ingress|0': 6, 'x|web|ingress|1': 0 });

      // A full replace (here after a failed apply) recreates every counter at 0: what was
      // counted since the last read is read first.
      nft.setCounter('rule_in_x_web_0', 3, 180);
      nft.failing = true;
      await change(clusterFromObjects(objs).cluster);
      expect(h.runner.consecutiveFailures()).to.equal(1);
      nft.failing = false;
      await clock.advance(100);
      expect(h.runner.consecutiveFailures()).to.equal(0);
      const last = nft.batches[nft.batches.length - 1]!;
      // (The agent's full replace deletes its marker chain first, as a compare-and-swap.)
      expect(last.nftables.some((c) => 'delete' in c && 'table' in c.delete!), 'a full replace').to.equal(true);
      expect(await series(h)).to.deep.equal({ 'x|web|ingress|0': 9, 'x|web|ingress|1': 0 });

      // Rule 1 goes: its series ends.
      await change(clusterFromObjects([...objs.slice(0, 4), policy('x/web', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }] }] })]).cluster);
      expect(await series(h)).to.deep.equal({ 'x|web|ingress|0': 9 });
    });
  });
});
