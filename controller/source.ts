// Where the agent learns the cluster state. Two implementations: the Kubernetes API
// (informers, kube-source.ts) and a folder of manifests (file-source.ts). The agent only
// ever sees this interface: each event carries the object it is about (applied to the policy
// engine as it arrives) and requests a sync; the snapshot is read only to reconcile when an
// event could not name its object.
import type { Cluster, ClusterEvent, ClusterPolicyInfo, NamespaceInfo, NodeInfo, PodInfo, PolicyInfo, Problem } from '../compiler/index.js';

export type ResourceKind = 'pod' | 'namespace' | 'networkpolicy' | 'clusternetworkpolicy' | 'node';
export type ResourceAction = 'add' | 'update' | 'delete' | 'resync';

export interface SourceEvent {
  readonly kind: ResourceKind;
  readonly action: ResourceAction;
  /** When the source saw the change (ms since the epoch, from the injected clock). */
  readonly seenAt: number;
  /** The object, `namespace/name` (a Namespace: its name), for log lines; optional. */
  readonly object?: string;
  /** The object as it now is (or its deletion), for the policy engine. A source that cannot
   *  say (a relist, a resync) leaves it out: the agent then compares its snapshot with the
   *  engine, key by key, at the next sync. */
  readonly change?: ClusterEvent;
}

export interface SourceHooks {
  /** A change arrived: the agent schedules a sync. */
  onChange(e: SourceEvent): void;
  /** A watch ended and was restarted (reason: 'gone' for 410, 'closed', 'error', 'timeout'). */
  onWatchRestart?(kind: ResourceKind, reason: string): void;
  /** A problem worth a log line that is not about one object (connection refused, ...). */
  onError?(message: string): void;
}

export interface ClusterSource {
  /** Starts listing and watching; resolves once every resource has been listed once. */
  start(hooks: SourceHooks): Promise<void>;
  /** True once the initial lists are in (and after every relist completes). */
  synced(): boolean;
  /** The current state, slim objects only; bad objects come back as problems. The agent
   *  reads it only to reconcile (at start, after a relist or an event without its object). */
  snapshot(): { cluster: Cluster; problems: Problem[] };
  /** The same state in no particular order, for the agent's reconcile (which compares key by
   *  key): snapshot() without its sort, which alone held the event loop for 30-100 ms at
   *  50,000 pods. When absent the agent uses snapshot(). */
  unsortedSnapshot?(): { cluster: Cluster; problems: Problem[] };
  /** The problems of the current state alone (cheap: read at every sync); when absent the
   *  agent takes them from snapshot(). */
  problems?(): Problem[];
  stop(): Promise<void>;
}

/** The engine's event for one object of a kind: its current slim form, or its deletion. */
export function objectEvent(kind: ResourceKind, ns: string, name: string, value: unknown): ClusterEvent {
  switch (kind) {
    case 'pod': return value ? { kind, op: 'upsert', pod: value as PodInfo } : { kind, op: 'delete', namespace: ns, name };
    case 'namespace': return value ? { kind, op: 'upsert', namespace: value as NamespaceInfo } : { kind, op: 'delete', name };
    case 'networkpolicy': return value ? { kind, op: 'upsert', policy: value as PolicyInfo } : { kind, op: 'delete', namespace: ns, name };
    case 'clusternetworkpolicy': return value ? { kind, op: 'upsert', policy: value as ClusterPolicyInfo } : { kind, op: 'delete', name };
    case 'node': return value ? { kind, op: 'upsert', node: value as NodeInfo } : { kind, op: 'delete', name };
    default: {
      const never: never = kind;
      throw new Error(`unknown kind ${String(never)}`);
    }
  }
}
