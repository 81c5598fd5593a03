// The extra labels and container ports that the examples of policies-examples/ select on,
// as listed in policies-examples/README.md ("Extra labels and ports the examples need").
// The same state is in test/e2e/examples.test.ts (EXAMPLE_STATE), which the demo cannot
// import: loading a test file outside mocha fails on its describe() calls.
import type { ClusterState } from '../test/e2e/topology.js';

const METRICS = [{ name: 'metrics', containerPort: 81, protocol: 'TCP' as const }];

export const EXAMPLE_STATE: ClusterState = {
  nsLabels: { y: { team: 'frontend', purpose: 'monitoring' }, z: { 'app.kubernetes.io/name': 'ingress-nginx' } },
  podLabels: {
    'z/a': { 'app.kubernetes.io/component': 'controller' },
    'x/a': { tier: 'web' },
    'x/b': { tier: 'web', role: 'backend' },
    'x/c': { role: 'db' },
  },
  podPorts: { 'x/a': METRICS, 'x/b': METRICS, 'x/c': METRICS },
};

/** The examples in the order of the README's table (simplest first); files the table does
 *  not list follow in name order. */
export function readmeOrder(readme: string | undefined, files: readonly string[]): string[] {
  const listed = [...(readme ?? '').matchAll(/^\|\s*`([^`]+\.ya?ml)`/gm)].map((m) => m[1]!).filter((f) => files.includes(f));
  return [...listed, ...files.filter((f) => !listed.includes(f)).sort()];
}
