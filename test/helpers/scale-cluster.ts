// A cluster of a chosen size where one pod, x/target on node n1, is selected by `selecting`
// policies (each allowing a different peer group on its own port), among `pods` pods and
// `policies` policies in all. Addresses are generated in 10.0.0.0/8-free space: pods use
// 2001:db8::/32 (IPv6 documentation) and IPv4 from 192.0.2.0/24 re-used per namespace is not
// possible at this size, so IPv4 pod addresses come from the 198.18.0.0/15 benchmarking range
// (RFC 2544); no test sends traffic to them, they are only compiled and loaded.
export interface ScaleOptions {
  readonly pods: number;
  readonly policies: number;
  /** How many of the policies select x/target. */
  readonly selecting: number;
  readonly namespaces?: number;
}

const v4 = (i: number) => `198.18.${(i >> 8) & 0xff}.${i & 0xff}`;
const v4b = (i: number) => `198.19.${(i >> 8) & 0xff}.${i & 0xff}`;

export function scaleClusterObjects(o: ScaleOptions): unknown[] {
  const nsCount = o.namespaces ?? 10;
  const out: unknown[] = [];
  for (let n = 0; n < nsCount; n++) out.push({ kind: 'Namespace', metadata: { name: n === 0 ? 'x' : `ns${n}`, labels: { team: `t${n % 5}` } } });
  const nsName = (n: number) => (n === 0 ? 'x' : `ns${n}`);
  out.push({
    kind: 'Pod',
    metadata: { name: 'target', namespace: 'x', labels: { app: 'target' } },
    spec: { nodeName: 'n1', containers: [{ ports: [{ name: 'http', containerPort: 8080 }] }] },
    status: { phase: 'Running', podIPs: [{ ip: '192.0.2.10' }, { ip: '2001:db8::10' }] },
  });
  for (let i = 0; i < o.pods - 1; i++) {
    const ip = i < 65536 ? v4(i) : v4b(i - 65536);
    out.push({
      kind: 'Pod',
      metadata: { name: `p${i}`, namespace: nsName(i % nsCount), labels: { app: `a${i % 50}`, tier: i % 2 ? 'web' : 'db' } },
      spec: { nodeName: i % 20 === 0 ? 'n1' : `n${2 + (i % 19)}`, containers: [{ ports: [{ name: 'http', containerPort: 8080 }] }] },
      status: { phase: 'Running', podIPs: [{ ip }, { ip: `2001:db8:1::${i.toString(16)}` }] },
    });
  }
  for (let k = 0; k < o.policies; k++) {
    const selects = k < o.selecting;
    out.push({
      kind: 'NetworkPolicy',
      metadata: { name: `np${k}`, namespace: selects ? 'x' : nsName(k % nsCount) },
      spec: {
        podSelector: selects ? { matchLabels: { app: 'target' } } : { matchLabels: { app: `a${k % 50}` } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          { from: [{ namespaceSelector: { matchLabels: { team: `t${k % 5}` } }, podSelector: { matchLabels: { app: `a${k % 50}` } } }], ports: [{ port: 1000 + (k % 5000) }, { port: 'http' }] },
          { from: [{ ipBlock: { cidr: '203.0.113.0/24', except: [`203.0.113.${k % 256}/32`] } }], ports: [{ port: 9000, endPort: 9100 }] },
        ],
        // Ports differ per policy: a rule the same as an earlier one of a chain is left out
        // (compiler/graph/lower.ts), and the chain-growth cases count one rule per policy rule.
        egress: [{ to: [{ podSelector: { matchLabels: { tier: 'db' } } }], ports: [{ port: 5000 + (k % 5000) }] }, { ports: [{ port: 20000 + (k % 5000), protocol: 'UDP' }] }],
      },
    });
  }
  return out;
}
