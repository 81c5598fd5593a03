// docs/design.md 1.2, 1.4, 1.5, 1.10: the corners of a rule people trip over: empty lists that
// mean "all", policyTypes that ignore rules, replies of allowed connections under a
// default deny of the other direction, and selectors that match everything.
// The cases as data: the e2e suite probes them on the wire (rules.test.ts), and the
// matrix's own test checks that `netpol-nft matrix` gives the same tables.
import { netpol, type Case } from '../objects.js';
import { allowAll, denyAll, kinds } from '../truth.js';

const DUAL = kinds([80, 81], ['tcp', 'udp'], [4, 6]);
const NS = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });

export const RULES_CASES: readonly Case[] = [
  {
    title: 'replies pass: x denies all egress but accepts from y, so y -> x works and x -> y does not',
    state: {
      policies: [
        netpol('x/deny-egress', { podSelector: {}, policyTypes: ['Egress'] }),
        netpol('x/from-y', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: NS('y') }] }] }),
      ],
    },
    expect: allowAll().deny('x/*', '*').deny('*', 'x/*').allow('y/*', 'x/*'),
    kinds: DUAL,
  },
  {
    title: 'replies pass the other way: z may only send to y, y accepts only z, and both directions of z -> y work',
    state: {
      policies: [
        netpol('z/to-y', { podSelector: {}, policyTypes: ['Ingress', 'Egress'], egress: [{ to: [{ namespaceSelector: NS('y') }] }] }),
        netpol('y/from-z', { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ namespaceSelector: NS('z') }] }] }),
      ],
    },
    // y and z are isolated both ways: only z -> y is allowed by both ends (y's egress
    // is not needed for the replies).
    expect: allowAll().deny(['y/*', 'z/*'], '*').deny('*', ['y/*', 'z/*']).allow('z/*', 'y/*'),
    kinds: DUAL,
  },
  {
    title: '`from: []` means every source; `ports: []` every port',
    state: {
      policies: [
        netpol('x/empty-from', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [], ports: [{ port: 81 }] }] }),
        netpol('x/empty-ports', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: NS('z') }], ports: [] }] }),
      ],
    },
    expect: allowAll().deny('*', ['x/a', 'x/b']).allow('*', 'x/a', { ports: [81], protos: ['tcp'] }).allow('z/*', 'x/b'),
  },
  {
    title: 'policyTypes [Ingress] ignores the egress rules the policy carries',
    state: { policies: [netpol('y/ingress-only', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: {} }] }], egress: [{ to: [{ namespaceSelector: NS('x') }] }] })] },
    expect: allowAll().deny('*', 'y/c').allow('y/*', 'y/c'),
  },
  {
    title: 'ipBlocks of ::/0 and 0.0.0.0/0 with excepts in both families',
    state: {
      policies: [netpol('y/everything-but', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['192.0.2.10/32'] } }, { ipBlock: { cidr: '::/0', except: ['2001:db8:2::/64'] } }] }],
      })],
    },
    // IPv4: everything but x/a; IPv6: everything but node 2 pods (x/b, y/a, y/c, z/b).
    expect: allowAll().deny('y/*', 'x/a', { families: [4] }).deny('y/*', ['x/b', 'y/a', 'y/c', 'z/b'], { families: [6] }),
    kinds: DUAL,
  },
  {
    title: 'NotIn and DoesNotExist on namespaces, In with several values on pods',
    state: {
      nsLabels: { y: { env: 'dev' }, z: { env: 'prod' } },
      policies: [
        netpol('x/not-dev', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }] }, podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b', 'c'] }] } }] }] }),
        netpol('x/no-env', { podSelector: { matchLabels: { pod: 'c' } }, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] } }] }] }),
      ],
    },
    // x/a: b and c pods of namespaces without env=dev: x (no env) and z. x/c: pods of x only.
    expect: allowAll().deny('*', ['x/a', 'x/c']).allow(['x/b', 'x/c', 'z/b', 'z/c'], 'x/a').allow('x/*', 'x/c'),
  },
  {
    title: 'every namespace default-denies ingress and allows only DNS egress: nothing passes',
    state: {
      policies: ['x', 'y', 'z'].flatMap((ns) => [
        netpol(`${ns}/deny-ingress`, { podSelector: {}, policyTypes: ['Ingress'] }),
        netpol(`${ns}/dns-only`, { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }] }),
      ]),
    },
    expect: denyAll(),
    kinds: DUAL,
  },
];
