// docs/design.md 1.5, 1.6, 1.13, 1.14: peers, label selectors, address families and namespaces.
import { expect } from 'chai';
import { compile, engineFor, explain, formatProblem } from '../../compiler/index.js';
import { allowed, allowedBoth, cluster, decide, ns, pod, policy, policyProblems, world } from './builders.js';

const podSel = (pod: string) => ({ matchLabels: { pod } });
const nsSel = (n: string) => ({ matchLabels: { ns: n } });
/** x/a admits ingress from these peers only. */
const admit = (...from: unknown[]) => policy('x/admit', { podSelector: podSel('a'), ingress: [{ from }] });

describe('compiler semantics: peers (docs/design.md 1.5)', () => {
  it('podSelector alone selects pods of the policy\'s own namespace only', () => {
    const c = cluster(...world(admit({ podSelector: podSel('b') })));
    expect(allowedBoth(c, 'x/b', 'x/a', 80)).to.equal(true);
    expect(allowedBoth(c, 'y/b', 'x/a', 80)).to.equal(false);
    expect(allowedBoth(c, 'z/b', 'x/a', 80)).to.equal(false);
  });
  it('an empty podSelector alone is every pod of the own namespace', () => {
    const c = cluster(...world(admit({ podSelector: {} })));
    expect(allowedBoth(c, 'x/b', 'x/a', 80)).to.equal(true);
    expect(allowedBoth(c, 'y/a', 'x/a', 80)).to.equal(false);
  });
  it('namespaceSelector alone selects every pod of the matching namespaces', () => {
    const c = cluster(...world(admit({ namespaceSelector: nsSel('y') })));
    expect(allowedBoth(c, 'y/a', 'x/a', 80)).to.equal(true);
    expect(allowedBoth(c, 'y/b', 'x/a', 80)).to.equal(true);
    expect(allowedBoth(c, 'x/b', 'x/a', 80)).to.equal(false);
    expect(allowedBoth(c, 'z/a', 'x/a', 80)).to.equal(false);
  });
  it('an empty namespaceSelector is every pod of every namespace, but no outside address', () => {
    const c = cluster(...world(admit({ namespaceSelector: {} })));
    for (const p of ['x/b', 'y/a', 'z/b']) expect(allowedBoth(c, p, 'x/a', 80), p).to.equal(true);
    expect(decide(c, '203.0.113.7', 'x/a', 80).allowed).to.equal(false);
  });
  it('namespaceSelector AND podSelector in one peer, OR across two peers', () => {
    const and = cluster(...world(admit({ namespaceSelector: nsSel('y'), podSelector: podSel('b') })));
    expect(allowedBoth(and, 'y/b', 'x/a', 80)).to.equal(true);
    expect(allowedBoth(and, 'y/a', 'x/a', 80)).to.equal(false);
    expect(allowedBoth(and, 'x/b', 'x/a', 80)).to.equal(false);
    expect(allowedBoth(and, 'z/b', 'x/a', 80)).to.equal(false);
    const or = cluster(...world(admit({ namespaceSelector: nsSel('y') }, { podSelector: podSel('b') })));
    expect(allowedBoth(or, 'y/b', 'x/a', 80)).to.equal(true);
    expect(allowedBoth(or, 'y/a', 'x/a', 80)).to.equal(true);
    expect(allowedBoth(or, 'x/b', 'x/a', 80)).to.equal(true);
    expect(allowedBoth(or, 'z/b', 'x/a', 80)).to.equal(false);
  });
  it('the same AND/OR distinction for egress', () => {
    const eg = (to: unknown[]) => policy('x/eg', { podSelector: podSel('a'), policyTypes: ['Egress'], egress: [{ to }] });
    const and = cluster(...world(eg([{ namespaceSelector: nsSel('z'), podSelector: podSel('a') }])));
    expect(allowedBoth(and, 'x/a', 'z/a', 80)).to.equal(true);
    expect(allowedBoth(and, 'x/a', 'z/b', 80)).to.equal(false);
    expect(allowedBoth(and, 'x/a', 'x/b', 80)).to.equal(false);
    const or = cluster(...world(eg([{ namespaceSelector: nsSel('z') }, { podSelector: podSel('b') }])));
    expect(allowedBoth(or, 'x/a', 'z/b', 80)).to.equal(true);
    expect(allowedBoth(or, 'x/a', 'x/b', 80)).to.equal(true);
    expect(allowedBoth(or, 'x/a', 'y/b', 80)).to.equal(false);
  });

  describe('ipBlock', () => {
    it('an address list with holes is one shared named interval set, whatever the number of rules and groups reading it', () => {
      const block = { cidr: '198.51.100.0/24', except: ['198.51.100.64/26'] };
      const other = { cidr: '198.51.100.0/24', except: ['198.51.100.128/25', '198.51.100.16/32'] };
      const objs = world(
        admit({ ipBlock: block }),
        policy('x/admit-b', { podSelector: podSel('b'), ingress: [{ from: [{ ipBlock: block }], ports: [{ port: 81 }] }] }),
        policy('z/admit', { podSelector: podSel('a'), ingress: [{ from: [{ ipBlock: other }] }, { from: [{ ipBlock: { cidr: '203.0.113.0/24' } }] }] }),
      );
      const c = cluster(...objs);
      const e = engineFor(c, { node: 'n1' });
      const rs = e.ruleset();
      const cidrSets = rs.sets.filter((x) => x.name.startsWith('cidr_'));
      expect(cidrSets.map((x) => x.elems), 'one set per distinct list').to.have.deep.members([
        [{ prefix: { addr: '198.51.100.0', len: 26 } }, { prefix: { addr: '198.51.100.128', len: 25 } }],
        [{ prefix: { addr: '198.51.100.0', len: 28 } }, { range: ['198.51.100.17', '198.51.100.127'] }],
      ]);
      for (const x of cidrSets) expect(x).to.deep.include({ type: 'ipv4_addr', flags: ['interval'] });
      const shared = cidrSets.find((x) => JSON.stringify(x.elems).includes('"len":26'))!.name;
      const readers = rs.chains.filter((ch) => JSON.stringify(ch.rules).includes(`"${shared}"`));
      // x/a's and x/b's groups, original and reply chains each.
      expect(readers.map((ch) => ch.name.slice(0, 4)).sort()).to.deep.equal(['in4o', 'in4o', 'in4r', 'in4r']);
      // No anonymous address set is left in any rule; one range stays a plain value.
      expect(JSON.stringify(rs.chains.map((ch) => ch.rules))).to.not.match(/"saddr"\}\},"right":\{"set"/);
      expect(e.setOrigin(shared)).to.deep.include({ kind: 'cidr', policies: ['x/admit', 'x/admit-b'] });
      // Holes and edges through the packet interpreter (the named set's elements).
      expect(decide(c, '198.51.100.63', 'x/a', 80).allowed).to.equal(true);
      expect(decide(c, '198.51.100.64', 'x/a', 80).allowed).to.equal(false);
      expect(decide(c, '198.51.100.127', 'x/a', 80).allowed).to.equal(false);
      expect(decide(c, '198.51.100.128', 'x/a', 80).allowed).to.equal(true);
      // The set stays while one group reads it and goes with the last.
      e.commit();
      e.apply({ kind: 'networkpolicy', op: 'delete', namespace: 'x', name: 'admit' });
      expect(JSON.stringify(e.deltaBatch(2)?.nftables ?? [])).to.not.include(shared);
      e.commit();
      e.apply({ kind: 'networkpolicy', op: 'delete', namespace: 'x', name: 'admit-b' });
      expect(e.deltaBatch(3)!.nftables).to.deep.include({ delete: { set: { family: 'inet', table: e.table, name: shared } } });
      e.commit();
      expect(e.ruleset().sets.map((x) => x.name)).to.not.include(shared);
    });
    it('cidr minus except, for IPv4', () => {
      const c = cluster(...world(admit({ ipBlock: { cidr: '198.51.100.0/24', except: ['198.51.100.128/25', '198.51.100.16/32'] } })));
      expect(decide(c, '198.51.100.1', 'x/a', 80).allowed).to.equal(true);
      expect(decide(c, '198.51.100.127', 'x/a', 80).allowed).to.equal(true);
      expect(decide(c, '198.51.100.16', 'x/a', 80).allowed).to.equal(false);
      expect(decide(c, '198.51.100.15', 'x/a', 80).allowed).to.equal(true);
      expect(decide(c, '198.51.100.17', 'x/a', 80).allowed).to.equal(true);
      expect(decide(c, '198.51.100.128', 'x/a', 80).allowed).to.equal(false);
      expect(decide(c, '198.51.100.255', 'x/a', 80).allowed).to.equal(false);
      expect(decide(c, '198.51.101.0', 'x/a', 80).allowed).to.equal(false);
      expect(decide(c, '198.51.99.255', 'x/a', 80).allowed).to.equal(false);
    });
    it('cidr minus except, for IPv6, with host bits set in the cidr', () => {
      const c = cluster(...world(admit({ ipBlock: { cidr: '2001:db8:1::5/48', except: ['2001:db8:1:ff::/64'] } })));
      expect(decide(c, '2001:db8:1::1', 'x/a', 80).allowed).to.equal(true);
      expect(decide(c, '2001:db8:1:ffff:ffff:ffff:ffff:ffff', 'x/a', 80).allowed).to.equal(true);
      expect(decide(c, '2001:db8:1:ff::9', 'x/a', 80).allowed).to.equal(false);
      expect(decide(c, '2001:db8:2::1', 'x/a', 80).allowed).to.equal(false);
    });
    it('a block of one family never matches the other family', () => {
      const v4 = cluster(...world(admit({ ipBlock: { cidr: '0.0.0.0/0' } })));
      expect(decide(v4, 'y/a', 'x/a', 80).allowed).to.equal(true);
      expect(decide(v4, '2001:db8::21', '2001:db8::11', 80).allowed).to.equal(false);
      expect(decide(v4, '2001:db8:ffff::1', 'x/a', 80).allowed).to.equal(false);
      const v6 = cluster(...world(admit({ ipBlock: { cidr: '::/0' } })));
      expect(decide(v6, '2001:db8::21', '2001:db8::11', 80).allowed).to.equal(true);
      expect(decide(v6, 'y/a', 'x/a', 80).allowed).to.equal(false);
      // an IPv4-mapped IPv6 block is IPv6: it does not match IPv4 packets
      const mapped = cluster(...world(admit({ ipBlock: { cidr: '::ffff:192.0.2.0/120' } })));
      expect(decide(mapped, 'y/a', 'x/a', 80).allowed).to.equal(false);
    });
    it('a block covering pod addresses matches those pods as addresses', () => {
      const c = cluster(...world(admit({ ipBlock: { cidr: '192.0.2.16/29' } })));
      expect(decide(c, 'y/a', 'x/a', 80).allowed).to.equal(true); // 192.0.2.21
      expect(decide(c, 'z/a', 'x/a', 80).allowed).to.equal(false); // 192.0.2.31
    });
    it('legacy IPv4 forms the API server still accepts: leading zeros are decimal', () => {
      const c = cluster(...world(admit({ ipBlock: { cidr: '198.051.100.000/24', except: ['198.51.100.010/31'] } })));
      expect(policyProblems(c)).to.deep.equal([]);
      expect(decide(c, '198.51.100.9', 'x/a', 80).allowed).to.equal(true);
      expect(decide(c, '198.51.100.10', 'x/a', 80).allowed).to.equal(false);
      expect(decide(c, '198.51.100.12', 'x/a', 80).allowed).to.equal(true);
      expect(decide(c, '198.41.100.9', 'x/a', 80).allowed).to.equal(false);
    });
    it('overlapping and nested excepts, both families', () => {
      const c = cluster(...world(admit(
        { ipBlock: { cidr: '198.51.100.0/24', except: ['198.51.100.0/26', '198.51.100.16/28', '198.51.100.32/27', '198.51.100.255/32'] } },
        { ipBlock: { cidr: '2001:db8:7::/48', except: ['2001:db8:7::/64', '2001:db8:7::/96', '2001:db8:7:1::/64'] } },
      )));
      for (const [ip, want] of [['198.51.100.0', false], ['198.51.100.20', false], ['198.51.100.63', false], ['198.51.100.64', true], ['198.51.100.254', true], ['198.51.100.255', false],
        ['2001:db8:7::1', false], ['2001:db8:7:1::1', false], ['2001:db8:7:2::1', true], ['2001:db8:7:ffff::1', true]] as const) {
        expect(decide(c, ip, 'x/a', 80).allowed, ip).to.equal(want);
      }
    });
    it('a /32 block and a /128 block match one address', () => {
      const c = cluster(...world(admit({ ipBlock: { cidr: '203.0.113.5/32' } }, { ipBlock: { cidr: '2001:db8:9::5/128' } })));
      expect(decide(c, '203.0.113.5', 'x/a', 80).allowed).to.equal(true);
      expect(decide(c, '203.0.113.4', 'x/a', 80).allowed).to.equal(false);
      expect(decide(c, '2001:db8:9::5', 'x/a', 80).allowed).to.equal(true);
      expect(decide(c, '2001:db8:9::6', 'x/a', 80).allowed).to.equal(false);
    });
    it('overlapping blocks in several rules and policies merge without losing addresses', () => {
      const c = cluster(...world(
        admit({ ipBlock: { cidr: '198.51.100.0/24', except: ['198.51.100.0/26'] } }, { ipBlock: { cidr: '198.51.100.0/25' } }),
        policy('x/more', { podSelector: podSel('a'), ingress: [{ from: [{ ipBlock: { cidr: '198.51.100.32/27', except: ['198.51.100.40/29'] } }], ports: [{ port: 80 }] }] }),
      ));
      for (const [ip, want] of [['198.51.100.1', true], ['198.51.100.41', true], ['198.51.100.200', true], ['198.51.101.1', false]] as const) {
        expect(decide(c, ip, 'x/a', 81).allowed, ip).to.equal(want);
      }
    });
    it('egress to an ipBlock minus except, both families', () => {
      const c = cluster(...world(policy('x/eg', { podSelector: podSel('a'), policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.0/28'] } }, { ipBlock: { cidr: '2001:db8:5::/48' } }] }] })));
      expect(decide(c, 'x/a', '203.0.113.20', 443).allowed).to.equal(true);
      expect(decide(c, 'x/a', '203.0.113.2', 443).allowed).to.equal(false);
      expect(decide(c, 'x/a', '2001:db8:5::1', 443).allowed).to.equal(true);
      expect(decide(c, 'x/a', '2001:db8:6::1', 443).allowed).to.equal(false);
      expect(allowedBoth(c, 'x/a', 'y/a', 80)).to.equal(false);
    });
  });
});

describe('compiler semantics: label selectors (docs/design.md 1.6)', () => {
  const labelled = (...extra: Record<string, unknown>[]) => [
    ns('x', { ns: 'x' }),
    pod('x/target', { labels: { role: 'db' }, ips: ['192.0.2.100', '2001:db8::100'] }),
    pod('x/none', { labels: {}, ips: ['192.0.2.101', '2001:db8::101'] }),
    pod('x/blue', { labels: { color: 'blue' }, ips: ['192.0.2.102', '2001:db8::102'] }),
    pod('x/red', { labels: { color: 'red', tier: 'web' }, ips: ['192.0.2.103', '2001:db8::103'] }),
    ...extra,
  ];
  const who = (expr: unknown) => {
    const c = cluster(...(labelled(policy('x/p', { podSelector: { matchLabels: { role: 'db' } }, ingress: [{ from: [{ podSelector: expr }] }] })) as never[]));
    return ['x/none', 'x/blue', 'x/red'].filter((p) => allowedBoth(c, p, 'x/target', 80));
  };
  it('NotIn matches a pod without the key', () => {
    expect(who({ matchExpressions: [{ key: 'color', operator: 'NotIn', values: ['red'] }] })).to.deep.equal(['x/none', 'x/blue']);
  });
  it('DoesNotExist matches only pods without the key', () => {
    expect(who({ matchExpressions: [{ key: 'color', operator: 'DoesNotExist' }] })).to.deep.equal(['x/none']);
  });
  it('In does not match a pod without the key', () => {
    expect(who({ matchExpressions: [{ key: 'color', operator: 'In', values: ['red', 'blue'] }] })).to.deep.equal(['x/blue', 'x/red']);
  });
  it('Exists does not match a pod without the key', () => {
    expect(who({ matchExpressions: [{ key: 'color', operator: 'Exists' }] })).to.deep.equal(['x/blue', 'x/red']);
  });
  it('matchLabels AND every matchExpressions item', () => {
    expect(who({ matchLabels: { color: 'red' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] })).to.deep.equal(['x/red']);
    expect(who({ matchLabels: { color: 'red' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] })).to.deep.equal([]);
    expect(who({ matchExpressions: [{ key: 'color', operator: 'Exists' }, { key: 'tier', operator: 'DoesNotExist' }] })).to.deep.equal(['x/blue']);
  });
  it('an empty selector and an empty matchLabels select everything', () => {
    expect(who({})).to.deep.equal(['x/none', 'x/blue', 'x/red']);
    expect(who({ matchLabels: {} })).to.deep.equal(['x/none', 'x/blue', 'x/red']);
    expect(who({ matchLabels: {}, matchExpressions: [] })).to.deep.equal(['x/none', 'x/blue', 'x/red']);
  });
  it('a label value is compared exactly (case, empty value)', () => {
    expect(who({ matchLabels: { color: 'Red' } })).to.deep.equal([]);
    const c = cluster(...(labelled(pod('x/empty', { labels: { color: '' }, ips: ['192.0.2.104'] }), policy('x/p', { podSelector: { matchLabels: { role: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { color: '' } } }] }] })) as never[]));
    expect(allowed(c, 'x/empty', 'x/target', 80)).to.equal(true);
    expect(allowed(c, 'x/none', 'x/target', 80)).to.equal(false);
  });
  it('the policy\'s own podSelector uses the same operators', () => {
    const c = cluster(...(labelled(policy('x/p', { podSelector: { matchExpressions: [{ key: 'color', operator: 'NotIn', values: ['blue'] }] }, ingress: [] })) as never[]));
    const isolated = ['x/target', 'x/none', 'x/blue', 'x/red'].filter((p) => decide(c, '203.0.113.1', p, 80).explanation.ingress.isolated);
    expect(isolated).to.deep.equal(['x/target', 'x/none', 'x/red']);
  });
  it('namespaces carry kubernetes.io/metadata.name, with or without a Namespace object', () => {
    const c = cluster(
      ns('x'), pod('x/a', { ips: ['192.0.2.11'] }),
      // no Namespace object for y: the name label still holds
      pod('y/a', { ips: ['192.0.2.21'] }), pod('z/a', { ips: ['192.0.2.31'] }), ns('z', { team: 'z' }),
      policy('x/p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }, { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['z'] }] } }] }] }),
    );
    expect(allowed(c, 'y/a', 'x/a', 80)).to.equal(true);
    expect(allowed(c, 'z/a', 'x/a', 80)).to.equal(true);
  });
  it('a namespace cannot fake another\'s kubernetes.io/metadata.name', () => {
    const c = cluster(ns('x'), ns('evil', { 'kubernetes.io/metadata.name': 'y' }), pod('x/a', { ips: ['192.0.2.11'] }), pod('evil/a', { ips: ['192.0.2.66'] }),
      policy('x/p', { ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }] }));
    expect(allowed(c, 'evil/a', 'x/a', 80)).to.equal(false);
  });
});

describe('compiler semantics: namespaces (docs/design.md 1.14)', () => {
  it('a policy selects pods only in its own namespace', () => {
    const c = cluster(...world(policy('x/all', { podSelector: {}, ingress: [] })));
    expect(allowedBoth(c, 'z/a', 'x/a', 80)).to.equal(false);
    expect(allowedBoth(c, 'z/a', 'y/a', 80)).to.equal(true);
    expect(decide(c, 'z/a', 'y/a', 80).explanation.ingress.isolated).to.equal(false);
  });
  it('a namespace label change re-evaluates every peer set that a namespace selector touches', () => {
    const p = policy('x/p', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }] }], egress: [{ to: [{ namespaceSelector: { matchLabels: { env: 'prod' } }, podSelector: podSel('b') }] }] });
    const base = world(p).filter((o) => !(o.kind === 'Namespace' && (o.metadata as { name: string }).name === 'y'));
    const before = cluster(...base, ns('y', { ns: 'y' }));
    const after = cluster(...base, ns('y', { ns: 'y', env: 'prod' }));
    expect(allowedBoth(before, 'y/a', 'x/a', 80)).to.equal(false);
    expect(allowedBoth(before, 'x/a', 'y/b', 80)).to.equal(false);
    expect(allowedBoth(after, 'y/a', 'x/a', 80)).to.equal(true);
    expect(allowedBoth(after, 'x/a', 'y/b', 80)).to.equal(true);
    expect(allowedBoth(after, 'x/a', 'y/a', 80)).to.equal(false);
    // The peer addresses arrive as set elements of x/a's group.
    const r1 = compile(before, { node: 'n1' }).ruleset, r2 = compile(after, { node: 'n1' }).ruleset;
    expect(JSON.stringify(r2.sets)).to.contain('192.0.2.21').and.to.contain('2001:db8::22');
    expect(JSON.stringify(r1.sets)).to.not.contain('192.0.2.21');
  });
  it('pods of a namespace created later join its peer sets', () => {
    const p = policy('x/p', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }] }] });
    const c = cluster(...world(p, ns('w', { env: 'prod' }), pod('w/new', { ips: ['192.0.2.90'], node: 'n2' })));
    expect(allowed(c, 'w/new', 'x/a', 80)).to.equal(true);
  });
});

describe('compiler semantics: dual stack (docs/design.md 1.13)', () => {
  it('every pod IP is enforced, and a single-stack pod is reached only in its family', () => {
    const c = cluster(...world(pod('y/v4only', { labels: { pod: 'b' }, node: 'n2', ips: ['192.0.2.29'] }), pod('y/v6only', { labels: { pod: 'b' }, node: 'n2', ips: ['2001:db8::29'] }),
      admit({ namespaceSelector: nsSel('y'), podSelector: podSel('b') })));
    expect(allowed(c, 'y/v4only', 'x/a', 80)).to.equal(true);
    expect(allowed(c, 'y/v6only', 'x/a', 80)).to.equal(true);
    expect(decide(c, 'y/v6only', 'x/a', 80).explanation.to.ip).to.equal('2001:db8::11');
    expect(() => explain(c, 'y/v4only', 'y/v6only', 80, 'TCP')).to.throw(/share no address family/);
    // Both addresses of x/a are in the dispatch maps of its node.
    const rs = compile(c, { node: 'n1' }).ruleset;
    const in4 = rs.maps.find((m) => m.name === 'in4_orig')!, in6 = rs.maps.find((m) => m.name === 'in6_orig')!;
    expect(in4.elems.map((e) => e[0])).to.include('192.0.2.11');
    expect(in6.elems.map((e) => e[0])).to.include('2001:db8::11');
  });
  it('IPv6 addresses are canonicalised (upper case, zero groups) before they are compared', () => {
    const c = cluster(ns('x'), pod('x/a', { ips: ['192.0.2.11', '2001:DB8:0:0::0011'] }), pod('x/b', { labels: { pod: 'b' }, ips: ['2001:0db8::12'] }),
      policy('x/p', { podSelector: {}, ingress: [{ from: [{ podSelector: podSel('b') }] }] }));
    expect(c.pods.find((p) => p.name === 'a')!.ips).to.deep.equal(['192.0.2.11', '2001:db8::11']);
    expect(allowed(c, 'x/b', 'x/a', 80)).to.equal(true);
    expect(allowed(c, '2001:db8::12', '2001:db8:0::11', 80)).to.equal(true);
  });
});

describe('compiler semantics: selector problems', () => {
  it('an operator typo is reported with the object and the field, and fails closed', () => {
    const c = cluster(...world(policy('x/typo', { podSelector: podSel('a'), ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'in', values: ['b'] }] } }] }] })));
    expect(policyProblems(c)).to.deep.equal(['networkpolicy x/typo: spec.ingress[0].from[0].podSelector.matchExpressions[0].operator: "in" is not a valid operator (In, NotIn, Exists, DoesNotExist)']);
    expect(allowedBoth(c, 'x/b', 'x/a', 80)).to.equal(false);
    const e = decide(c, 'x/b', 'x/a', 80).explanation;
    expect(e.ingress.invalidPolicies).to.deep.equal(['x/typo']);
    expect(e.ingress.reason).to.contain('invalid, allowing nothing: x/typo');
    expect(allowedBoth(c, 'x/b', 'y/a', 80)).to.equal(true); // the rest is unaffected
  });
  it('other selector mistakes name their field', () => {
    const cases: [unknown, string][] = [
      [{ matchExpressions: [{ key: 'pod', operator: 'In', values: [] }] }, 'spec.ingress[0].from[0].podSelector.matchExpressions[0].values: must be specified when operator is In'],
      [{ matchExpressions: [{ key: 'pod', operator: 'Exists', values: ['a'] }] }, 'spec.ingress[0].from[0].podSelector.matchExpressions[0].values: may not be specified when operator is Exists'],
      [{ matchLabels: { 'bad key!': 'a' } }, 'spec.ingress[0].from[0].podSelector.matchLabels.bad key!: "bad key!" is not a valid label key'],
      [{ matchLabels: { pod: 'no spaces' } }, 'spec.ingress[0].from[0].podSelector.matchLabels.pod: "no spaces" is not a valid label value'],
      [{ matchExpressions: [{ operator: 'Exists' }] }, 'spec.ingress[0].from[0].podSelector.matchExpressions[0].key: required'],
    ];
    for (const [sel, msg] of cases) {
      const c = cluster(...world(policy('x/bad', { podSelector: podSel('a'), ingress: [{ from: [{ podSelector: sel }] }] })));
      expect(policyProblems(c)).to.deep.equal([`networkpolicy x/bad: ${msg}`]);
      expect(allowed(c, 'x/b', 'x/a', 80)).to.equal(false);
    }
  });
  it('a broken spec.podSelector is reported; the policy could select any pod, so it isolates its whole namespace (fail closed)', () => {
    const c = cluster(...world(policy('x/bad', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'Equals', values: ['a'] }] }, ingress: [] })));
    expect(policyProblems(c)).to.deep.equal(['networkpolicy x/bad: spec.podSelector.matchExpressions[0].operator: "Equals" is not a valid operator (In, NotIn, Exists, DoesNotExist); every pod of namespace x is isolated by it, both ways, with nothing allowed']);
    expect(allowed(c, 'x/b', 'x/a', 80)).to.equal(false);
    expect(allowed(c, 'y/b', 'y/a', 80)).to.equal(true);
    expect(compile(c, { node: 'n1' }).problems.map(formatProblem)).to.have.length(1);
  });
});
