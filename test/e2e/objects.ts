// What a case is made of, free of mocha and of the kernel: the e2e suite probes cases on the
// wire, and the matrix's test (test/compiler/matrix-conformance.test.ts) reads the same ones.
import type { Expect } from './truth.js';
import type { ClusterState, ProbeKind } from './topology.js';

/** A NetworkPolicy object: `netpol('x/deny-all', { podSelector: {}, policyTypes: ['Ingress'] })`. */
export function netpol(id: string, spec: Record<string, unknown>): Record<string, unknown> {
  const [namespace, name] = id.split('/');
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name }, spec };
}

/** One state of the model and the verdicts expected for it, on the probe kinds listed. */
export interface Case {
  readonly title: string;
  readonly state: ClusterState;
  readonly expect: Expect;
  readonly kinds?: readonly ProbeKind[];
}
