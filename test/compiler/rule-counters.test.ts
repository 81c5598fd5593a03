// Per-rule counters (--policy-rule-counters, README "Metrics"): one named counter per policy
// rule and direction, counted by the original-direction group chains only, so that with the
// verdict cache a connection counts once at its first packet, and at most once more after a
// ruleset change. Without the flag the table is what it always was. The counters live across
// incremental transactions (the in-memory nft keeps their values and refuses deleting one a
// rule still uses) and go with the last rule that uses them.
import { expect } from 'chai';
import { compile, fullBatch, isOwnObject, NFT_NAME_MAX_BYTES, PolicyEngine, type Batch, type Cluster, type ClusterEvent, type Ruleset } from '../../compiler/index.js';
import { ruleCounterName } from '../../compiler/nft/names.js';
import { FakeNft } from '../helpers/fake-nft.js';
import { cluster, ns, pod, policy, world, type Obj } from './builders.js';
import { evalPacket, type Packet } from './packet-eval.js';

const podSel = (p: string) => ({ matchLabels: { pod: p } });
const nsSel = (n: string) => ({ matchLabels: { ns: n } });
// x/a (192.0.2.11) on n1: rule 0 lets x/b in on 80/TCP, rule 1 lets namespace z in on 53/UDP,
// rule 2 names a port no pod has (it matches nothing, and keeps a counter at 0).
const web = policy('x/web', {
  podSelector: podSel('a'),
  ingress: [
    { from: [{ podSelector: podSel('b') }], ports: [{ port: 80 }] },
    { from: [{ namespaceSelector: nsSel('z') }], ports: [{ port: 53, protocol: 'UDP' }] },
    { ports: [{ port: 'no-such-port' }] },
  ],
});
const cnp = (name: string, spec: Record<string, unknown>): Obj => ({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name }, spec });
const tiers = [
  cnp('admin-y', {
    tier: 'Admin', priority: 10, subject: { namespaces: nsSel('x') },
    ingress: [
      { name: 'y-a', action: 'Accept', from: [{ pods: { namespaceSelector: nsSel('y'), podSelector: podSel('a') } }] },
      { name: 'no-y', action: 'Deny', from: [{ namespaces: nsSel('y') }] },
    ],
  }),
];

const on = (c: Cluster, generation = 1): Ruleset => compile(c, { node: 'n1', policyRuleCounters: true, generation }).ruleset;
const pkt = (saddr: string, daddr: string, o: Partial<Packet> = {}): Packet => ({
  hook: 'forward', saddr, daddr, l4proto: 'tcp', sport: 40000, dport: 80, ct: { state: 'new', direction: 'original', mark: 0 }, ...o,
});
const ruleCounters = (xs: readonly string[]) => xs.filter((n) => /^c?rule_/.test(n));

describe('per-rule counters (--policy-rule-counters)', () => {
  it('without the flag, the table is byte for byte the one compiled before the flag existed', () => {
    const c = cluster(...world(web, ...tiers));
    const plain = JSON.stringify(fullBatch(compile(c, { node: 'n1' }).ruleset));
    expect(JSON.stringify(fullBatch(compile(c, { node: 'n1', policyRuleCounters: false }).ruleset))).to.equal(plain);
    expect(plain).to.not.match(/"counter":"/).and.not.match(/c?rule_(in|eg)_/);
  });

  it('defines one counter per policy rule, used by the original-direction chains only, even a rule that matches nothing', () => {
    const rs = on(cluster(...world(web, ...tiers)));
    // Accept rules only: the Deny rule of admin-y has none.
    expect(ruleCounters(rs.counters)).to.deep.equal(['crule_in_admin-y_0', 'rule_in_x_web_0', 'rule_in_x_web_1', 'rule_in_x_web_2']);
    const used = new Map<string, Set<string>>();
    for (const ch of rs.chains) for (const r of ch.rules) for (const s of r) {
      if (s.kind !== 'counter' || s.name === undefined) continue;
      const v = s.name;
      expect(rs.counters, `${ch.name} names ${v}`).to.include(v);
      if (!used.has(v)) used.set(v, new Set());
      used.get(v)!.add(ch.name);
    }
    for (const [counter, chains] of used) for (const ch of chains) expect(ch, `${counter} counted in ${ch}`).to.match(/^(in|eg)[46]o_/);
    expect([...used.keys()].sort()).to.deep.equal(['crule_in_admin-y_0', 'rule_in_x_web_0', 'rule_in_x_web_1']);
    for (const n of rs.counters) expect(isOwnObject(n), n).to.equal(true);
  });

  it('counts a connection at its first packet, not at later packets, replies or retries under the same ruleset', () => {
    const rs = on(cluster(...world(web)));
    const first = evalPacket(rs, pkt('192.0.2.12', '192.0.2.11'));
    expect(first.verdict).to.equal('accept');
    expect(ruleCounters(first.counters)).to.deep.equal(['rule_in_x_web_0']);
    const stamped = first.mark;
    expect(stamped).to.not.equal(0);
    const later = evalPacket(rs, pkt('192.0.2.12', '192.0.2.11', { ct: { state: 'established', direction: 'original', mark: stamped } }));
    const reply = evalPacket(rs, pkt('192.0.2.11', '192.0.2.12', { sport: 80, dport: 40000, ct: { state: 'established', direction: 'reply', mark: 0 } }));
    expect([later.verdict, reply.verdict]).to.deep.equal(['accept', 'accept']);
    expect(ruleCounters([...later.counters, ...reply.counters])).to.deep.equal([]);
    // UDP from namespace z, IPv6: rule 1.
    const dns = evalPacket(rs, pkt('2001:db8::31', '2001:db8::11', { l4proto: 'udp', dport: 53 }));
    expect(dns.verdict).to.equal('accept');
    expect(ruleCounters(dns.counters)).to.deep.equal(['rule_in_x_web_1']);
    // A dropped packet counts on the pod's drop counter, never on a rule counter.
    const denied = evalPacket(rs, pkt('192.0.2.21', '192.0.2.11'));
    expect(denied.verdict).to.equal('drop');
    expect(denied.counters).to.deep.equal(['drop_in_x_a']);
  });

  it('after a ruleset change, a connection is counted once more if its next packet goes in the original direction, never on a reply', () => {
    const c = cluster(...world(web));
    const old = evalPacket(on(c, 1), pkt('192.0.2.12', '192.0.2.11')).mark;
    const next = on(c, 2);
    const again = evalPacket(next, pkt('192.0.2.12', '192.0.2.11', { ct: { state: 'established', direction: 'original', mark: old } }));
    expect(ruleCounters(again.counters)).to.deep.equal(['rule_in_x_web_0']);
    const after = evalPacket(next, pkt('192.0.2.12', '192.0.2.11', { ct: { state: 'established', direction: 'original', mark: again.mark } }));
    expect(after.counters).to.deep.equal([]);
    const replyFirst = evalPacket(next, pkt('192.0.2.11', '192.0.2.12', { sport: 80, dport: 40000, ct: { state: 'established', direction: 'reply', mark: old } }));
    expect(replyFirst.verdict).to.equal('accept');
    expect(replyFirst.counters).to.deep.equal([]);
  });

  it('counts Accept rules of ClusterNetworkPolicies, and nothing on a connection a Deny rule drops', () => {
    const rs = on(cluster(...world(web, ...tiers)));
    const ya = evalPacket(rs, pkt('192.0.2.21', '192.0.2.11'));
    expect(ya.verdict).to.equal('accept');
    expect(ruleCounters(ya.counters)).to.deep.equal(['crule_in_admin-y_0']);
    const yb = evalPacket(rs, pkt('192.0.2.22', '192.0.2.11'));
    expect(yb.verdict).to.equal('drop');
    expect(ruleCounters(yb.counters)).to.deep.equal([]);
  });

  it('names fit nft, stay readable for Kubernetes names, and never meet', () => {
    expect(ruleCounterName({ namespace: 'x', name: 'web' }, 'ingress', 0)).to.equal('rule_in_x_web_0');
    expect(ruleCounterName({ cluster: 'web' }, 'egress', 3)).to.equal('crule_eg_web_3');
    const names = [
      ruleCounterName({ namespace: 'x', name: 'a_b' }, 'ingress', 0), ruleCounterName({ namespace: 'x_a', name: 'b' }, 'ingress', 0),
      ruleCounterName({ namespace: 'n'.repeat(63), name: 'p'.repeat(253) }, 'ingress', 0), ruleCounterName({ namespace: 'n'.repeat(63), name: 'p'.repeat(253) }, 'ingress', 1),
      ruleCounterName({ namespace: 'é', name: 'é'.repeat(200) }, 'egress', 12), ruleCounterName({ cluster: 'c'.repeat(253) }, 'egress', 0),
      ruleCounterName({ namespace: 'x', name: 'web' }, 'egress', 0), ruleCounterName({ namespace: 'x', name: 'web' }, 'ingress', 1),
    ];
    expect(new Set(names).size).to.equal(names.length);
    for (const n of names) {
      expect(Buffer.byteLength(n), n).to.be.at.most(NFT_NAME_MAX_BYTES);
      expect(isOwnObject(n), n).to.equal(true);
    }
  });
});

describe('per-rule counters across incremental transactions', () => {
  const counterCmds = (b: Batch | undefined) => (b?.nftables ?? []).filter((c) => Object.values(c)[0]!.counter !== undefined).map((c) => `${Object.keys(c)[0]} ${(Object.values(c)[0]!.counter as { name: string }).name}`);
  const setup = () => {
    const engine = new PolicyEngine({ node: 'n1', policyRuleCounters: true });
    const c = cluster(...world(web));
    for (const n of c.namespaces) engine.apply({ kind: 'namespace', op: 'upsert', namespace: n });
    for (const p of c.policies) engine.apply({ kind: 'networkpolicy', op: 'upsert', policy: p });
    for (const p of c.pods) engine.apply({ kind: 'pod', op: 'upsert', pod: p });
    const nft = new FakeNft({ strict: true });
    let gen = 1;
    nft.applyBatch(engine.fullBatch(gen));
    engine.commit();
    const step = (ev: ClusterEvent): Batch | undefined => {
      engine.apply(ev);
      const b = engine.deltaBatch(++gen);
      if (b) nft.applyBatch(b);
      engine.commit();
      return b;
    };
    const values = () => new Map([...JSON.parse(nft.listJson('inet', 'netpol_nft', 'table')!).nftables].filter((o: { counter?: unknown }) => o.counter).map((o: { counter: { name: string; packets: number } }) => [o.counter.name, o.counter.packets]));
    return { engine, nft, step, values, full: () => { nft.applyBatch(engine.fullBatch(++gen)); engine.commit(); } };
  };
  const podOf = (id: string, o: Parameters<typeof pod>[1]) => cluster(ns(id.split('/')[0]!, { ns: id.split('/')[0]! }), pod(id, o)).pods[0]!;
  const webInfo = (ingress: unknown[]) => cluster(ns('x', { ns: 'x' }), policy('x/web', { podSelector: podSel('a'), ingress })).policies[0]!;

  it('keep their counts when pods come and go (a new group included), and go with the rule that used them', () => {
    const { engine, nft, step, values, full } = setup();
    expect(engine.ruleCounters().map((r) => [r.counter, r.namespace, r.policy, r.direction, r.rule])).to.deep.equal([
      ['rule_in_x_web_0', 'x', 'web', 'ingress', 0], ['rule_in_x_web_1', 'x', 'web', 'ingress', 1], ['rule_in_x_web_2', 'x', 'web', 'ingress', 2],
    ]);
    nft.setCounter('rule_in_x_web_0', 7, 700);
    nft.setCounter('rule_in_x_web_1', 3, 300);
    // A second selected pod on this node (same group) and a new peer pod: elements only.
    const b1 = step({ kind: 'pod', op: 'upsert', pod: podOf('x/a2', { labels: { pod: 'a' }, node: 'n1', ips: ['192.0.2.19'] }) });
    const b2 = step({ kind: 'pod', op: 'upsert', pod: podOf('x/b2', { labels: { pod: 'b' }, node: 'n2', ips: ['192.0.2.18'] }) });
    // A selected pod with a named port: a group of its own (new chains), same policy rules.
    const b3 = step({ kind: 'pod', op: 'upsert', pod: podOf('x/a3', { labels: { pod: 'a' }, node: 'n1', ips: ['192.0.2.17'], ports: [{ name: 'no-such-port', port: 9 }] }) });
    for (const b of [b1, b2, b3]) expect(b, 'a delta').to.not.equal(undefined);
    expect([b1, b2, b3].flatMap(counterCmds).filter((c) => c.includes('rule_'))).to.deep.equal([]);
    expect(values().get('rule_in_x_web_0')).to.equal(7);
    // The group of x/a3 goes; the counters stay (x/a's group still uses them).
    expect(counterCmds(step({ kind: 'pod', op: 'delete', namespace: 'x', name: 'a3' })).filter((c) => c.includes('rule_'))).to.deep.equal([]);
    // The policy loses rule 1 (rule 2 becomes rule 1): rule_in_x_web_2 goes, the rest keep counting.
    const edit = step({ kind: 'networkpolicy', op: 'upsert', policy: webInfo([{ from: [{ podSelector: podSel('b') }], ports: [{ port: 80 }] }, { ports: [{ port: 'no-such-port' }] }]) });
    expect(counterCmds(edit).filter((c) => c.includes('rule_'))).to.deep.equal(['delete rule_in_x_web_2']);
    expect([values().get('rule_in_x_web_0'), values().get('rule_in_x_web_1')]).to.deep.equal([7, 3]);
    // A full replace (periodic, or after a failure) starts them from 0.
    full();
    expect([values().get('rule_in_x_web_0'), values().get('rule_in_x_web_1')]).to.deep.equal([0, 0]);
    // The policy goes: every rule counter goes in the same transaction as the rules using them.
    const gone = step({ kind: 'networkpolicy', op: 'delete', namespace: 'x', name: 'web' });
    expect(counterCmds(gone).filter((c) => c.includes('rule_')).sort()).to.deep.equal(['delete rule_in_x_web_0', 'delete rule_in_x_web_1']);
    expect(engine.ruleCounters()).to.deep.equal([]);
  });
});
