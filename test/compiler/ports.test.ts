// docs/design.md 1.7 and 1.8: protocols, numeric ports, endPort ranges and named ports.
import { expect } from 'chai';
import { compile } from '../../compiler/index.js';
import { allowed, allowedBoth, cluster, decide, ns, pod, policy, policyProblems, world } from './builders.js';

const podSel = (pod: string) => ({ matchLabels: { pod } });
const ingressPorts = (ports: unknown, extra: Record<string, unknown> = {}) => policy('x/ports', { podSelector: podSel('a'), ingress: [{ ports, ...extra }] });
const egressPorts = (ports: unknown, to?: unknown) => policy('x/eports', { podSelector: podSel('a'), policyTypes: ['Egress'], egress: [{ ports, ...(to ? { to } : {}) }] });

describe('compiler semantics: ports (docs/design.md 1.7)', () => {
  it('protocol defaults to TCP', () => {
    const c = cluster(...world(ingressPorts([{ port: 80 }])));
    expect(allowedBoth(c, 'y/a', 'x/a', 80, 'TCP')).to.equal(true);
    expect(allowedBoth(c, 'y/a', 'x/a', 80, 'UDP')).to.equal(false);
    expect(allowedBoth(c, 'y/a', 'x/a', 80, 'SCTP')).to.equal(false);
  });
  it('UDP and SCTP ports are their own', () => {
    const c = cluster(...world(ingressPorts([{ protocol: 'UDP', port: 53 }, { protocol: 'SCTP', port: 3868 }])));
    expect(allowedBoth(c, 'y/a', 'x/a', 53, 'UDP')).to.equal(true);
    expect(allowedBoth(c, 'y/a', 'x/a', 53, 'TCP')).to.equal(false);
    expect(allowedBoth(c, 'y/a', 'x/a', 3868, 'SCTP')).to.equal(true);
    expect(allowedBoth(c, 'y/a', 'x/a', 3868, 'UDP')).to.equal(false);
  });
  it('a port entry without port is every port of its protocol', () => {
    const c = cluster(...world(ingressPorts([{ protocol: 'UDP' }])));
    for (const p of [1, 53, 65535]) expect(allowedBoth(c, 'y/a', 'x/a', p, 'UDP'), String(p)).to.equal(true);
    expect(allowedBoth(c, 'y/a', 'x/a', 53, 'TCP')).to.equal(false);
    const d = cluster(...world(ingressPorts([{}])));
    expect(allowedBoth(d, 'y/a', 'x/a', 12345, 'TCP')).to.equal(true);
    expect(allowedBoth(d, 'y/a', 'x/a', 12345, 'UDP')).to.equal(false);
  });
  it('endPort makes an inclusive range', () => {
    const c = cluster(...world(ingressPorts([{ port: 8000, endPort: 8080 }])));
    for (const [p, want] of [[7999, false], [8000, true], [8040, true], [8080, true], [8081, false]] as const) {
      expect(allowedBoth(c, 'y/a', 'x/a', p), String(p)).to.equal(want);
    }
    expect(allowedBoth(c, 'y/a', 'x/a', 8000, 'UDP')).to.equal(false);
  });
  it('endPort equal to port is one port; ranges with peers and blocks are inclusive too', () => {
    const c = cluster(...world(ingressPorts([{ port: 9000, endPort: 9000 }, { protocol: 'UDP', port: 1, endPort: 65535 }], { from: [{ podSelector: podSel('b') }, { ipBlock: { cidr: '198.51.100.0/24' } }] })));
    expect(allowedBoth(c, 'x/b', 'x/a', 9000)).to.equal(true);
    expect(allowedBoth(c, 'x/b', 'x/a', 9001)).to.equal(false);
    expect(allowedBoth(c, 'x/b', 'x/a', 65535, 'UDP')).to.equal(true);
    expect(allowedBoth(c, 'x/b', 'x/a', 1, 'UDP')).to.equal(true);
    expect(decide(c, '198.51.100.9', 'x/a', 9000).allowed).to.equal(true);
    expect(decide(c, '198.51.100.9', 'x/a', 8999).allowed).to.equal(false);
    expect(allowedBoth(c, 'y/b', 'x/a', 9000)).to.equal(false);
  });
  it('overlapping ranges and single ports of several rules combine', () => {
    const c = cluster(...world(
      ingressPorts([{ port: 100, endPort: 200 }, { port: 150, endPort: 300 }, { port: 301 }, { port: 400 }], { from: [{ ipBlock: { cidr: '198.51.100.0/24' } }, { ipBlock: { cidr: '198.51.100.0/25' } }] }),
      policy('x/more', { podSelector: podSel('a'), ingress: [{ from: [{ ipBlock: { cidr: '198.51.100.64/26' } }], ports: [{ port: 250, endPort: 500 }] }] }),
    ));
    for (const [ip, p, want] of [['198.51.100.1', 100, true], ['198.51.100.1', 301, true], ['198.51.100.1', 302, false], ['198.51.100.1', 400, true],
      ['198.51.100.70', 450, true], ['198.51.100.200', 450, false], ['198.51.100.200', 250, true], ['198.51.100.1', 99, false]] as const) {
      expect(decide(c, ip, 'x/a', p).allowed, `${ip}:${p}`).to.equal(want);
    }
  });
  it('a numeric port on egress to pods and to outside addresses', () => {
    const c = cluster(...world(egressPorts([{ protocol: 'UDP', port: 53 }])));
    expect(allowedBoth(c, 'x/a', 'y/b', 53, 'UDP')).to.equal(true);
    expect(decide(c, 'x/a', '203.0.113.53', 53, 'UDP').allowed).to.equal(true);
    expect(decide(c, 'x/a', '203.0.113.53', 53, 'TCP').allowed).to.equal(false);
    expect(decide(c, 'x/a', '2001:db8:53::53', 53, 'UDP').allowed).to.equal(true);
  });
});

describe('compiler semantics: named ports (docs/design.md 1.8)', () => {
  // x/a serves http on 80; x/alt serves http on 8080 and dns on TCP 5353; x/bare has no ports.
  const scene = (...extra: Record<string, unknown>[]) => cluster(...(world(
    pod('x/alt', { labels: { pod: 'a' }, node: 'n1', ips: ['192.0.2.18', '2001:db8::18'], ports: [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'TCP' }] }),
    pod('x/bare', { labels: { pod: 'a' }, node: 'n2', ips: ['192.0.2.19', '2001:db8::19'] }),
    ...extra,
  ) as never[]));

  it('ingress: resolves on each selected pod, even when pods of one policy disagree', () => {
    const c = scene(ingressPorts([{ port: 'http' }]));
    expect(allowedBoth(c, 'y/a', 'x/a', 80)).to.equal(true);
    expect(allowedBoth(c, 'y/a', 'x/a', 8080)).to.equal(false);
    expect(allowedBoth(c, 'y/a', 'x/alt', 8080)).to.equal(true);
    expect(allowedBoth(c, 'y/a', 'x/alt', 80)).to.equal(false);
  });
  it('ingress: a selected pod without that name allows nothing through the rule', () => {
    const c = scene(ingressPorts([{ port: 'http' }]));
    for (const p of [80, 8080]) expect(allowedBoth(c, 'y/a', 'x/bare', p)).to.equal(false);
    expect(decide(c, 'y/a', 'x/bare', 80).explanation.ingress.isolated).to.equal(true);
  });
  it('ingress: the protocol must match too (dns is UDP 53 on x/a, TCP 5353 on x/alt)', () => {
    const tcp = scene(ingressPorts([{ port: 'dns' }]));
    expect(allowedBoth(tcp, 'y/a', 'x/a', 53, 'TCP')).to.equal(false);
    expect(allowedBoth(tcp, 'y/a', 'x/a', 53, 'UDP')).to.equal(false);
    expect(allowedBoth(tcp, 'y/a', 'x/alt', 5353, 'TCP')).to.equal(true);
    const udp = scene(ingressPorts([{ port: 'dns', protocol: 'UDP' }]));
    expect(allowedBoth(udp, 'y/a', 'x/a', 53, 'UDP')).to.equal(true);
    expect(allowedBoth(udp, 'y/a', 'x/alt', 5353, 'TCP')).to.equal(false);
    expect(allowedBoth(udp, 'y/a', 'x/alt', 5353, 'UDP')).to.equal(false);
  });
  it('ingress: named ports with peers and with ipBlocks', () => {
    const c = scene(ingressPorts([{ port: 'http' }], { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { ipBlock: { cidr: '198.51.100.0/24' } }] }));
    expect(allowedBoth(c, 'y/b', 'x/alt', 8080)).to.equal(true);
    expect(allowedBoth(c, 'z/b', 'x/alt', 8080)).to.equal(false);
    expect(decide(c, '198.51.100.1', 'x/alt', 8080).allowed).to.equal(true);
    expect(decide(c, '198.51.100.1', 'x/a', 8080).allowed).to.equal(false);
    expect(decide(c, '198.51.100.1', 'x/a', 80).allowed).to.equal(true);
  });
  it('named ports of a sidecar (restartable init container) count; of a plain init container, not', () => {
    const c = cluster(...world(
      pod('x/side', { labels: { pod: 'a' }, ips: ['192.0.2.17'], initPorts: [{ name: 'metrics', port: 9100 }] }),
      pod('x/init', { labels: { pod: 'a' }, ips: ['192.0.2.16'], initPorts: [{ name: 'metrics', port: 9100 }], initSidecar: false }),
      ingressPorts([{ port: 'metrics' }]),
    ));
    expect(allowed(c, 'y/a', 'x/side', 9100)).to.equal(true);
    expect(allowed(c, 'y/a', 'x/init', 9100)).to.equal(false);
    expect(allowed(c, 'y/a', 'x/a', 9100)).to.equal(false);
  });
  it('egress: resolves on each destination pod', () => {
    const c = scene(egressPorts([{ port: 'http' }]));
    expect(allowedBoth(c, 'x/a', 'y/b', 80)).to.equal(true); // y/b: http = 80
    expect(allowedBoth(c, 'x/a', 'x/alt', 8080)).to.equal(true); // x/alt: http = 8080
    expect(allowedBoth(c, 'x/a', 'x/alt', 80)).to.equal(false);
    expect(allowedBoth(c, 'x/a', 'x/bare', 80)).to.equal(false);
    expect(allowedBoth(c, 'x/a', 'y/b', 53, 'UDP')).to.equal(false);
  });
  it('egress: an address that is not a pod never matches a named port', () => {
    const c = scene(egressPorts([{ port: 'http' }]));
    expect(decide(c, 'x/a', '203.0.113.80', 80).allowed).to.equal(false);
    expect(decide(c, 'x/a', '2001:db8:80::80', 80).allowed).to.equal(false);
    const blocks = scene(egressPorts([{ port: 'http' }], [{ ipBlock: { cidr: '192.0.2.0/24' } }, { ipBlock: { cidr: '203.0.113.0/24' } }]));
    expect(decide(blocks, 'x/a', '203.0.113.80', 80).allowed).to.equal(false);
    expect(decide(blocks, 'x/a', '192.0.2.200', 80).allowed).to.equal(false); // in the block, not a pod
    expect(decide(blocks, 'x/a', 'y/b', 80).allowed).to.equal(true); // a pod in the block exposing http
    expect(decide(blocks, 'x/a', 'x/alt', 8080).allowed).to.equal(true);
    // the block is IPv4: the same pods over IPv6 are outside it
    expect(decide(blocks, '2001:db8::11', '2001:db8::22', 80).allowed).to.equal(false);
  });
  it('egress: named port with a pod peer only matches the peer pods exposing it', () => {
    const c = scene(egressPorts([{ port: 'http' }], [{ namespaceSelector: { matchLabels: { ns: 'y' } } }]));
    expect(allowedBoth(c, 'x/a', 'y/a', 80)).to.equal(true);
    expect(allowedBoth(c, 'x/a', 'x/alt', 8080)).to.equal(false);
  });
  it('egress: a peer pod that is finished no longer lends its named port to its old IP', () => {
    const c = cluster(...world(
      pod('y/done', { labels: { pod: 'z' }, node: 'n2', ips: ['192.0.2.77'], phase: 'Succeeded', ports: [{ name: 'http', port: 80 }] }),
      egressPorts([{ port: 'http' }]),
    ));
    expect(decide(c, 'x/a', '192.0.2.77', 80).allowed).to.equal(false);
  });
  it('a named port in a group of pods on one node does not leak to another group', () => {
    // x/a and x/alt share node n1 and policy, but resolve http differently: each keeps its own
    const c = scene(ingressPorts([{ port: 'http' }]));
    const rs = compile(c, { node: 'n1' }).ruleset;
    const in4 = rs.maps.find((m) => m.name === 'in4_orig')!;
    const target = (ip: string) => JSON.stringify(in4.elems.find((e) => e[0] === ip)![1]);
    expect(target('192.0.2.11')).to.not.equal(target('192.0.2.18'));
  });
});

describe('compiler semantics: invalid ports (docs/design.md 1.15)', () => {
  const cases: [unknown, string][] = [
    [[{ port: 'http', endPort: 90 }], 'spec.ingress[0].ports[0].endPort: may not be specified when port is a named port'],
    [[{ port: 90, endPort: 80 }], 'spec.ingress[0].ports[0].endPort: 80 must be greater than or equal to port (90)'],
    [[{ endPort: 80 }], 'spec.ingress[0].ports[0].endPort: may not be specified when port is not specified'],
    [[{ port: 70000 }], 'spec.ingress[0].ports[0].port: 70000 must be between 1 and 65535, inclusive'],
    [[{ port: 0 }], 'spec.ingress[0].ports[0].port: 0 must be between 1 and 65535, inclusive'],
    [[{ port: 80, endPort: 65536 }], 'spec.ingress[0].ports[0].endPort: 65536 must be between 1 and 65535, inclusive'],
    [[{ port: 'Not_A_Name' }], 'spec.ingress[0].ports[0].port: "Not_A_Name" is not a valid port name (IANA_SVC_NAME)'],
    [[{ port: 'a-very-long-port-name' }], 'spec.ingress[0].ports[0].port: "a-very-long-port-name" is not a valid port name (IANA_SVC_NAME)'],
    [[{ port: 80 }, { protocol: 'ICMP', port: 80 }], 'spec.ingress[0].ports[1].protocol: "ICMP" is not supported (TCP, UDP or SCTP)'],
    [[{ protocol: 'tcp', port: 80 }], 'spec.ingress[0].ports[0].protocol: "tcp" is not supported (TCP, UDP or SCTP)'],
  ];
  for (const [ports, msg] of cases) {
    it(`reports and fails closed: ${msg}`, () => {
      const c = cluster(...world(ingressPorts(ports), policy('y/open', { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] })));
      expect(policyProblems(c)).to.deep.equal([`networkpolicy x/ports: ${msg}`]);
      // x/a is isolated by the broken policy and nothing of it allows: not even the valid entries
      expect(allowedBoth(c, 'y/a', 'x/a', 80)).to.equal(false);
      expect(decide(c, 'y/a', 'x/a', 80).explanation.ingress.invalidPolicies).to.deep.equal(['x/ports']);
      // the rest of the cluster is unaffected
      expect(allowedBoth(c, 'x/a', 'y/a', 80)).to.equal(true);
      expect(allowedBoth(c, 'x/a', 'y/a', 81)).to.equal(false);
      expect(allowedBoth(c, 'y/a', 'x/b', 81)).to.equal(true);
      expect(compile(c, { node: 'n1' }).policyCount).to.deep.equal({ valid: 1, invalid: 1 });
    });
  }
  it('a broken policy leaves the allowances of other valid policies for the same pod', () => {
    const c = cluster(...world(ingressPorts([{ port: 90, endPort: 80 }]), policy('x/ok', { podSelector: podSel('a'), ingress: [{ ports: [{ port: 443 }] }] })));
    expect(allowedBoth(c, 'y/a', 'x/a', 443)).to.equal(true);
    expect(allowedBoth(c, 'y/a', 'x/a', 85)).to.equal(false);
  });
  it('a port given as a string of digits is not a port name the API server accepts', () => {
    const c = cluster(ns('x'), pod('x/a', { ips: ['192.0.2.11'] }), policy('x/p', { ingress: [{ ports: [{ port: '80' }] }] }));
    expect(policyProblems(c)).to.deep.equal(['networkpolicy x/p: spec.ingress[0].ports[0].port: "80" is not a valid port name (IANA_SVC_NAME)']);
  });
});
