// docs/design.md 1.10-1.12: statefulness, node and host-network traffic, pod life cycle.
import { expect } from 'chai';
import { compile, DEFAULT_CT_MARK_MASK, explain, ExplainError, sortCluster } from '../../compiler/index.js';
import { ACCEPT, jump, match, meta } from '../../compiler/nft/build.js';
import { allowed, allowedBoth, cluster, decide, ns, pod, policy, world } from './builders.js';
import { connectionVerdict, evalPacket, type Packet } from './packet-eval.js';

const podSel = (pod: string) => ({ matchLabels: { pod } });
const onlyFromB = policy('x/only-b', { podSelector: podSel('a'), ingress: [{ from: [{ podSelector: podSel('b') }] }] });

const pkt = (saddr: string, daddr: string, o: Partial<Packet> = {}): Packet => ({
  hook: 'forward', saddr, daddr, l4proto: 'tcp', sport: 40000, dport: 80, ct: { state: 'new', direction: 'original', mark: 0 }, ...o,
});

describe('compiler semantics: pod life cycle (docs/design.md 1.12)', () => {
  it('a pending pod without an IP takes no part; explain says why', () => {
    const c = cluster(...world(pod('x/waiting', { labels: { pod: 'b' }, phase: 'Pending' }), onlyFromB));
    expect(() => explain(c, 'x/waiting', 'x/a', 80, 'TCP')).to.throw(ExplainError, /no IP yet/);
    expect(compile(c, { node: 'n1' }).localPods.map((p) => p.name)).to.not.include('waiting');
  });
  it('a pending pod with an IP takes part, as a selected pod and as a peer', () => {
    const c = cluster(...world(pod('x/early', { labels: { pod: 'b' }, phase: 'Pending', ips: ['192.0.2.50', '2001:db8::50'] }),
      pod('x/early-a', { labels: { pod: 'a' }, phase: 'Pending', ips: ['192.0.2.51', '2001:db8::51'] }), onlyFromB));
    expect(allowedBoth(c, 'x/early', 'x/a', 80)).to.equal(true);
    expect(allowedBoth(c, 'y/a', 'x/early-a', 80)).to.equal(false);
    expect(allowedBoth(c, 'x/b', 'x/early-a', 80)).to.equal(true);
  });
  for (const phase of ['Succeeded', 'Failed']) {
    it(`a ${phase} pod leaves every set, and the IP it held belongs to its successor`, () => {
      const old = pod('x/old', { labels: { pod: 'b' }, phase, ips: ['192.0.2.60', '2001:db8::60'] });
      const c1 = cluster(...world(old, onlyFromB));
      expect(() => explain(c1, 'x/old', 'x/a', 80, 'TCP')).to.throw(ExplainError, new RegExp(`it is ${phase}`));
      expect(decide(c1, '192.0.2.60', 'x/a', 80).allowed).to.equal(false);
      const rs = compile(c1, { node: 'n1' }).ruleset;
      expect(JSON.stringify(rs)).to.not.contain('192.0.2.60').and.to.not.contain('2001:db8::60');
      expect(compile(c1, { node: 'n1' }).localPods.map((p) => p.name)).to.not.include('old');
      // IPs are reused: a new pod with other labels gets its own verdict, whatever the order
      const reuse = pod('x/new', { labels: { pod: 'c' }, ips: ['192.0.2.60', '2001:db8::60'] });
      for (const objs of [[old, reuse], [reuse, old]]) {
        const c2 = cluster(...world(...objs, onlyFromB));
        expect(decide(c2, '192.0.2.60', 'x/a', 80).allowed).to.equal(false);
        expect(decide(c2, '192.0.2.60', 'x/a', 80).explanation.from.pod).to.equal('x/new');
      }
      const heir = pod('x/heir', { labels: { pod: 'b' }, ips: ['192.0.2.60', '2001:db8::60'] });
      const c3 = cluster(...world(pod('x/old', { labels: { pod: 'c' }, phase, ips: ['192.0.2.60'] }), heir, onlyFromB));
      expect(allowedBoth(c3, 'x/heir', 'x/a', 80)).to.equal(true);
    });
  }
  describe('two live pods claiming one address (the API lags behind an IP reuse)', () => {
    const older = (labels: Record<string, string>) => pod('x/older', { labels, ips: ['192.0.2.60', '2001:db8::60'], created: '2026-11-22T06:00:00Z' });
    const newer = (labels: Record<string, string>) => pod('x/newer', { labels, ips: ['192.0.2.60'], created: '2026-11-22T06:30:00Z' });
    const locked = policy('x/c-locked', { podSelector: podSel('c'), ingress: [] });
    it('the newer pod owns the address as a peer; as a destination its node gives it the union of both claimants\' isolation', () => {
      for (const [o, n, wantTo, wantFrom] of [[{ pod: 'b' }, { pod: 'c' }, false, false], [{ pod: 'c' }, { pod: 'b' }, true, true]] as const) {
        const c = cluster(...world(older(o), newer(n), onlyFromB, locked));
        // explain has no node: it settles the address cluster-wide, on the newer pod.
        const to = explain(c, 'x/a', '192.0.2.60', 80, 'TCP');
        expect(to.to.pod).to.equal('x/newer');
        expect(to.allowed).to.equal(wantTo);
        // n1 holds both pods: whichever of them is locked, the address is locked there
        // (README, "Address claims"; claims.test.ts). Where explain allows (the older pod is
        // the locked one) the node is stricter: the documented difference.
        expect(connectionVerdict(c, '192.0.2.11', '192.0.2.60', 'TCP', 80).allowed, `x/a -> the contested address (older ${o.pod}, newer ${n.pod})`).to.equal(false);
        // As a source (a peer) the address is the newer pod's, on the node as in explain.
        const from = decide(c, '192.0.2.60', 'x/a', 80);
        expect(from.explanation.from.pod).to.equal('x/newer');
        expect(from.allowed).to.equal(wantFrom);
      }
    });
    it('the older pod keeps the addresses nobody else claims, and on its node the contested one too', () => {
      const c = cluster(...world(older({ pod: 'b' }), newer({ pod: 'c' }), onlyFromB));
      expect(decide(c, '2001:db8::60', '2001:db8::11', 80).allowed).to.equal(true);
      expect(decide(c, '2001:db8::60', '2001:db8::11', 80).explanation.from.pod).to.equal('x/older');
      const local = compile(c, { node: 'n1' }).localPods;
      expect(local.find((p) => p.name === 'older')!.ips).to.deep.equal(['192.0.2.60', '2001:db8::60']);
      expect(local.find((p) => p.name === 'newer')!.ips).to.deep.equal(['192.0.2.60']);
    });
    it('without timestamps the first by name owns the address as a peer; explain leaves the other out', () => {
      const c = cluster(...world(pod('x/m1', { labels: { pod: 'c' }, ips: ['192.0.2.60'] }), pod('x/m2', { labels: { pod: 'b' }, ips: ['192.0.2.60'] }), onlyFromB, locked));
      expect(() => explain(c, 'x/m2', 'x/a', 80, 'TCP')).to.throw(ExplainError);
      expect(decide(c, '192.0.2.60', 'x/a', 80).allowed).to.equal(false);
      expect(decide(c, 'x/a', '192.0.2.60', 80).allowed).to.equal(false);
      // On n1 both hold it (m2 is not isolated, m1 is locked: the address is locked).
      expect(compile(c, { node: 'n1' }).localPods.filter((p) => p.ips.includes('192.0.2.60')).map((p) => p.name)).to.deep.equal(['m1', 'm2']);
    });
    it('sortCluster settles no claims: every pod object keeps its identity and its addresses', () => {
      const c = cluster(...world(older({ pod: 'b' }), newer({ pod: 'c' })));
      const again = sortCluster(c);
      expect(again.pods.filter((p, i) => p === c.pods[i]).length).to.equal(c.pods.length);
      expect(again.pods.find((p) => p.name === 'older')!.ips).to.deep.equal(['192.0.2.60', '2001:db8::60']);
    });
  });
  it('a finished pod that a policy selects is not isolated any more (not in the maps)', () => {
    const c = cluster(...world(pod('x/done', { labels: { pod: 'a' }, phase: 'Succeeded', ips: ['192.0.2.61'] }), onlyFromB));
    const r = compile(c, { node: 'n1' });
    expect(r.localPods.map((p) => `${p.namespace}/${p.name}`)).to.deep.equal(['x/a', 'x/b', 'z/a']);
  });
});

describe('compiler semantics: host network and node traffic (docs/design.md 1.11)', () => {
  const host = pod('x/host', { labels: { pod: 'a' }, node: 'n1', hostNetwork: true, ips: ['198.51.100.1'] });
  it('a host-network pod is never isolated, even when a policy selects it', () => {
    const c = cluster(...world(host, policy('x/deny', { podSelector: {}, ingress: [], egress: [], policyTypes: ['Ingress', 'Egress'] })));
    const r = compile(c, { node: 'n1' });
    expect(r.localPods.map((p) => p.name)).to.not.include('host');
    expect(JSON.stringify(r.ruleset.maps)).to.not.contain('198.51.100.1');
    // named as a pod, it stands for its node's address: no pod, so nothing restricts its egress
    const e = decide(c, 'x/host', 'y/a', 80).explanation;
    expect(e.from).to.deep.equal({ ip: '198.51.100.1' });
    expect(e.egress.isolated).to.equal(false);
    expect(e.allowed).to.equal(true); // y/a is not isolated
    expect(decide(c, 'x/host', 'x/a', 80).allowed).to.equal(true); // x/a is isolated, but on x/host's own node
  });
  it('as a peer, a host-network pod is its node\'s address: pod selectors never match it, ipBlocks do', () => {
    // x/remote runs on n2's network; x/b is on n1, so n2 is just another address to it
    const remote = pod('x/remote', { labels: { pod: 'a' }, node: 'n2', hostNetwork: true, ips: ['198.51.100.2'] });
    const c = cluster(...world(remote, policy('x/p', { podSelector: podSel('b'), ingress: [{ from: [{ podSelector: podSel('a') }] }] })));
    expect(decide(c, '198.51.100.2', 'x/b', 80).allowed).to.equal(false);
    expect(allowed(c, 'x/a', 'x/b', 80)).to.equal(true);
    const d = cluster(...world(remote, policy('x/p', { podSelector: podSel('b'), ingress: [{ from: [{ ipBlock: { cidr: '198.51.100.0/24' } }] }] })));
    expect(decide(d, '198.51.100.2', 'x/b', 80).allowed).to.equal(true);
  });
  it('traffic a node originates to its own pods is never filtered (no output hook)', () => {
    const c = cluster(...world(policy('x/deny', { podSelector: {}, ingress: [] })));
    const rs = compile(c, { node: 'n1' }).ruleset;
    expect(rs.chains.filter((ch) => ch.base).map((ch) => ch.base!.hook).sort()).to.deep.equal(['forward', 'input']);
    // a remote node's address is just an address: denied like any other source
    expect(decide(c, '198.51.100.2', 'x/a', 80).allowed).to.equal(false);
  });
  it('explain and the packet path agree: a node reaches its own pods whatever the policy, not other nodes\' pods', () => {
    // 198.51.100.1 is n1's address (x/host runs on n1's network); x/a is on n1, y/a on n2.
    const c = cluster(...world(host, policy('x/deny', { podSelector: {}, ingress: [] }), policy('y/deny', { podSelector: {}, ingress: [] })));
    const own = decide(c, '198.51.100.1', 'x/a', 80);
    expect(own.allowed).to.equal(true);
    expect(own.explanation.ingress.isolated).to.equal(true);
    expect(own.explanation.ingress.reason).to.contain("own node n1");
    expect(own.packets.nodes[0]!.original.trace[0]).to.contain('output, not hooked');
    expect(decide(c, '198.51.100.1', 'y/a', 80).allowed).to.equal(false);
    // a pod's traffic to its own node is egress, checked in the input hook
    const eg = cluster(...world(host, policy('x/eg', { podSelector: podSel('a'), policyTypes: ['Egress'], egress: [] })));
    const toNode = decide(eg, 'x/a', '198.51.100.1', 10250);
    expect(toNode.allowed).to.equal(false);
    expect(toNode.packets.nodes[0]!.original.trace[0]).to.contain('"hook":"input"');
  });
  it('the input hook enforces egress of local pods towards the node\'s own addresses', () => {
    const nodeIp = '198.51.100.1';
    const deny = compile(cluster(...world(policy('x/eg', { podSelector: podSel('a'), policyTypes: ['Egress'], egress: [] }))), { node: 'n1' }).ruleset;
    const r = evalPacket(deny, pkt('192.0.2.11', nodeIp, { hook: 'input', dport: 10250 }));
    expect(r.verdict).to.equal('drop');
    expect(r.counters).to.deep.equal(['drop_eg_x_a']);
    expect(evalPacket(deny, pkt('192.0.2.12', nodeIp, { hook: 'input', dport: 10250 })).verdict).to.equal('accept');
    const allow = compile(cluster(...world(policy('x/eg', { podSelector: podSel('a'), policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: `${nodeIp}/32` } }], ports: [{ port: 10250 }] }] }))), { node: 'n1' }).ruleset;
    expect(evalPacket(allow, pkt('192.0.2.11', nodeIp, { hook: 'input', dport: 10250 })).verdict).to.equal('accept');
    expect(evalPacket(allow, pkt('192.0.2.11', nodeIp, { hook: 'input', dport: 22 })).verdict).to.equal('drop');
    // ingress isolation does not stop a pod talking to its node (that is egress only)
    const inOnly = compile(cluster(...world(policy('x/in', { podSelector: podSel('a'), ingress: [] }))), { node: 'n1' }).ruleset;
    expect(evalPacket(inOnly, pkt('192.0.2.11', nodeIp, { hook: 'input' })).verdict).to.equal('accept');
  });
});

describe('compiler semantics: statefulness (docs/design.md 1.10)', () => {
  const c = cluster(...world(onlyFromB));
  const rs = compile(c, { node: 'n1' });

  it('replies of an allowed connection pass; a denied connection drops and counts at the pod', () => {
    const v = connectionVerdict(c, '192.0.2.12', '192.0.2.11', 'TCP', 80);
    expect(v.allowed).to.equal(true);
    const d = evalPacket(rs.ruleset, pkt('192.0.2.21', '192.0.2.11'));
    expect(d.verdict).to.equal('drop');
    expect(d.counters).to.deep.equal(['drop_in_x_a']);
  });
  it('an allowed first packet stamps the generation; later packets with it are accepted at once', () => {
    const first = evalPacket(rs.ruleset, pkt('192.0.2.12', '192.0.2.11'));
    expect(first.verdict).to.equal('accept');
    expect(first.mark).to.equal(rs.generation);
    const next = evalPacket(rs.ruleset, pkt('192.0.2.12', '192.0.2.11', { ct: { state: 'established', direction: 'original', mark: first.mark } }));
    // The reverse-path check (in forward) runs on every packet; the unknown-pod holds
    // (guard_fwd) and the group chains only on packets the cache does not accept.
    expect(next.trace.filter((t) => t.startsWith('chain '))).to.deep.equal(['chain forward']);
    expect(next.verdict).to.equal('accept');
  });
  it('other bits of the conntrack mark are kept', () => {
    const first = evalPacket(rs.ruleset, pkt('192.0.2.12', '192.0.2.11', { ct: { state: 'new', direction: 'original', mark: 0x80000001 } }));
    expect(first.mark).to.equal((0x80000001 | rs.generation) >>> 0);
  });
  it('a policy change revokes an established connection at its next packet (no fast path)', () => {
    const stamped = evalPacket(rs.ruleset, pkt('192.0.2.12', '192.0.2.11')).mark;
    const later = compile(cluster(...world(policy('x/only-b', { podSelector: podSel('a'), ingress: [] }))), { node: 'n1', generation: 2 });
    expect(later.generation).to.not.equal(rs.generation);
    const est = { state: 'established', direction: 'original', mark: stamped } as const;
    expect(evalPacket(later.ruleset, pkt('192.0.2.12', '192.0.2.11', { ct: est })).verdict).to.equal('drop');
    const reply = { state: 'established', direction: 'reply', mark: stamped } as const;
    expect(evalPacket(later.ruleset, pkt('192.0.2.11', '192.0.2.12', { sport: 80, dport: 40000, ct: reply })).verdict).to.equal('drop');
  });
  it('with the established fast path, established packets pass whatever the policy (documented trade-off)', () => {
    const later = compile(cluster(...world(policy('x/only-b', { podSelector: podSel('a'), ingress: [] }))), { node: 'n1', establishedFastPath: true });
    const est = { state: 'established', direction: 'original', mark: 0 } as const;
    expect(evalPacket(later.ruleset, pkt('192.0.2.12', '192.0.2.11', { ct: est })).verdict).to.equal('accept');
    expect(evalPacket(later.ruleset, pkt('192.0.2.12', '192.0.2.11')).verdict).to.equal('drop');
    expect(connectionVerdict(c, '192.0.2.12', '192.0.2.11', 'TCP', 80, { establishedFastPath: true }).allowed).to.equal(true);
  });
  it('the generation is the caller\'s: the same cluster and generation compile to the same bytes', () => {
    const again = compile(cluster(...world(onlyFromB)), { node: 'n1' });
    expect(again.generation).to.equal(rs.generation);
    expect(JSON.stringify(again.ruleset)).to.equal(JSON.stringify(rs.ruleset));
    expect(rs.generation & ~DEFAULT_CT_MARK_MASK).to.equal(0);
    expect(rs.generation).to.not.equal(0);
  });
  it('invalid and related packets: invalid dropped, related accepted, before any policy', () => {
    expect(evalPacket(rs.ruleset, pkt('192.0.2.12', '192.0.2.11', { ct: { state: 'invalid', direction: 'original', mark: 0 } })).verdict).to.equal('drop');
    expect(evalPacket(rs.ruleset, pkt('192.0.2.21', '192.0.2.11', { l4proto: 'icmp', ct: { state: 'related', direction: 'original', mark: 0 } })).verdict).to.equal('accept');
  });
  it('a port-restricted rule does not admit ICMP; an all-ports rule does', () => {
    const ports = compile(cluster(...world(policy('x/p', { podSelector: podSel('a'), ingress: [{ ports: [{ port: 80 }] }] }))), { node: 'n1' }).ruleset;
    expect(evalPacket(ports, pkt('192.0.2.21', '192.0.2.11', { l4proto: 'icmp' })).verdict).to.equal('drop');
    const peers = compile(cluster(...world(policy('x/p', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: {} }] }] }))), { node: 'n1' }).ruleset;
    expect(evalPacket(peers, pkt('192.0.2.21', '192.0.2.11', { l4proto: 'icmp' })).verdict).to.equal('accept');
  });
});

describe('packet evaluator (test tool) sanity', () => {
  it('refuses expressions it does not model instead of guessing', () => {
    const rs = compile(cluster(ns('x')), { node: 'n1' }).ruleset;
    const bad = { ...rs, chains: rs.chains.map((ch) => (ch.name === 'forward' ? { ...ch, rules: [[match(meta('iifname'), 'eth0'), ACCEPT]] } : ch)) };
    expect(() => evalPacket(bad, pkt('192.0.2.1', '192.0.2.2'))).to.throw(/not modelled/);
  });
  it('fails on a jump to a chain that does not exist', () => {
    const rs = compile(cluster(ns('x')), { node: 'n1' }).ruleset;
    const bad = { ...rs, chains: rs.chains.map((ch) => (ch.name === 'forward' ? { ...ch, rules: [[jump('nowhere')]] } : ch)) };
    expect(() => evalPacket(bad, pkt('192.0.2.1', '192.0.2.2'))).to.throw(/nowhere/);
  });
});
