// The agent's decisions without a kernel: an in-memory nft port that records every batch (and
// fails on demand), a source fed by hand, the runner on a fake clock.
import { FakeConntrack } from '../helpers/fake-conntrack.js';
import { expect } from 'chai';
import { pino } from 'pino';
import { compile, fullBatch, type Batch, type Cluster } from '../../compiler/index.js';
import { FakeNft as MemNft } from '../helpers/fake-nft.js';
import { DEFAULT_DROP_LOG, DEFAULTS, parseConfig } from '../../controller/config.js';
import type { NftPort } from '../../controller/nft.js';
import { startAgent, type AgentHandle } from '../../controller/run.js';
import { FakeClock } from './fake-clock.js';
import { HandSource } from './hand-source.js';
import type { LogLine } from './harness.js';

class FakeNft implements NftPort {
  batches: Batch[] = [];
  failing = false;
  /** Runs while a batch is in nft's hands (before apply resolves). */
  during: (() => void) | undefined;
  async apply(json: string): Promise<void> {
    if (this.failing) throw new Error('nft: injected failure');
    this.batches.push(JSON.parse(json) as Batch);
    const d = this.during;
    this.during = undefined;
    d?.();
  }
  async list(): Promise<string | undefined> {
    return undefined;
  }
}


const isFull = (b: Batch) => JSON.stringify(b.nftables.slice(0, 2)).includes('"delete":{"table"');
const pod = (name: string, ip: string) => ({ namespace: 'x', name, nodeName: 'n1', labels: { app: name }, ips: [ip], phase: 'Running', hostNetwork: false, namedPorts: [] });

describe('agent: sync decisions (fake nft, fake clock)', () => {
  let h: AgentHandle;
  let nft: FakeNft;
  let src: HandSource;
  let clock: FakeClock;
  let logs: LogLine[];

  beforeEach(async () => {
    const c = parseConfig(['--node', 'n1', '--source', 'unused', '--metrics-address', '127.0.0.1:0', '--retry-min', '100ms', '--retry-max', '100ms'], {});
    if (c === 'help') throw new Error('help');
    nft = new FakeNft();
    src = new HandSource();
    clock = new FakeClock();
    logs = [];
    src.state = {
      cluster: { namespaces: [{ name: 'x', labels: {} }], pods: [pod('a', '192.0.2.10')], policies: [{ namespace: 'x', name: 'deny', spec: { podSelector: {} } }] },
      problems: [],
    };
    h = await startAgent(c, { logger: pino({ level: 'debug' }, { write: (s: string) => { logs.push(JSON.parse(s) as LogLine); } }), clock, nft, source: src, conntrack: new FakeConntrack() });
    await h.started;
    await clock.advance(0);
  });

  afterEach(() => h.stop());

  const change = (state: Cluster, seenAgo = 0) => {
    src.state = { cluster: state, problems: [] };
    src.hooks!.onChange({ kind: 'pod', action: 'update', seenAt: clock.now() - seenAgo });
  };

  it('replaces the table whole on the first sync, then sends diffs', async () => {
    expect(nft.batches).to.have.length(1);
    expect(isFull(nft.batches[0]!)).to.equal(true);
    expect(h.agent.ready()).to.equal(true);
    change({ ...src.state.cluster, pods: [pod('a', '192.0.2.10'), pod('b', '192.0.2.11')] });
    await clock.advance(50);
    expect(nft.batches).to.have.length(2);
    expect(isFull(nft.batches[1]!)).to.equal(false);
    expect(JSON.stringify(nft.batches[1])).to.include('192.0.2.11');
  });

  it('sends nothing when a change does not change the ruleset', async () => {
    change(src.state.cluster);
    await clock.advance(50);
    expect(nft.batches).to.have.length(1);
    expect(h.agent.syncCount()).to.equal(2);
  });

  it('after a failed apply, the next attempt is a full replace', async () => {
    nft.failing = true;
    change({ ...src.state.cluster, pods: [pod('a', '192.0.2.10'), pod('b', '192.0.2.11')] });
    await clock.advance(50);
    expect(h.runner.consecutiveFailures()).to.equal(1);
    nft.failing = false;
    await clock.advance(100);
    expect(nft.batches).to.have.length(2);
    expect(isFull(nft.batches[1]!)).to.equal(true);
    expect(JSON.stringify(nft.batches[1])).to.include('192.0.2.11');
  });

  it('measures network programming from the moment the source saw the change', async () => {
    change({ ...src.state.cluster, pods: [pod('a', '192.0.2.10'), pod('b', '192.0.2.11')] }, 2000);
    await clock.advance(50);
    const v = (await h.metrics.programmingDuration.get()).values;
    const sum = v.find((x) => x.metricName === 'netpol_nft_network_programming_duration_seconds_sum' && x.labels.kind === 'pod');
    // Seen 2 s before it reached the agent, synced one --debounce after the start's sync.
    expect(sum?.value).to.equal(2 + DEFAULTS.debounceMs / 1000);
  });

  it('counts watch restarts and events from the source hooks', async () => {
    src.hooks!.onWatchRestart?.('pod', 'gone');
    src.hooks!.onWatchRestart?.('pod', 'gone');
    src.hooks!.onChange({ kind: 'namespace', action: 'delete', seenAt: clock.now() });
    const restarts = (await h.metrics.watchRestarts.get()).values.find((x) => x.labels.kind === 'pod' && x.labels.reason === 'gone');
    expect(restarts?.value).to.equal(2);
    const events = (await h.metrics.kubernetesEvents.get()).values.find((x) => x.labels.kind === 'namespace' && x.labels.action === 'delete');
    expect(events?.value).to.equal(1);
  });

  it('logs a bad object once while it lasts, and once more when it is resolved', async () => {
    const bad = { namespace: 'x', name: 'bad', spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 'nope' } }] }] } };
    for (let i = 0; i < 3; i++) {
      change({ ...src.state.cluster, policies: [bad], pods: [pod('a', '192.0.2.10'), pod(`p${i}`, `192.0.2.${20 + i}`)] });
      await clock.advance(50);
    }
    const named = logs.filter((l) => String(l.msg).startsWith('networkpolicy x/bad: '));
    expect(named, JSON.stringify(logs.map((l) => l.msg))).to.have.length(1);
    expect(named[0]!.level).to.equal(40);
    change({ ...src.state.cluster, policies: [] });
    await clock.advance(50);
    expect(logs.filter((l) => String(l.msg).startsWith('resolved: networkpolicy x/bad'))).to.have.length(1);
  });

  it('applies per-object events as they come; one that arrives while nft holds a batch is sent next, not lost', async () => {
    const b = pod('b', '192.0.2.11'), c = pod('c', '192.0.2.12');
    const send = (p: typeof b) => {
      src.state = { cluster: { ...src.state.cluster, pods: [...src.state.cluster.pods, p] }, problems: [] };
      src.hooks!.onChange({ kind: 'pod', action: 'add', seenAt: clock.now(), object: `x/${p.name}`, change: { kind: 'pod', op: 'upsert', pod: p } });
      h.runner.request();
    };
    nft.during = () => send(c); // c arrives while b's transaction is in flight
    send(b);
    await clock.advance(50);
    await clock.advance(50);
    // Every batch, applied in order to the in-memory nft (strict), ends equal to a fresh
    // compile of the final state (the generation stamp aside).
    const table = new MemNft({ strict: true });
    for (const batch of nft.batches) table.applyBatch(batch);
    expect(nft.batches.length).to.equal(3);
    expect(JSON.stringify(nft.batches[2])).to.include('192.0.2.12');
    const fresh = new MemNft();
    fresh.applyBatch(fullBatch(compile(src.state.cluster, { node: 'n1', dropLog: DEFAULT_DROP_LOG }).ruleset));
    const noStamp = (t: string) => t.split('\n').filter((l) => !l.includes('"mark"') && !/"name":"gen_\d+_/.test(l)).join('\n');
    expect(noStamp(table.dump())).to.equal(noStamp(fresh.dump()));
  });

  it('cluster policies: counted by tier and state, ties and unsupported parts logged once and counted, enforced in the next transaction', async () => {
    const cnp = (name: string, tier: string, priority: number, egress: unknown[]) => ({ name, spec: { tier, priority, subject: { namespaces: {} }, egress } });
    const deny = [{ action: 'Deny', to: [{ networks: ['198.51.100.0/24'] }] }];
    change({
      ...src.state.cluster,
      clusterPolicies: [
        cnp('a-first', 'Admin', 5, deny), cnp('b-second', 'Admin', 5, deny),
        cnp('dns', 'Admin', 10, [{ action: 'Accept', to: [{ domainNames: ['*.example.com'] }] }]),
        cnp('base', 'Baseline', 1, deny),
        cnp('broken', 'Admin', 1, [{ action: 'Deny', to: [{ networks: ['not-a-cidr'] }] }]),
      ],
    });
    await clock.advance(50);
    const v = async (tier: string, state: string) => (await h.metrics.clusterNetworkPolicies.get()).values.find((x) => x.labels.tier === tier && x.labels.state === state)?.value;
    expect(await v('Admin', 'valid')).to.equal(2);
    expect(await v('Admin', 'unsupported')).to.equal(1);
    expect(await v('Admin', 'invalid')).to.equal(1);
    expect(await v('Baseline', 'valid')).to.equal(1);
    expect((await h.metrics.clusterNetworkPolicyTies.get()).values.find((x) => x.labels.tier === 'Admin')?.value).to.equal(1);
    const lines = () => logs.map((l) => String(l.msg));
    expect(lines().filter((m) => /a-first, b-second: spec.priority: equal priorities in the Admin tier: evaluated by name \(a-first before b-second\)/.test(m))).to.have.length(1);
    expect(lines().filter((m) => /clusternetworkpolicy dns: unsupported, not enforced: spec.egress\[0\].to\[0\].domainNames/.test(m))).to.have.length(1);
    expect(lines().filter((m) => /clusternetworkpolicy broken: spec.egress\[0\].to\[0\].networks\[0\]/.test(m))).to.have.length(1);
    expect(JSON.stringify(nft.batches.at(-1)), 'the tiers reach the kernel').to.include('cnp/a-first egress[0]');
    // Another sync with the same state: nothing logged again.
    src.hooks!.onChange({ kind: 'pod', action: 'update', seenAt: clock.now() });
    await clock.advance(50);
    expect(lines().filter((m) => /equal priorities/.test(m))).to.have.length(1);
  });
});
