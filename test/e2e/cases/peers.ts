// docs/design.md 1.5, 1.6: peers (pod selector, namespace selector, both in one peer or in two)
// and every label-selector operator, including keys that are absent.
// Extra labels used below: namespaces x and y are env=prod, z is env=dev; y has team=blue.
// The cases as data: the e2e suite probes them on the wire (peers.test.ts), and the
// matrix's own test checks that `netpol-nft matrix` gives the same tables.
import { netpol, type Case } from '../objects.js';
import { allowAll, kinds } from '../truth.js';

const NS = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });
const denyIngressX = netpol('x/default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
const nsLabels = { x: { env: 'prod' }, y: { env: 'prod', team: 'blue' }, z: { env: 'dev' } } as const;

export const PEERS_CASES: readonly Case[] = [
  {
    title: 'from another namespace by label (namespaceSelector alone: every pod of y)',
    state: { policies: [netpol('x/from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: NS('y') }] }] })] },
    expect: allowAll().deny('*', 'x/a').allow('y/*', 'x/a'),
    kinds: kinds([80, 81], ['tcp', 'udp'], [4, 6]),
  },
  {
    title: 'pod and namespace selector in ONE peer: only pod b of namespace y (AND)',
    state: { policies: [denyIngressX, netpol('x/from-y-b', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: NS('y'), podSelector: { matchLabels: { pod: 'b' } } }] }] })] },
    expect: allowAll().deny('*', 'x/*').allow('y/b', 'x/*'),
  },
  {
    title: 'pod and namespace selector in TWO peers: every pod of y, or pod b of x (OR)',
    state: { policies: [denyIngressX, netpol('x/from-y-or-b', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: NS('y') }, { podSelector: { matchLabels: { pod: 'b' } } }] }] })] },
    expect: allowAll().deny('*', 'x/*').allow('y/*', 'x/*').allow('x/b', 'x/*'),
  },
  {
    title: 'namespaceSelector {} with a pod selector: pod c of every namespace',
    state: { policies: [denyIngressX, netpol('x/from-any-c', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'c' } } }] }] })] },
    expect: allowAll().deny('*', 'x/*').allow('*/c', 'x/*'),
  },
  {
    title: 'matchExpressions In on namespace labels',
    state: {
      nsLabels,
      policies: [netpol('x/from-dev', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev', 'test'] }] } }] }] })],
    },
    expect: allowAll().deny('*', 'x/b').allow('z/*', 'x/b'),
  },
  {
    title: 'matchExpressions NotIn matches namespaces where the key is absent too',
    state: {
      nsLabels: { x: { env: 'prod' }, y: { env: 'dev' } }, // z carries no env label at all
      policies: [netpol('x/not-from-dev', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }] } }] }] })],
    },
    expect: allowAll().deny('*', 'x/b').allow(['x/*', 'z/*'], 'x/b'),
  },
  {
    title: 'matchExpressions Exists',
    state: {
      nsLabels,
      policies: [netpol('x/from-team', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'Exists' }] } }] }] })],
    },
    expect: allowAll().deny('*', 'x/*').allow('y/*', 'x/*'),
  },
  {
    title: 'matchExpressions DoesNotExist (on pod labels, key absent on most pods)',
    state: {
      podLabels: { 'x/b': { canary: 'true' }, 'x/c': { canary: 'false' } },
      policies: [netpol('x/not-from-canary', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] } }] }] })],
    },
    // Only pods of x without the key: x/a itself (loopback anyway); x/b and x/c carry it.
    expect: allowAll().deny('*', 'x/a'),
  },
  {
    title: 'matchLabels AND matchExpressions in one selector, on the selected pods',
    state: {
      nsLabels,
      podLabels: { 'y/a': { tier: 'web' }, 'y/b': { tier: 'db' }, 'y/c': { tier: 'web' } },
      policies: [netpol('y/web-from-prod', {
        podSelector: { matchLabels: { tier: 'web' }, matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['c'] }] },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }] }],
      })],
    },
    // Selects y/a only (web and not c); prod namespaces are x and y.
    expect: allowAll().deny('*', 'y/a').allow(['x/*', 'y/*'], 'y/a'),
  },
  {
    title: 'egress to another namespace by label',
    state: { nsLabels, policies: [netpol('z/to-prod', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { env: 'prod' } }, podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] } }] }] })] },
    expect: allowAll().deny('z/*', '*').allow('z/*', ['x/a', 'x/b', 'y/a', 'y/b']),
    kinds: kinds([80, 81], ['tcp', 'udp'], [4, 6]),
  },
];
