// The whole ruleset of one node from a whole cluster: a fresh PolicyEngine (graph/engine.ts),
// every object applied as an event, and the wanted table. The agent keeps one engine and
// applies events as they come; `compile` is the same code path from an empty start, and the
// reference the tests compare the incremental path with.
//
// Shape (docs/design.md, "The ruleset"):
//   forward (base):  ct state invalid drop; ct state related accept;
//                    ct mark & MASK == GEN accept            <- connection decided under this ruleset
//                    ct direction original ip saddr vmap @eg4_orig   (egress of a local pod)
//                    ct direction original ip daddr vmap @in4_orig   (ingress of a local pod)
//                    ct direction reply    ip daddr vmap @eg4_reply  (roles swapped on replies)
//                    ct direction reply    ip saddr vmap @in4_reply
//                    ... the same for ip6 ...
//                    ct mark set ct mark & ~MASK | GEN       <- both directions allowed
//   input (base):    egress of local pods towards the node's own addresses.
//   <in|eg><4|6><o|r>_<hash>: one chain per group of local pods selected by the same
//                    policies, per family and packet direction: one rule per policy rule and
//                    peer (commented with its origin) that `return`s on allow, then the per-pod
//                    drop counter and `drop`.
//   peer_<hash>_<4|6>: one set per distinct peer, shared by every rule that uses it.
//   local4/local6:   every active pod of this node.
import type { Cluster, Problem } from './model.js';
import type { Ruleset } from './nft.js';
import { COMPILE_GENERATION, DEFAULT_TABLE, PolicyEngine, type EngineOptions, type LocalPod } from './graph/engine.js';

export { ctMarkMaskError, DEFAULT_CT_MARK_MASK, MIN_CT_MARK_BITS } from './base.js';
export { counterName, shortHash } from './nft/names.js';
export { COMPILE_GENERATION, DEFAULT_TABLE, type LocalPod };

export interface CompileOptions extends EngineOptions {
  /** The generation stamped into conntrack marks (default COMPILE_GENERATION, 1): the agent
   *  passes a new one with every transaction that changes anything. */
  readonly generation?: number;
}

export interface CompileResult {
  readonly ruleset: Ruleset;
  readonly problems: readonly Problem[];
  readonly localPods: readonly LocalPod[];
  /** The generation stamped into conntrack marks (already shifted into the mask). */
  readonly generation: number;
  readonly policyCount: { readonly valid: number; readonly invalid: number };
}

/** A fresh engine holding the whole cluster. */
export function engineFor(cluster: Cluster, opts: EngineOptions): PolicyEngine {
  const e = new PolicyEngine(opts);
  for (const namespace of cluster.namespaces) e.apply({ kind: 'namespace', op: 'upsert', namespace });
  for (const policy of cluster.policies) e.apply({ kind: 'networkpolicy', op: 'upsert', policy });
  for (const node of cluster.nodes ?? []) e.apply({ kind: 'node', op: 'upsert', node });
  for (const policy of cluster.clusterPolicies ?? []) e.apply({ kind: 'clusternetworkpolicy', op: 'upsert', policy });
  for (const pod of cluster.pods) e.apply({ kind: 'pod', op: 'upsert', pod });
  return e;
}

/** Compiles the cluster into the ruleset for one node. Pure: same input, same bytes. */
export function compile(cluster: Cluster, opts: CompileOptions): CompileResult {
  const e = engineFor(cluster, opts);
  const gen = opts.generation ?? COMPILE_GENERATION;
  return { ruleset: e.ruleset(gen), problems: e.problems(), localPods: e.localPods(), generation: e.stamp(gen), policyCount: e.policyCount() };
}
