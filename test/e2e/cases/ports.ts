// docs/design.md 1.7, 1.8: protocols, numeric ports, endPort ranges, named ports (ingress and
// egress, resolved on the destination pod, protocol included), and SCTP at rule level.
// The cases as data: the e2e suite probes them on the wire (ports.test.ts), and the
// matrix's own test checks that `netpol-nft matrix` gives the same tables.
import { netpol, type Case } from '../objects.js';
import { allowAll, kinds } from '../truth.js';

const FROM_Y = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } };
const ALL_KINDS = kinds([80, 81], ['tcp', 'udp'], [4, 6]);

export const PORTS_CASES: readonly Case[] = [
  {
    title: 'ingress on TCP 80 only (protocol defaults to TCP)',
    state: { policies: [netpol('x/tcp-80', { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] })] },
    expect: allowAll().deny('*', 'x/*').allow('*', 'x/*', { ports: [80], protos: ['tcp'] }),
    kinds: ALL_KINDS,
  },
  {
    title: 'ingress on UDP 81 only, from y',
    state: { policies: [netpol('x/udp-81', { podSelector: { matchLabels: { pod: 'c' } }, ingress: [{ from: [FROM_Y], ports: [{ protocol: 'UDP', port: 81 }] }] })] },
    expect: allowAll().deny('*', 'x/c').allow('y/*', 'x/c', { ports: [81], protos: ['udp'] }),
  },
  {
    title: 'a protocol without a port: every UDP port',
    state: { policies: [netpol('y/any-udp', { podSelector: {}, ingress: [{ ports: [{ protocol: 'UDP' }] }] })] },
    expect: allowAll().deny('*', 'y/*').allow('*', 'y/*', { protos: ['udp'] }),
  },
  {
    title: 'endPort: TCP 80-81 open, UDP closed',
    state: { policies: [netpol('z/range', { podSelector: {}, ingress: [{ ports: [{ protocol: 'TCP', port: 80, endPort: 81 }] }] })] },
    expect: allowAll().deny('*', 'z/*').allow('*', 'z/*', { protos: ['tcp'] }),
    kinds: ALL_KINDS,
  },
  {
    title: 'endPort on egress: 81-90 UDP from x/b only',
    state: { policies: [netpol('x/b-egress-range', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 81, endPort: 90 }] }] })] },
    expect: allowAll().deny('x/b', '*').allow('x/b', '*', { ports: [81], protos: ['udp'] }),
  },
  {
    title: 'named port on ingress: serve-81-tcp resolves to 81 on the selected pod',
    state: { policies: [netpol('x/named-81', { podSelector: {}, ingress: [{ from: [FROM_Y], ports: [{ port: 'serve-81-tcp' }] }] })] },
    expect: allowAll().deny('*', 'x/*').allow('y/*', 'x/*', { ports: [81], protos: ['tcp'] }),
  },
  {
    title: 'named port on the wrong protocol matches nothing (serve-80-tcp asked as UDP)',
    state: { policies: [netpol('x/named-wrong-proto', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-80-tcp', protocol: 'UDP' }] }] })] },
    expect: allowAll().deny('*', 'x/*'),
  },
  {
    title: 'named port on ingress resolves per selected pod (web = 80 on x/a, 81 on x/c, absent on x/b)',
    state: {
      podPorts: { 'x/a': [{ name: 'web', containerPort: 80, protocol: 'TCP' }], 'x/c': [{ name: 'web', containerPort: 81, protocol: 'TCP' }] },
      policies: [netpol('x/web', { podSelector: {}, ingress: [{ ports: [{ port: 'web' }] }] })],
    },
    expect: allowAll().deny('*', 'x/*').allow('*', 'x/a', { ports: [80], protos: ['tcp'] }).allow('*', 'x/c', { ports: [81], protos: ['tcp'] }),
    kinds: ALL_KINDS,
  },
  {
    title: 'named port on egress resolves on each destination pod (web = 80 on y/a, 81 on z/b)',
    state: {
      podPorts: { 'y/a': [{ name: 'web', containerPort: 80, protocol: 'TCP' }], 'z/b': [{ name: 'web', containerPort: 81, protocol: 'TCP' }] },
      policies: [netpol('x/egress-web', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }], ports: [{ port: 'web' }] }] })],
    },
    expect: allowAll().deny('x/*', '*').allow('x/*', 'y/a', { ports: [80], protos: ['tcp'] }).allow('x/*', 'z/b', { ports: [81], protos: ['tcp'] }),
    kinds: ALL_KINDS,
  },
  {
    title: 'named UDP port on egress with no peer list: serve-80-udp on every pod',
    state: { policies: [netpol('y/egress-named-udp', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'serve-80-udp', protocol: 'UDP' }] }] })] },
    expect: allowAll().deny('y/c', '*').allow('y/c', '*', { ports: [80], protos: ['udp'] }),
  },
  {
    title: 'named port on egress inside an ipBlock: only pods of the block that expose the name',
    state: { policies: [netpol('z/egress-named-block', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '192.0.2.0/25' } }], ports: [{ port: 'serve-81-udp', protocol: 'UDP' }] }] })] },
    // 192.0.2.0/25 holds the node 1 pods: x/a, x/c, y/b, z/a, z/c (IPv4 only).
    expect: allowAll().deny('z/a', '*').allow('z/a', ['x/a', 'x/c', 'y/b', 'z/c'], { ports: [81], protos: ['udp'], families: [4] }),
    kinds: ALL_KINDS,
  },
  {
    title: 'egress only to DNS (53 UDP and TCP): nothing on 80/81 is reachable from x',
    state: { policies: [netpol('x/dns-only', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }] })] },
    expect: allowAll().deny('x/*', '*'),
    kinds: ALL_KINDS,
  },
];
