// A small reference evaluator of NetworkPolicy, written from docs/design.md section 1 alone, and of
// ClusterNetworkPolicy tiers (policy.networking.k8s.io/v1alpha2, from the API's documentation:
// Admin → NetworkPolicy → Baseline → allow), reading raw Kubernetes objects (as the builders
// make them). It shares no code with the
// compiler (not ir.ts, not policy.ts, not selectors.ts): the property test checks that two
// independent readings of the spec agree.
import { addr } from './packet-eval.js';

type Raw = Record<string, any>;

export interface RefEndpoint {
  readonly ip: string;
}

export interface RefConnection {
  readonly src: string;
  readonly dst: string;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  readonly port: number;
}

const has = (o: unknown, k: string) => o !== null && typeof o === 'object' && (o as Raw)[k] !== undefined && (o as Raw)[k] !== null;

/** 1.6: matchLabels AND every matchExpressions item; NotIn/DoesNotExist hold on an absent key. */
function selects(sel: Raw | undefined | null, labels: Record<string, string>): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const present = Object.prototype.hasOwnProperty.call(labels, e.key);
    const vals: string[] = e.values ?? [];
    if (e.operator === 'In' && !(present && vals.includes(labels[e.key]!))) return false;
    if (e.operator === 'NotIn' && present && vals.includes(labels[e.key]!)) return false;
    if (e.operator === 'Exists' && !present) return false;
    if (e.operator === 'DoesNotExist' && present) return false;
  }
  return true;
}

const OPS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];
function selectorValid(sel: Raw | undefined | null): boolean {
  if (!sel) return true;
  return (sel.matchExpressions ?? []).every((e: Raw) => OPS.includes(e.operator) && ((e.operator === 'In' || e.operator === 'NotIn') ? (e.values ?? []).length > 0 : (e.values ?? []).length === 0));
}

function cidrRange(c: string): { fam: 4 | 6; lo: bigint; hi: bigint } {
  const [a, l] = c.split('/');
  const [fam, n] = addr(a!);
  const host = BigInt((fam === 4 ? 32 : 128) - Number(l));
  const lo = (n >> host) << host;
  return { fam, lo, hi: lo + (1n << host) - 1n };
}
const inCidr = (ip: string, c: string) => {
  const [f, n] = addr(ip);
  const r = cidrRange(c);
  return r.fam === f && r.lo <= n && n <= r.hi;
};

/** 1.15: what the API server would reject, for the features the generator uses. */
function policyValid(spec: Raw): boolean {
  if (!selectorValid(spec.podSelector)) return false;
  for (const dir of ['ingress', 'egress'] as const) {
    for (const rule of spec[dir] ?? []) {
      for (const peer of rule[dir === 'ingress' ? 'from' : 'to'] ?? []) {
        if (!selectorValid(peer.podSelector) || !selectorValid(peer.namespaceSelector)) return false;
        if (peer.ipBlock) {
          const c = cidrRange(peer.ipBlock.cidr);
          for (const e of peer.ipBlock.except ?? []) {
            const x = cidrRange(e);
            // a strict subset: same family, inside, and smaller
            if (x.fam !== c.fam || x.lo < c.lo || x.hi > c.hi || (x.lo === c.lo && x.hi === c.hi)) return false;
          }
        }
      }
      for (const p of rule.ports ?? []) {
        if (p.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(p.protocol)) return false;
        if (p.endPort !== undefined && (typeof p.port !== 'number' || p.endPort < p.port)) return false;
      }
    }
  }
  return true;
}

const isIpText = (s: unknown) => typeof s === 'string' && (s.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(s));
const sameIp = (a: string, b: string) => { const [f, n] = addr(a), [g, m] = addr(b); return f === g && n === m; };

export class Reference {
  private readonly namespaces = new Map<string, Record<string, string>>();
  private readonly pods: Raw[] = [];
  private readonly policies: Raw[] = [];
  private readonly cnps: Raw[] = [];
  private readonly nodes: Raw[] = [];

  constructor(objects: readonly Raw[]) {
    for (const o of objects) {
      if (o.kind === 'Namespace') this.namespaces.set(o.metadata.name, { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name });
      else if (o.kind === 'Pod') this.pods.push(o);
      else if (o.kind === 'NetworkPolicy') this.policies.push(o);
      else if (o.kind === 'ClusterNetworkPolicy') this.cnps.push(o);
      else if (o.kind === 'Node') this.nodes.push(o);
    }
  }

  private nsLabels(ns: string) {
    return this.namespaces.get(ns) ?? { 'kubernetes.io/metadata.name': ns };
  }

  /** 1.11, 1.12: an IP, not finished, not on the host network. */
  private static active(p: Raw): boolean {
    const phase = p.status?.phase;
    return (p.status?.podIPs ?? []).length > 0 && phase !== 'Succeeded' && phase !== 'Failed' && !p.spec?.hostNetwork;
  }

  /** The active pod that holds this address, if any. When the API shows two live pods with
   *  one address (an IP reused before the old pod's end is seen), the newer one holds it;
   *  unknown creation time counts as oldest, a tie goes to the first by namespace/name. */
  podAt(ip: string): Raw | undefined {
    const [f, n] = addr(ip);
    const id = (p: Raw) => `${p.metadata.namespace}/${p.metadata.name}`;
    const created = (p: Raw) => (p.metadata.creationTimestamp ? Date.parse(p.metadata.creationTimestamp) : -Infinity);
    const claimants = this.pods
      .filter((p) => Reference.active(p) && (p.status.podIPs as { ip: string }[]).some((x) => { const [g, m] = addr(x.ip); return g === f && m === n; }))
      .sort((a, b) => created(b) - created(a) || (id(a) < id(b) ? -1 : 1));
    return claimants[0];
  }

  /** 1.2: policyTypes, defaulted. */
  private static types(spec: Raw): { ingress: boolean; egress: boolean } {
    const t: string[] | undefined = spec.policyTypes;
    if (t && t.length) return { ingress: t.includes('Ingress'), egress: t.includes('Egress') };
    return { ingress: true, egress: Array.isArray(spec.egress) && spec.egress.length > 0 };
  }

  /** 1.8: the named port on the destination pod, name and protocol both. */
  private static namedPort(pod: Raw | undefined, name: string, protocol: string): number | undefined {
    if (!pod) return undefined;
    const ctrs = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? []).filter((c: Raw) => c.restartPolicy === 'Always')];
    for (const c of ctrs) for (const p of c.ports ?? []) if (p.name === name && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
    return undefined;
  }

  /** 1.5: does one peer entry match the address at the other end? */
  private peerMatches(peer: Raw, policyNs: string, ip: string): boolean {
    if (peer.ipBlock) return inCidr(ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((e: string) => inCidr(ip, e));
    const pod = this.podAt(ip);
    if (!pod) return false;
    const ns = pod.metadata.namespace;
    const nsOk = has(peer, 'namespaceSelector') ? selects(peer.namespaceSelector, this.nsLabels(ns)) : ns === policyNs;
    return nsOk && selects(peer.podSelector, pod.metadata.labels ?? {});
  }

  /** 1.1, 1.3, 1.4, 1.7: is the pod's side of the connection allowed in this direction? */
  side(pod: Raw, dir: 'ingress' | 'egress', c: RefConnection): { isolated: boolean; allowed: boolean } {
    const ns = pod.metadata.namespace;
    // 1.15: a policy whose pod selector is unusable isolates every pod of its namespace, both ways.
    const selecting = this.policies.filter((p) => p.metadata.namespace === ns && (!selectorValid(p.spec?.podSelector) || (selects(p.spec?.podSelector, pod.metadata.labels ?? {}) && Reference.types(p.spec)[dir])));
    if (!selecting.length) return { isolated: false, allowed: true };
    const other = dir === 'ingress' ? c.src : c.dst;
    const destination = dir === 'ingress' ? pod : this.podAt(c.dst);
    const ok = selecting.some((p) => policyValid(p.spec) && (p.spec[dir] ?? []).some((rule: Raw) => {
      const peers: Raw[] | undefined = rule[dir === 'ingress' ? 'from' : 'to'];
      const peerOk = !peers || peers.length === 0 || peers.some((peer) => this.peerMatches(peer, ns, other));
      const ports: Raw[] | undefined = rule.ports;
      const portOk = !ports || ports.length === 0 || ports.some((pm) => {
        if ((pm.protocol ?? 'TCP') !== c.protocol) return false;
        if (pm.port === undefined) return true;
        if (typeof pm.port === 'string') return Reference.namedPort(destination, pm.port, c.protocol) === c.port;
        return pm.port <= c.port && c.port <= (pm.endPort ?? pm.port);
      });
      return peerOk && portOk;
    }));
    return { isolated: true, allowed: ok };
  }

  /** 1.11: the node's own addresses, as far as the objects show them (host-network pods, and
   *  the Node's status.addresses). */
  private nodeAddress(ip: string, node: string): boolean {
    const same = (a: string) => isIpText(a) && sameIp(a, ip);
    return this.pods.some((p) => p.spec?.hostNetwork && p.spec?.nodeName === node && (p.status?.podIPs ?? []).some((x: { ip: string }) => same(x.ip)))
      || this.nodes.some((n) => n.metadata.name === node && (n.status?.addresses ?? []).some((a: Raw) => same(a.address)));
  }

  // ---------------------------------------------------------------- ClusterNetworkPolicy

  /** The policy's tier, priority and subject are usable (else the API server would have
   *  refused it and we enforce nothing of it). */
  private static cnpHeadValid(spec: Raw): boolean {
    const s = spec?.subject;
    const subjectOk = !!s && (has(s, 'namespaces') !== has(s, 'pods'))
      && (has(s, 'namespaces') ? selectorValid(s.namespaces) : selectorValid(s.pods.namespaceSelector) && selectorValid(s.pods.podSelector));
    return (spec?.tier === 'Admin' || spec?.tier === 'Baseline') && Number.isInteger(spec.priority) && spec.priority >= 0 && spec.priority <= 1000 && subjectOk;
  }

  /** What the CRD rejects among the features the generator uses: a named port with a
   *  networks/nodes/domainNames peer. */
  private static cnpRulesValid(spec: Raw): boolean {
    return (spec.egress ?? []).every((r: Raw) => !((r.to ?? []).some((p: Raw) => p.networks || p.nodes || p.domainNames) && (r.protocols ?? []).some((x: Raw) => x.destinationNamedPort)));
  }

  private cnpSelects(spec: Raw, pod: Raw): boolean {
    if (pod.spec?.hostNetwork) return false; // never a subject
    const s = spec.subject, nsl = this.nsLabels(pod.metadata.namespace);
    if (s.namespaces) return selects(s.namespaces, nsl);
    return selects(s.pods.namespaceSelector, nsl) && selects(s.pods.podSelector, pod.metadata.labels ?? {});
  }

  private cnpPeer(peer: Raw, ip: string): boolean {
    if (peer.networks) return (peer.networks as string[]).some((n) => inCidr(ip, n));
    if (peer.nodes) return this.nodes.some((n) => selects(peer.nodes, n.metadata.labels ?? {}) && (n.status?.addresses ?? []).some((a: Raw) => isIpText(a.address) && sameIp(a.address, ip)));
    const pod = this.podAt(ip); // active pods only: host-network pods are never peers
    if (!pod) return false;
    const nsl = this.nsLabels(pod.metadata.namespace);
    if (peer.namespaces) return selects(peer.namespaces, nsl);
    if (peer.pods) return selects(peer.pods.namespaceSelector, nsl) && selects(peer.pods.podSelector, pod.metadata.labels ?? {});
    return false;
  }

  /** The first matching rule's action in one tier, for `pod`'s side of the connection. */
  tierAction(tier: 'Admin' | 'Baseline', pod: Raw, dir: 'ingress' | 'egress', c: RefConnection): 'Accept' | 'Deny' | 'Pass' | undefined {
    const other = dir === 'ingress' ? c.src : c.dst;
    // A pod reaching its own address is not subject to cluster policies.
    if (this.podAt(other) === pod) return undefined;
    const destination = dir === 'ingress' ? pod : this.podAt(c.dst);
    const ordered = this.cnps
      .filter((p) => Reference.cnpHeadValid(p.spec) && p.spec.tier === tier && this.cnpSelects(p.spec, pod))
      .sort((a, b) => a.spec.priority - b.spec.priority || (a.metadata.name < b.metadata.name ? -1 : 1));
    for (const p of ordered) {
      if (!Reference.cnpRulesValid(p.spec)) {
        // Invalid: Deny all in the directions it speaks of (both when it speaks of none).
        const speaks = has(p.spec, 'ingress') || has(p.spec, 'egress');
        if (!speaks || has(p.spec, dir)) return 'Deny';
        continue;
      }
      for (const rule of p.spec[dir] ?? []) {
        const peers: Raw[] = rule[dir === 'ingress' ? 'from' : 'to'];
        const unknown = peers.some((x) => x.domainNames);
        // A peer we cannot enforce: an Accept rule matches nothing through it, a Deny or Pass rule denies everything.
        if (unknown && rule.action !== 'Accept') return 'Deny';
        const peerOk = peers.some((x) => !x.domainNames && this.cnpPeer(x, other));
        const portOk = !rule.protocols || (rule.protocols as Raw[]).some((x) => {
          if (x.destinationNamedPort) {
            const ctrs = [...(destination?.spec?.containers ?? []), ...(destination?.spec?.initContainers ?? []).filter((i: Raw) => i.restartPolicy === 'Always')];
            return ctrs.some((ct: Raw) => (ct.ports ?? []).some((cp: Raw) => cp.name === x.destinationNamedPort && (cp.protocol ?? 'TCP') === c.protocol && cp.containerPort === c.port));
          }
          const proto = x.tcp ? 'TCP' : x.udp ? 'UDP' : 'SCTP';
          const d = (x.tcp ?? x.udp ?? x.sctp).destinationPort;
          const [lo, hi] = d.number !== undefined ? [d.number, d.number] : [d.range.start, d.range.end];
          return proto === c.protocol && lo <= c.port && c.port <= hi;
        });
        if (peerOk && portOk) return rule.action;
      }
    }
    return undefined;
  }

  /** Admin tier, then NetworkPolicy, then Baseline tier, then allow. */
  decide(pod: Raw, dir: 'ingress' | 'egress', c: RefConnection): boolean {
    const admin = this.tierAction('Admin', pod, dir, c);
    if (admin === 'Accept' || admin === 'Deny') return admin === 'Accept';
    const np = this.side(pod, dir, c);
    if (np.isolated) return np.allowed;
    return this.tierAction('Baseline', pod, dir, c) !== 'Deny';
  }

  /** 1.9: egress at the source AND ingress at the destination; 1.11: a node's traffic to its
   *  own pods is always allowed. */
  allowed(c: RefConnection): { allowed: boolean; egress: boolean; ingress: boolean } {
    const src = this.podAt(c.src), dst = this.podAt(c.dst);
    const egress = src ? this.decide(src, 'egress', c) : true;
    const fromOwnNode = !src && !!dst && this.nodeAddress(c.src, dst.spec?.nodeName);
    const ingress = dst && !fromOwnNode ? this.decide(dst, 'ingress', c) : true;
    return { allowed: egress && ingress, egress, ingress };
  }
}
