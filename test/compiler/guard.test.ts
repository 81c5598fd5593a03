// The guard chains without root (the packet interpreter; the wire cases are
// test/e2e/spoofing.test.ts): forged sources, link-local sources towards the node, and pods
// that no sync has seen yet.
import { expect } from 'chai';
import { compile } from '../../compiler/index.js';
import { cluster, ns, pod, policy } from './builders.js';
import { evalPacket, type Packet } from './packet-eval.js';

// x/a (n1) may send nothing; y/b (n1) is open. Node n1's pod CIDR is 192.0.2.0/24.
const c = cluster(ns('x'), ns('y'),
  pod('x/a', { labels: { app: 'a' }, ips: ['192.0.2.10', '2001:db8::10'] }),
  pod('y/b', { labels: { app: 'b' }, ips: ['192.0.2.11', '2001:db8::11'] }),
  policy('x/no-egress', { podSelector: { matchLabels: { app: 'a' } }, policyTypes: ['Egress'] }));
const pkt = (saddr: string, daddr: string, o: Partial<Packet> = {}): Packet => ({
  hook: 'forward', saddr, daddr, l4proto: 'udp', sport: 40000, dport: 53, ct: { state: 'new', direction: 'original', mark: 0 }, ...o,
});
const guarded = compile(c, { node: 'n1', podCidrs: ['192.0.2.0/24', '2001:db8::/64'] }).ruleset;
const verdict = (p: Packet, rs = guarded) => evalPacket(rs, p).verdict;

describe('compiler: the guard chains (address trust)', () => {
  it('a source the node would not route back through the interface is dropped, established or not', () => {
    expect(verdict(pkt('192.0.2.11', '203.0.113.50'))).to.equal('accept'); // y/b with its own address
    expect(verdict(pkt('192.0.2.11', '203.0.113.50', { rpf: false })), 'x/a forging y/b').to.equal('drop');
    expect(verdict(pkt('2001:db8::11', '2001:db8:ffff::50', { rpf: false, ct: { state: 'established', direction: 'original', mark: 0 } })), 'riding y/b\'s flow').to.equal('drop');
    // With the stamp in force too: the reverse-path check comes before the verdict cache.
    const stamped = compile(c, { node: 'n1', podCidrs: ['192.0.2.0/24', '2001:db8::/64'], generation: 5 }).ruleset;
    const gen = evalPacket(stamped, pkt('192.0.2.11', '203.0.113.50')).mark;
    expect(gen, 'an allowed packet stamps').to.not.equal(0);
    expect(verdict(pkt('192.0.2.11', '203.0.113.50', { ct: { state: 'established', direction: 'original', mark: gen } }), stamped)).to.equal('accept');
    expect(verdict(pkt('192.0.2.11', '203.0.113.50', { rpf: false, ct: { state: 'established', direction: 'original', mark: gen } }), stamped), 'riding y/b\'s stamped flow').to.equal('drop');
    const open = compile(c, { node: 'n1', antiSpoofing: false }).ruleset;
    expect(verdict(pkt('192.0.2.11', '203.0.113.50', { rpf: false }), open), '--no-anti-spoofing').to.equal('accept');
  });

  it('a link-local source may not open a connection to the node; ND and replies pass; the node itself on lo passes', () => {
    const toNode = (o: Partial<Packet>) => pkt('fe80::1234', '2001:db8:ff::1', { hook: 'input', ...o });
    expect(verdict(toNode({}))).to.equal('drop');
    expect(verdict(toNode({ l4proto: 'icmpv6', icmpType: 'nd-neighbor-solicit' }))).to.equal('accept');
    expect(verdict(toNode({ l4proto: 'icmpv6', icmpType: 'echo-request' }))).to.equal('drop');
    expect(verdict(toNode({ sport: 546, dport: 547 })), 'DHCPv6').to.equal('accept');
    expect(verdict(toNode({ ct: { state: 'established', direction: 'reply', mark: 0 } }))).to.equal('accept');
    expect(verdict(toNode({ iif: 'lo' }))).to.equal('accept');
    expect(verdict(pkt('0.0.0.0', '255.255.255.255', { hook: 'input', sport: 68, dport: 67, rpf: false })), 'DHCPv4').to.equal('accept');
  });

  it('an address of the pod CIDR that no sync has seen is dropped both ways; it may answer the node', () => {
    expect(verdict(pkt('192.0.2.99', '192.0.2.11')), 'unknown -> y/b').to.equal('drop');
    expect(verdict(pkt('192.0.2.11', '192.0.2.99')), 'y/b -> unknown').to.equal('drop');
    expect(verdict(pkt('2001:db8::99', '2001:db8::11')), 'unknown -> y/b IPv6').to.equal('drop');
    expect(verdict(pkt('192.0.2.99', '198.51.100.1', { hook: 'input' })), 'unknown -> the node').to.equal('drop');
    expect(verdict(pkt('192.0.2.99', '198.51.100.1', { hook: 'input', ct: { state: 'established', direction: 'reply', mark: 0 } })), 'unknown answering the node').to.equal('accept');
    expect(verdict(pkt('198.51.100.7', '192.0.2.11')), 'outside the pod CIDR').to.equal('accept');
    // Known, x/a's own egress policy decides.
    expect(verdict(pkt('192.0.2.10', '192.0.2.11'))).to.equal('drop');
    expect(verdict(pkt('192.0.2.11', '192.0.2.10'))).to.equal('accept');
  });

  it('the unknown-pod holds run after the verdict cache: a stamp is written only past them, and only a stamp in force skips them', () => {
    const stamped = compile(c, { node: 'n1', podCidrs: ['192.0.2.0/24', '2001:db8::/64'], generation: 5 }).ruleset;
    const first = evalPacket(stamped, pkt('192.0.2.99', '192.0.2.11'));
    expect(first.verdict, 'unknown -> y/b').to.equal('drop');
    expect(first.mark, 'a held packet leaves no stamp').to.equal(0);
    const allowed = evalPacket(stamped, pkt('192.0.2.11', '203.0.113.50'));
    const est = (mark: number) => evalPacket(stamped, pkt('192.0.2.99', '192.0.2.11', { ct: { state: 'established', direction: 'original', mark } }));
    expect(est(0).verdict, 'an unstamped established packet meets the holds').to.equal('drop');
    expect(est((allowed.mark + 1) >>> 0).verdict, 'an old stamp does not skip them').to.equal('drop');
    const hit = evalPacket(stamped, pkt('192.0.2.11', '203.0.113.50', { ct: { state: 'established', direction: 'original', mark: allowed.mark } }));
    expect(hit.verdict).to.equal('accept');
    expect(hit.trace.filter((t) => t.startsWith('chain ')), 'a cache hit walks forward only').to.deep.equal(['chain forward']);
  });

  it("takes the pod CIDRs from the node's own Node object (spec.podCIDRs), not from other nodes'", () => {
    const node = (name: string, podCIDRs: string[]) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDRs }, status: { addresses: [] } });
    const rs = compile(cluster(ns('x'), pod('x/a', { ips: ['192.0.2.10'] }), node('n1', ['192.0.2.0/25', '2001:db8::/64']), node('n2', ['192.0.2.128/25'])), { node: 'n1' }).ruleset;
    expect(rs.sets.find((s) => s.name === 'podcidr4')?.elems).to.deep.equal([{ prefix: { addr: '192.0.2.0', len: 25 } }]);
    expect(rs.sets.find((s) => s.name === 'podcidr6')?.elems).to.deep.equal([{ prefix: { addr: '2001:db8::', len: 64 } }]);
    expect(verdict(pkt('192.0.2.99', '203.0.113.1'), rs), 'unknown in n1\'s CIDR').to.equal('drop');
    expect(verdict(pkt('192.0.2.200', '203.0.113.1'), rs), "n2's CIDR").to.equal('accept');
  });
});
