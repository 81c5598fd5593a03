// The agent gives the event loop back while it applies the events that arrived during a sync
// (a long sync under a burst leaves hundreds): the events go into the engine a slice at a
// time, in order, and an event that arrives between two slices goes in after the others.
// The /metrics page is rendered one metric at a time, with a turn of the loop between them.
// No timing: the proof is a turn of the event loop that runs while the agent still holds
// deferred events, and the table the next sync writes.
import { FakeConntrack } from '../helpers/fake-conntrack.js';
import { expect } from 'chai';
import { pino } from 'pino';
import { Counter, Registry } from 'prom-client';
import { batchJson, type Batch, type PodInfo } from '../../compiler/index.js';
import { parseConfig } from '../../controller/config.js';
import { renderSliced } from '../../controller/health.js';
import { jsonInSlices } from '../../controller/agent.js';
import { Metrics } from '../../controller/metrics.js';
import type { NftPort } from '../../controller/nft.js';
import { startAgent, type AgentHandle } from '../../controller/run.js';
import { FakeClock } from './fake-clock.js';
import { HandSource } from './hand-source.js';

class HoldingNft implements NftPort {
  batches: string[] = [];
  /** Runs while a batch is in nft's hands (before apply resolves). */
  during: (() => void) | undefined;
  async apply(json: string): Promise<void> {
    this.batches.push(json);
    const d = this.during;
    this.during = undefined;
    d?.();
  }
  async list(): Promise<string | undefined> {
    return undefined;
  }
}

const pod = (name: string, ip: string, app: string): PodInfo => ({ namespace: 'x', name, nodeName: 'n1', labels: { app }, ips: [ip], phase: 'Running', hostNetwork: false, namedPorts: [] });

describe('agent: events that arrive during a sync go in by slices, in order', () => {
  let h: AgentHandle;
  let nft: HoldingNft;
  let src: HandSource;
  let clock: FakeClock;

  beforeEach(async () => {
    const c = parseConfig(['--node', 'n1', '--source', 'unused', '--metrics-address', '127.0.0.1:0'], {});
    if (c === 'help') throw new Error('help');
    nft = new HoldingNft();
    src = new HandSource();
    clock = new FakeClock();
    src.state = {
      cluster: {
        namespaces: [{ name: 'x', labels: {} }],
        pods: [pod('a', '192.0.2.10', 'a')],
        // Pods labelled app=web may reach a; the others may not.
        policies: [{ namespace: 'x', name: 'web-to-a', spec: { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }] } }],
      },
      problems: [],
    };
    h = await startAgent(c, { logger: pino({ level: 'silent' }), clock, nft, source: src, conntrack: new FakeConntrack() });
    await h.started;
    await clock.advance(0);
    expect(h.agent.ready()).to.equal(true);
  });

  afterEach(() => h.stop());

  const send = (p: PodInfo, op: 'upsert' | 'delete' = 'upsert') => src.hooks!.onChange({
    kind: 'pod', action: op === 'upsert' ? 'update' : 'delete', seenAt: clock.now(), object: `x/${p.name}`,
    change: op === 'upsert' ? { kind: 'pod', op: 'upsert', pod: p } : { kind: 'pod', op: 'delete', namespace: 'x', name: p.name },
  });

  it('yields between slices of 1,200 deferred events and keeps their order', async () => {
    const deferred = () => (h.agent as unknown as { deferred: unknown[] }).deferred.length;
    let turnsWhileDeferred = 0;
    let stop = false;
    const spin = () => {
      if (stop) return;
      // An event loop turn while deferred events are still waiting: the drain let go. The
      // first such turn also brings one more event, which must land after all the others.
      if (deferred() > 0) {
        if (turnsWhileDeferred++ === 0) send(pod('late', '192.0.2.99', 'web'));
      }
      setImmediate(spin);
    };
    // One change starts a sync; while its batch is in nft, 1,200 more arrive: pod b flips
    // between web (allowed to a) and other, ending on web; pod c is created then deleted.
    send(pod('b', '192.0.2.20', 'other'));
    nft.during = () => {
      for (let i = 0; i < 1_200; i++) send(pod('b', '192.0.2.20', i % 2 === 0 ? 'other' : 'web'));
      send(pod('c', '192.0.2.30', 'web'));
      send(pod('c', '192.0.2.30', 'web'), 'delete');
      setImmediate(spin);
    };
    await clock.advance(50);
    for (let i = 0; i < 20 && deferred() > 0; i++) await new Promise((r) => setImmediate(r));
    stop = true;
    expect(deferred()).to.equal(0);
    expect(turnsWhileDeferred, 'event-loop turns while deferred events waited').to.be.greaterThan(0);
    // The next sync writes what the events said, in their order: b is web (last event), c is
    // gone (deleted after its creation), and the late pod is in.
    await clock.advance(1_000);
    const last = JSON.parse(nft.batches.at(-1)!) as Batch;
    const allowed = JSON.stringify(h.agent.appliedRuleset());
    expect(allowed).to.include('192.0.2.20');
    expect(allowed).to.include('192.0.2.99');
    expect(allowed).not.to.include('192.0.2.30');
    expect(JSON.stringify(last)).to.include('192.0.2.99');
  });
});

describe('/metrics: the page is rendered one metric at a time', () => {
  it('gives the loop a turn after each metric, and makes the same page as prom-client in one go', async () => {
    const registry = new Registry();
    const metrics = new Metrics(registry, { defaultMetrics: false });
    metrics.setLocalPods([]);
    metrics.event('pod', 'add');
    metrics.observeSync('full', 0.2);
    const other = new Counter({ name: 'test_escaped_total', help: 'a "quoted" \\ help', labelNames: ['v'], registers: [registry] });
    other.inc({ v: 'a"b\\c\nd' }, 3);
    let pauses = 0;
    const page = await renderSliced(registry, async () => { pauses++; });
    expect(pauses).to.equal(registry.getMetricsAsArray().length);
    expect(pauses).to.be.greaterThan(10);
    expect(page).to.equal(await registry.metrics());
  });
});

describe('a batch as JSON, serialised by slices', () => {
  it('is batchJson byte for byte, with a turn of the loop after every 500 commands or 256 KB', async () => {
    const big = { add: { set: { family: 'inet', table: 't', name: 'big', type: 'ipv4_addr', elem: Array.from({ length: 30_000 }, (_, i) => `198.51.${(i >> 8) & 255}.${i & 255}`) } } };
    const small = (i: number) => ({ add: { rule: { family: 'inet', table: 't', chain: 'c', expr: [{ counter: null }], comment: `rule ${i} "quoted" \\ ü` } } });
    const b: Batch = { nftables: [{ add: { table: { family: 'inet', name: 't' } } }, ...Array.from({ length: 700 }, (_, i) => small(i)), big, ...Array.from({ length: 700 }, (_, i) => small(700 + i))] };
    let turns = 0, done = false;
    const spin = () => { if (!done) { turns++; setImmediate(spin); } };
    setImmediate(spin);
    const json = await jsonInSlices(b);
    done = true;
    expect(json).to.equal(batchJson(b));
    // 1,402 commands: a pause at 500, at the big set (over 256 KB), at 500 more, and at the end.
    expect(turns).to.be.at.least(3);
  });
});
