// The reader of `nft monitor trace` (compiler/trace.ts) without root: lines as nft 1.0.6
// prints them, decoded into policy terms with a real engine's chain map. The same decoder
// runs on the kernel's own lines in test/e2e/trace.test.ts.
import { expect } from 'chai';
import { engineFor } from '../../compiler/index.js';
import { decodePacket, parseTraceLine, tracedPacketText, type TraceEvent } from '../../compiler/trace.js';
import { cluster, policy, world } from './builders.js';

const events = (...lines: string[]): TraceEvent[] => lines.map((l) => parseTraceLine(l)!);

describe('trace decoding: nft monitor trace lines in policy terms', () => {
  const c = cluster(...world(policy('x/default-deny', { ingress: [] }), policy('x/web-from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] })));
  const e = engineFor(c, { node: 'n1' });
  const chain = e.ruleset().chains.find((ch) => ch.comments?.includes('ingress: isolated by x/default-deny, x/web-from-y') && ch.name.startsWith('in4o_'))!.name;
  const T = (id: string, ch: string, rest: string) => `trace id ${id} inet netpol_nft ${ch} ${rest}`;

  it('an allowed first packet: the rule that allowed it, the pods of its group', () => {
    const p = decodePacket(events(
      T('1', 'trace_1_2_3', 'packet: iif "p-y-a" oif "p-x-a" ip saddr 192.0.2.21 ip daddr 192.0.2.11 ip protocol tcp ip length 60 tcp sport 40000 tcp dport 80 tcp flags == syn'),
      T('1', 'trace_1_2_3', 'unknown rule handle 90 (verdict continue)'),
      T('1', 'trace_1_2_3', 'policy accept'),
      T('1', 'forward', 'rule ct direction original ip daddr vmap @in4_orig (verdict jump ' + chain + ')'),
      T('1', chain, 'rule ip saddr @peer_0123456789ab_4 return comment "x/web-from-y ingress[0] from[0]" (verdict return)'),
      T('1', 'forward', 'rule ct mark set ct mark & 0xff0000ff | 0x00000100 (verdict continue)'),
      T('1', 'forward', 'policy accept'),
    ), 'netpol_nft', e);
    expect(p.verdict).to.equal('accept');
    expect(p.headers).to.deep.include({ saddr: '192.0.2.21', daddr: '192.0.2.11', protocol: 'tcp', sport: 40000, dport: 80 });
    expect(p.steps).to.deep.equal([{ decision: 'allow', chain, rule: 'x/web-from-y ingress[0] from[0]', direction: 'ingress', pods: ['x/a'] }]);
    const text = tracedPacketText(p, (a) => ({ '192.0.2.21': 'y/a', '192.0.2.11': 'x/a' } as Record<string, string>)[a ?? ''] ?? a ?? '?').join('\n');
    expect(text).to.include('y/a (192.0.2.21 port 40000) -> x/a (192.0.2.11 port 80) tcp: allowed').and.include('ingress of x/a: allowed by x/web-from-y ingress[0] from[0]');
  });

  it('a later packet: decided earlier under this ruleset (the verdict cache)', () => {
    const p = decodePacket(events(
      T('2', 'trace_1_2_3', 'packet: ip saddr 192.0.2.11 ip daddr 192.0.2.21 ip protocol tcp tcp sport 80 tcp dport 40000'),
      T('2', 'forward', 'rule ct mark & 0x00ffff00 == 0x00000100 accept (verdict accept)'),
    ), 'netpol_nft', e);
    expect(p.verdict).to.equal('accept');
    expect(p.steps).to.deep.equal([{ decision: 'cache', chain: 'forward' }]);
    expect(tracedPacketText(p, (a) => a ?? '?').join('\n')).to.include('decided earlier under this ruleset');
  });

  it('a drop: the pod, the isolating policies, and the reason as the rule says it (or as its chain does)', () => {
    for (const dropLine of ['rule drop comment "ingress: isolated by x/default-deny, x/web-from-y" (verdict drop)', 'unknown rule handle 77 (verdict drop)']) {
      const p = decodePacket(events(
        T('3', chain, 'packet: ip saddr 192.0.2.31 ip daddr 192.0.2.11 ip protocol udp udp sport 5353 udp dport 81'),
        T('3', chain, dropLine),
      ), 'netpol_nft', e);
      expect(p.verdict).to.equal('drop');
      expect(p.steps).to.deep.equal([{ decision: 'drop', chain, rule: 'ingress: isolated by x/default-deny, x/web-from-y', direction: 'ingress', pods: ['x/a'], policies: ['x/default-deny', 'x/web-from-y'] }]);
    }
  });

  it('protocol numbers, as nft prints them without /etc/protocols (the agent\'s image), read as the names it prints with it', () => {
    for (const [line, protocol] of [
      ['ip saddr 192.0.2.21 ip daddr 192.0.2.11 ip protocol 6 ip length 60 tcp sport 40000 tcp dport 80', 'tcp'],
      ['ip saddr 192.0.2.21 ip daddr 192.0.2.11 ip protocol 17 udp sport 40000 udp dport 81', 'udp'],
      ['ip6 saddr 2001:db8::1 ip6 daddr 2001:db8::2 ip6 nexthdr 132 sctp sport 1 sctp dport 2', 'sctp'],
      ['ip6 saddr 2001:db8::1 ip6 daddr 2001:db8::2 ip6 nexthdr 58', 'ipv6-icmp'],
      ['ip6 saddr 2001:db8::1 ip6 daddr 2001:db8::2 ip6 nexthdr ipv6-icmp', 'ipv6-icmp'],
      ['ip saddr 192.0.2.1 ip daddr 192.0.2.2 ip protocol 47', '47'],
    ] as const) {
      expect(decodePacket(events(T('5', 'trace_1_2_3', `packet: ${line}`)), 'netpol_nft', e).headers.protocol, line).to.equal(protocol);
    }
  });

  it('lines of other tables and other output are ignored', () => {
    expect(parseTraceLine('trace id 4 ip filter INPUT rule accept (verdict accept)')).to.deep.include({ table: 'filter', verdict: 'accept' });
    expect(parseTraceLine('hello')).to.equal(undefined);
    const p = decodePacket(events(T('4', 'forward', 'policy accept'), 'trace id 4 ip filter INPUT policy drop'), 'netpol_nft', e);
    expect(p.verdict).to.equal('accept');
  });
});
