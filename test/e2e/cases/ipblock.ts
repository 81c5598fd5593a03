// docs/design.md 1.5, 1.13, 1.15: ipBlock with except on ingress and egress (the pods' real
// addresses: n1 pods are 192.0.2.10-18 / 2001:db8:1::/64, n2 pods 192.0.2.139-145 /
// 2001:db8:2::/64), families kept apart, and invalid policies failing closed.
//
// Pod addresses (topology.ts): x/a .10  x/b .139  x/c .12  y/a .141  y/b .14  y/c .143
//                              z/a .16  z/b .145  z/c .18
// The cases as data: the e2e suite probes them on the wire (ipblock.test.ts), and the
// matrix's own test checks that `netpol-nft matrix` gives the same tables.
import { netpol, type Case } from '../objects.js';
import { allowAll, kinds } from '../truth.js';

const DUAL = kinds([80, 81], ['tcp', 'udp'], [4, 6]);
const N1 = ['x/a', 'x/c', 'y/b', 'z/a', 'z/c'];
const N2 = ['x/b', 'y/a', 'y/c', 'z/b'];

export const IPBLOCK_CASES: readonly Case[] = [
  {
    title: 'ingress ipBlock with except; an IPv4 block does not open IPv6',
    state: { policies: [netpol('x/from-block', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '192.0.2.0/24', except: ['192.0.2.128/28', '192.0.2.16/32'] } }] }] })] },
    // except .128-.143 = x/b, y/a, y/c; and .16 = z/a. IPv6: nothing.
    expect: allowAll().deny('*', 'x/*').allow('*', 'x/*', { families: [4] }).deny(['x/b', 'y/a', 'y/c', 'z/a'], 'x/*', { families: [4] }),
    kinds: DUAL,
  },
  {
    title: 'egress ipBlock with except: y reaches node 2 pods except z/b, over IPv4 only',
    state: { policies: [netpol('y/to-n2', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '192.0.2.128/25', except: ['192.0.2.144/28'] } }] }] })] },
    expect: allowAll().deny('y/*', '*').allow('y/*', N2, { families: [4] }).deny('y/*', 'z/b'),
    kinds: DUAL,
  },
  {
    title: 'IPv6 ipBlock: z accepts node 1 pods over IPv6 only',
    state: { policies: [netpol('z/from-n1-v6', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '2001:db8:1::/64' } }] }] })] },
    expect: allowAll().deny('*', 'z/*').allow(N1, 'z/*', { families: [6] }),
    kinds: DUAL,
  },
  {
    title: 'dual-stack ipBlocks with except in both families, on one port',
    state: {
      policies: [netpol('x/dual', {
        podSelector: { matchLabels: { pod: 'c' } },
        ingress: [{
          from: [{ ipBlock: { cidr: '192.0.2.0/25', except: ['192.0.2.14/31'] } }, { ipBlock: { cidr: '2001:db8::/32', except: ['2001:db8:2::11/128'] } }],
          ports: [{ protocol: 'UDP', port: 80 }],
        }],
      })],
    },
    // IPv4: n1 pods except .14 (y/b); IPv6: every pod except x/b. UDP 80 only.
    expect: allowAll().deny('*', 'x/c').allow(N1, 'x/c', { families: [4], ports: [80], protos: ['udp'] }).deny('y/b', 'x/c', { families: [4] })
      .allow('*', 'x/c', { families: [6], ports: [80], protos: ['udp'] }).deny('x/b', 'x/c', { families: [6] }),
    kinds: DUAL,
  },
  {
    title: 'egress ipBlock with a port range: z/c to node 1 pods on TCP 81 only',
    state: { policies: [netpol('z/c-egress', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '192.0.2.0/25' } }], ports: [{ port: 81, endPort: 82 }] }] })] },
    expect: allowAll().deny('z/c', '*').allow('z/c', N1, { families: [4], ports: [81], protos: ['tcp'] }),
    kinds: DUAL,
  },
];
