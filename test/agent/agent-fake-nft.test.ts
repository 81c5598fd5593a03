// The agent on the in-memory nft (test/helpers/fake-nft.ts), without root: its batches must be
// ones nft accepts, and after every sync the table must be the one a fresh load of the same
// cluster gives, through random chains of changes, a failed apply and a table deleted behind
// its back.
import { FakeConntrack } from '../helpers/fake-conntrack.js';
import { expect } from 'chai';
import fc from 'fast-check';
import { pino } from 'pino';
import { clusterFromObjects, compile, deleteTableBatch, fullBatch, type Cluster } from '../../compiler/index.js';
import { DEFAULT_DROP_LOG, parseConfig } from '../../controller/config.js';
import { startAgent, type AgentHandle } from '../../controller/run.js';
import { ns, pod, policy } from '../compiler/builders.js';
import { FakeNft } from '../helpers/fake-nft.js';
import { editChainArb } from '../helpers/random-cluster.js';
import { FakeClock } from './fake-clock.js';
import { HandSource } from './hand-source.js';


/** The table with the generation stamp blanked and without the agent's marker chain (the
 *  agent stamps each transaction with its own new generation, `compile` with 1). */
const unstamped = (dump: string): string => dump.split('\n').filter((l) => !/"name":"gen_\d+_/.test(l)).map((l) => (l.includes('"mark"') ? l.replace(/(?<=[:,[])\d+(?=[\]},])/g, 'N') : l)).join('\n');

const freshTable = (cluster: Cluster): string => {
  const f = new FakeNft();
  f.applyBatch(fullBatch(compile(cluster, { node: 'n1', dropLog: DEFAULT_DROP_LOG }).ruleset));
  return unstamped(f.dump());
};

async function withAgent(first: Cluster, body: (h: AgentHandle, nft: FakeNft, src: HandSource, clock: FakeClock) => Promise<void>): Promise<void> {
  const c = parseConfig(['--node', 'n1', '--source', 'unused', '--metrics-address', '127.0.0.1:0', '--retry-min', '100ms', '--retry-max', '100ms'], {});
  if (c === 'help') throw new Error('help');
  const nft = new FakeNft({ strict: true });
  const src = new HandSource();
  const clock = new FakeClock();
  src.state = { cluster: first, problems: [] };
  const h = await startAgent(c, { logger: pino({ level: 'silent' }), clock, nft, source: src, conntrack: new FakeConntrack() });
  try {
    await h.started;
    await clock.advance(0);
    await body(h, nft, src, clock);
  } finally {
    await h.stop();
  }
}

describe('agent on the fake nft (no root)', function () {
  this.timeout(120_000);

  it('keeps the table equal to a fresh load through random chains of changes', async () => {
    await fc.assert(
      fc.asyncProperty(editChainArb(3, 8, 10, 5), async (states) => {
        const clusters = states.map((s) => clusterFromObjects(s).cluster);
        await withAgent(clusters[0]!, async (h, nft, src, clock) => {
          expect(unstamped(nft.dump())).to.equal(freshTable(clusters[0]!));
          for (let i = 1; i < clusters.length; i++) {
            src.state = { cluster: clusters[i]!, problems: [] };
            src.hooks!.onChange({ kind: 'pod', action: 'update', seenAt: clock.now() });
            await clock.advance(50);
            expect(h.runner.consecutiveFailures(), `sync ${i} failed`).to.equal(0);
            expect(unstamped(nft.dump()), `after change ${i}`).to.equal(freshTable(clusters[i]!));
          }
        });
      }),
      { numRuns: 12, seed: 31 },
    );
  });

  it('a drift check after syncs that added and removed chains finds the table as applied (the shapes it compares follow each sync)', async () => {
    const objs = [ns('x'), ns('y'), pod('x/a', { ips: ['192.0.2.10'] }), pod('y/b', { ips: ['192.0.2.11'] })];
    const states = [objs, [...objs, policy('y/deny', { podSelector: {} })], [...objs, policy('x/web', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ port: 80 }] }] })]].map((o) => clusterFromObjects(o).cluster);
    await withAgent(states[0]!, async (h, nft, src, clock) => {
      const verifyFailures = async () => (await h.metrics.syncFailures.get()).values.find((v) => v.labels.stage === 'verify')?.value;
      for (const [i, state] of states.entries()) {
        const before = nft.dump();
        src.state = { cluster: state, problems: [] };
        src.hooks!.onChange({ kind: 'networkpolicy', action: 'update', seenAt: clock.now() });
        await clock.advance(50);
        if (i > 0) expect(nft.dump(), `change ${i} made new chains`).to.not.equal(before);
        await clock.advance(60_000); // a drift check
        expect(await verifyFailures(), `drift check after change ${i}`).to.equal(0);
        expect(unstamped(nft.dump())).to.equal(freshTable(state));
      }
    });
  });

  it('recovers from a failed apply and from its table deleted behind its back', async () => {
    const objs = [ns('x'), ns('y'), pod('x/a', { ips: ['192.0.2.10', '2001:db8::a'] }), policy('x/web', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ port: 80 }] }] })];
    const a = clusterFromObjects(objs).cluster;
    const b = clusterFromObjects([...objs, pod('y/b', { ips: ['192.0.2.11'] })]).cluster;
    const c = clusterFromObjects([...objs, pod('y/b', { ips: ['192.0.2.11'] }), policy('y/deny', { podSelector: {} })]).cluster;
    await withAgent(a!, async (h, nft, src, clock) => {
      nft.failing = true;
      src.state = { cluster: b!, problems: [] };
      src.hooks!.onChange({ kind: 'pod', action: 'update', seenAt: clock.now() });
      await clock.advance(50);
      expect(h.runner.consecutiveFailures()).to.equal(1);
      expect(unstamped(nft.dump()), 'a failed apply changes nothing').to.equal(freshTable(a!));
      nft.failing = false;
      await clock.advance(100);
      expect(unstamped(nft.dump())).to.equal(freshTable(b!));

      nft.applyBatch(deleteTableBatch('inet', 'netpol_nft'));
      expect(nft.dump()).to.equal('');
      await clock.advance(60_000); // the drift check finds the table gone and loads it whole
      expect(unstamped(nft.dump())).to.equal(freshTable(b!));

      src.state = { cluster: c!, problems: [] };
      src.hooks!.onChange({ kind: 'networkpolicy', action: 'update', seenAt: clock.now() });
      await clock.advance(50);
      expect(unstamped(nft.dump())).to.equal(freshTable(c!));
    });
  });
});
