// Sharing of repeated values between slim objects. The replicas of one Deployment carry the
// same namespace, node names, label set and named ports; JSON parsing gives each pod its own
// copies. Sharing one frozen copy roughly halves what a pod costs (measured by
// test/helpers/kube-api/memory-probe.ts). Slim objects are readonly, so sharing is safe.
//
// The pool forgets everything once it holds more than `cap` entries, so that values no longer
// used (the pod-template-hash of an old rollout) do not pile up: afterwards sharing simply
// starts over, objects already stored stay valid.
import type { NamespaceInfo, PodInfo } from '../../compiler/index.js';

export class Interner {
  private pool = new Map<string, unknown>();

  constructor(private readonly cap = 200_000) {}

  get size(): number {
    return this.pool.size;
  }

  str(s: string): string {
    return this.shared(`s${s}`, s);
  }

  /** One shared frozen copy per distinct JSON value. */
  value<T>(v: T): T {
    return this.shared(`j${JSON.stringify(v)}`, v, true);
  }

  private shared<T>(key: string, v: T, freeze = false): T {
    const hit = this.pool.get(key);
    if (hit !== undefined) return hit as T;
    if (this.pool.size >= this.cap) this.pool = new Map();
    if (freeze) deepFreeze(v);
    this.pool.set(key, v);
    return v;
  }

  pod(p: PodInfo): PodInfo {
    return {
      ...p,
      namespace: this.str(p.namespace),
      nodeName: this.str(p.nodeName),
      phase: this.str(p.phase),
      labels: this.value(p.labels),
      ips: p.ips,
      namedPorts: this.value(p.namedPorts),
    };
  }

  namespace(n: NamespaceInfo): NamespaceInfo {
    return { name: this.str(n.name), labels: this.value(n.labels) };
  }
}

function deepFreeze(v: unknown): void {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return;
  Object.freeze(v);
  for (const x of Object.values(v)) deepFreeze(x);
}
