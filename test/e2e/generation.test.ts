// Issue 11, item 1, as an attack on the real kernel: a revoked connection must never come back.
//
// The verdict cache stamps an allowed connection in a few bits of its conntrack mark; its
// later packets pass on one compare while the stamp is the one in force. Round 1 took the
// stamp from a hash of the ruleset's content, and a tenant editing their own policy found a
// ruleset hashing to a revoked connection's old stamp (about 21,800 edits at 16 bits, 35 at
// 8): the connection came back. That attack ("a tenant edits their own policy until the hash
// collides") no longer applies as such, since content no longer decides the stamp: stamps are
// a per-node counter (controller/generation.ts). What is left to attack is the counter's
// wrap-around: with w bits it must come back to every value. So here the agent runs with a
// 2-bit mask (3 stamps: a wrap every 3 transactions; narrower than an operator may choose,
// allowed for tests only), a connection is allowed, revoked while idle (its stale stamp
// stays), and the generation is driven through two full wraps until the revoked connection's
// old stamp is in force again: its next message must not arrive (it would with the counter
// alone, without the clearing passes: break GenerationSchedule to see it). New connections
// that the rules allow keep working through the wraps.
//
// Flows on node n1 (the agent runs there only): TCP x/a -> z/a:80 (left idle after the
// revocation), UDP x/c -> z/a:81 (probed right after it), TCP x/c -> y/b:80 (allowed throughout).
import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { clusterFromObjects, type Cluster } from '../../compiler/index.js';
import { Agent } from '../../controller/agent.js';
import { ConntrackCli } from '../../controller/generation.js';
import { Metrics } from '../../controller/metrics.js';
import { NftCli } from '../../controller/nft.js';
import { systemClock } from '../../controller/runner.js';
import type { ClusterSource, SourceHooks } from '../../controller/source.js';
import { netpol, useTopology } from './harness.js';
import type { ClusterState } from './topology.js';

const DENY_Z_A = netpol('z/deny-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'] });
// Two rulesets that differ in something unrelated to the flows, to make transactions.
const CHURN = [
  netpol('z/churn', { podSelector: { matchLabels: { pod: 'c' } }, ingress: [{ ports: [{ port: 1001 }] }] }),
  netpol('z/churn', { podSelector: { matchLabels: { pod: 'c' } }, ingress: [{ ports: [{ port: 1002 }] }] }),
];

class StateSource implements ClusterSource {
  cluster: Cluster = { namespaces: [], pods: [], policies: [] };
  async start(_: SourceHooks): Promise<void> {}
  synced(): boolean {
    return true;
  }
  snapshot() {
    return { cluster: this.cluster, problems: [] };
  }
  async stop(): Promise<void> {}
}

describe('e2e: a revoked connection never comes back, through wrap-arounds of the stamp counter', function () {
  this.timeout(180_000);
  const topo = useTopology();

  it('TCP revoked while idle stays dropped after the counter comes back to its stamp; allowed flows keep working', async () => {
    const t = topo();
    const netns = t.node('n1').netns;
    const source = new StateSource();
    const metrics = new Metrics(new Registry(), { defaultMetrics: false });
    // Start from no table: earlier suites leave theirs on n1 (rulesets loaded by the harness,
    // without a marker, or another agent's, with its owner), and this case is about the
    // counter's wrap, not about taking a table over (test/agent/owner.test.ts).
    execFileSync('ip', ['netns', 'exec', netns, 'nft', 'add table inet netpol_nft; delete table inet netpol_nft']);
    const warnings: string[] = [];
    const agent = new Agent({
      // Warnings kept for the failure messages (why a transaction ran without the cache).
      source, metrics, clock: systemClock, logger: pino({ level: 'warn' }, { write: (line: string) => { warnings.push(line.trim()); } }),
      nft: new NftCli(['ip', 'netns', 'exec', netns, 'nft']),
      conntrack: new ConntrackCli(['ip', 'netns', 'exec', netns, 'conntrack']),
      compile: { node: 'n1', ctMarkMask: 0b11, ctMarkMinBits: 2, owner: 'e2e-generation' },
    });
    const stamp = async () => (await metrics.verdictCache.get()).values[0]!.value;
    const apply = async (state: ClusterState) => {
      source.cluster = clusterFromObjects(t.clusterObjects(state)).cluster;
      agent.noteChange({ kind: 'networkpolicy', action: 'update', seenAt: Date.now() });
      const before = agent.syncCount();
      await agent.sync('change');
      expect(agent.syncCount()).to.equal(before + 1);
      return stamp();
    };

    const allowedStamp = await apply({});
    expect(allowedStamp, `the cache is on; the agent's warnings: ${warnings.join(' ') || 'none'}`).to.be.within(1, 3);
    const tcp = t.prober('x/a'), udp = t.prober('x/c');
    try {
      expect(await tcp.open('gen-tcp', t.addr('z/a', 4), 80, 'tcp')).to.equal(true);
      expect(await udp.open('gen-udp', t.addr('z/a', 4), 81, 'udp')).to.equal(true);
      expect(await tcp.send('gen-tcp'), 'TCP before the revocation').to.equal(true);
      expect(await udp.send('gen-udp'), 'UDP before the revocation').to.equal(true);
      // Both now carry the stamp in force (their last packets were decided and stamped).
      const s0 = await stamp();

      // Revoked: the UDP flow is probed at once (dropped); the TCP connection stays idle, so
      // nothing but the agent's clearing passes can remove its stamp s0.
      let s = await apply({ policies: [DENY_Z_A] });
      expect(s).to.not.equal(s0);
      expect(await udp.send('gen-udp', 1500), 'UDP right after the revocation').to.equal(false);

      // Drive the counter until s0 is in force again, twice (two full wraps).
      let returns = 0, i = 0;
      while (returns < 2) {
        s = await apply({ policies: [DENY_Z_A, CHURN[i++ % 2]!] });
        if (s === s0) returns++;
        expect(i, 'the counter comes back within a few transactions').to.be.below(20);
      }
      expect(await stamp()).to.equal(s0);
      expect(await tcp.send('gen-tcp', 3000), 'the revoked TCP connection, its old stamp in force again').to.equal(false);
      expect(await udp.send('gen-udp', 1500), 'the revoked UDP flow').to.equal(false);

      // New allowed connections work, and keep working through further wraps (cached).
      const other = t.prober('x/c');
      expect(await other.open('gen-ok', t.addr('y/b', 4), 80, 'tcp')).to.equal(true);
      for (let k = 0; k < 4; k++) {
        expect(await other.send('gen-ok'), `allowed TCP, transaction ${k}`).to.equal(true);
        expect(await other.send('gen-ok'), `allowed TCP again (by the cache), transaction ${k}`).to.equal(true);
        await apply({ policies: [DENY_Z_A, CHURN[i++ % 2]!] });
      }
      const clears = (await metrics.conntrackClears.get()).values.find((v) => v.labels.result === 'ok')!.value;
      expect(clears, 'clearing passes ran (start, then every 2 transactions)').to.be.at.least(4);
      await other.close('gen-ok');
    } finally {
      await tcp.close('gen-tcp');
      await udp.close('gen-udp');
    }
  });
});
