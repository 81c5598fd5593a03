// docs/design.md 1.1-1.4 and 1.14 on the wire: isolation per direction, default policy types,
// additive allow lists, empty rule lists, and a policy only selecting in its own namespace.
// The cases as data: the e2e suite probes them on the wire (isolation.test.ts), and the
// matrix's own test checks that `netpol-nft matrix` gives the same tables.
import { netpol, type Case } from '../objects.js';
import { allowAll, denyAll, kinds } from '../truth.js';

const BOTH = kinds([80, 81], ['tcp', 'udp'], [4, 6]);

export const ISOLATION_CASES: readonly Case[] = [
  {
    title: 'default deny ingress in x: nothing reaches x, x still reaches out',
    state: { policies: [netpol('x/default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] })] },
    expect: allowAll().deny('*', 'x/*'),
    kinds: BOTH,
  },
  {
    title: 'default deny egress in x: x reaches nothing, the rest still reaches x',
    state: { policies: [netpol('x/default-deny-egress', { podSelector: {}, policyTypes: ['Egress'] })] },
    expect: allowAll().deny('x/*', '*'),
    kinds: BOTH,
  },
  {
    title: 'default deny of both directions in x',
    state: { policies: [netpol('x/default-deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })] },
    expect: allowAll().deny('x/*', '*').deny('*', 'x/*'),
  },
  {
    title: '`ingress: []` with no policyTypes isolates ingress only',
    state: { policies: [netpol('y/empty-ingress', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [] })] },
    expect: allowAll().deny('*', 'y/b'),
  },
  {
    title: 'policyTypes absent but egress present: the pod is isolated in both directions',
    state: { policies: [netpol('x/egress-implies-both', { podSelector: { matchLabels: { pod: 'a' } }, egress: [{ to: [{ podSelector: {} }] }] })] },
    // Ingress: no rules -> nothing in. Egress: only pods of x.
    expect: allowAll().deny('*', 'x/a').deny('x/a', '*').allow('x/a', ['x/b', 'x/c']),
  },
  {
    title: 'policyTypes [Egress] only leaves ingress open',
    state: { policies: [netpol('z/egress-only', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }] })] },
    expect: allowAll().deny('z/c', '*').allow('z/c', 'y/*'),
  },
  {
    title: 'allow lists are additive: an allow-all ingress policy next to a default deny opens everything',
    state: {
      policies: [
        netpol('x/default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }),
        netpol('x/allow-all-ingress', { podSelector: {}, ingress: [{}] }),
      ],
    },
    expect: allowAll(),
  },
  {
    title: 'allow from the same namespace only',
    state: {
      policies: [
        netpol('x/default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }),
        netpol('x/allow-same-namespace', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] }),
      ],
    },
    expect: allowAll().deny('*', 'x/*').allow('x/*', 'x/*'),
    kinds: BOTH,
  },
  {
    title: 'a policy selects pods only in its own namespace (pod: a in y isolates y/a, not x/a)',
    state: { policies: [netpol('y/deny-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress', 'Egress'] })] },
    expect: allowAll().deny('*', 'y/a').deny('y/a', '*'),
  },
  {
    title: 'both ends must allow: x/a may send only to y, y accepts only from z',
    state: {
      policies: [
        netpol('x/a-to-y', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }] }),
        netpol('y/from-z', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }] }] }),
      ],
    },
    expect: allowAll().deny('x/a', '*').deny('*', 'y/*').allow('z/*', 'y/*'),
  },
  {
    title: 'deny everything everywhere, then nothing passes',
    state: { policies: ['x', 'y', 'z'].map((ns) => netpol(`${ns}/deny-all`, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })) },
    expect: denyAll(),
    kinds: BOTH,
  },
];
