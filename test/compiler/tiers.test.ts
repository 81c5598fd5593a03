// The tier walk (Admin → NetworkPolicy → Baseline → allow) as the network-policy-api documents
// it: first match by priority and rule order, Accept/Deny final, Pass leaves the tier, and the
// subjects and peers that are never matched (host-network pods, a pod reaching itself).
import { expect } from 'chai';
import { normalizeCnp, orderTier, type NormalizedCnp } from '../../compiler/cnp.js';
import type { PodInfo, Protocol } from '../../compiler/model.js';
import { decideDirection, walkTier, type TierProbe, type TierWorld } from '../../compiler/tiers.js';

const pod = (id: string, ip: string, extra: Partial<PodInfo> = {}): PodInfo => {
  const [namespace, name] = id.split('/') as [string, string];
  return { namespace, name, nodeName: 'n1', labels: { pod: name }, ips: [ip], phase: 'Running', hostNetwork: false, namedPorts: [], ...extra };
};
const nsLabels: Record<string, Record<string, string>> = {
  x: { 'kubernetes.io/metadata.name': 'x', tenant: 'a' },
  y: { 'kubernetes.io/metadata.name': 'y' },
  monitoring: { 'kubernetes.io/metadata.name': 'monitoring' },
};
const world: TierWorld = {
  nsLabels: (ns) => nsLabels[ns] ?? { 'kubernetes.io/metadata.name': ns },
  nodes: [{ name: 'n1', labels: { role: 'worker' }, addresses: ['198.51.100.1', '2001:db8:ff::1'] }, { name: 'n2', labels: { role: 'control' }, addresses: ['198.51.100.2'] }],
};
const xa = pod('x/a', '192.0.2.10', { namedPorts: [{ name: 'http', protocol: 'TCP', port: 8080 }] });
const xb = pod('x/b', '192.0.2.11');
const ya = pod('y/a', '192.0.2.20');
const prom = pod('monitoring/prometheus', '192.0.2.30', { labels: { app: 'prometheus' } });
const hostPod = pod('y/host', '198.51.100.1', { hostNetwork: true });

const cnp = (name: string, spec: object): NormalizedCnp => {
  const r = normalizeCnp({ name, spec });
  if (!r.policy || r.problems.length) throw new Error(`bad fixture ${name}: ${JSON.stringify(r.problems)}`);
  return r.policy;
};
const probe = (peer: PodInfo | string, port = 80, protocol: Protocol = 'TCP', dest?: PodInfo): TierProbe => ({
  peerIp: typeof peer === 'string' ? peer : peer.ips[0]!,
  peerPod: typeof peer === 'string' ? undefined : peer,
  protocol, port, destinationPod: dest,
});
const walk = (policies: NormalizedCnp[], tier: 'Admin' | 'Baseline', dir: 'ingress' | 'egress', subject: PodInfo, p: TierProbe) => {
  const o = walkTier(orderTier(policies, tier).ordered, tier, dir, subject, p, world);
  return o.decision === 'NoMatch' ? 'NoMatch' : `${o.decision} ${o.policy}[${o.rule.index}]`;
};
const allNs = { namespaces: {} };

describe('ClusterNetworkPolicy tiers: the walk of one direction', () => {
  it('first matching rule by priority decides; a lower number goes first; equal priorities by name', () => {
    const ps = [
      cnp('deny-y', { tier: 'Admin', priority: 20, subject: allNs, ingress: [{ action: 'Deny', from: [{ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }] }),
      cnp('accept-all', { tier: 'Admin', priority: 10, subject: allNs, ingress: [{ action: 'Accept', from: [{ pods: { namespaceSelector: {}, podSelector: { matchLabels: { pod: 'nobody' } } } }] }, { action: 'Accept', from: [allNs] }] }),
    ];
    expect(walk(ps, 'Admin', 'ingress', xa, probe(ya))).to.equal('Accept accept-all[1]');
    // a priority change in place turns the answer round
    const swapped = [cnp('deny-y', { ...ps[0]!, tier: 'Admin', priority: 5, subject: allNs, ingress: [{ action: 'Deny', from: [{ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }] }), ps[1]!];
    expect(walk(swapped, 'Admin', 'ingress', xa, probe(ya))).to.equal('Deny deny-y[0]');
    const tie = [cnp('b', { tier: 'Admin', priority: 7, subject: allNs, ingress: [{ action: 'Deny', from: [allNs] }] }), cnp('a', { tier: 'Admin', priority: 7, subject: allNs, ingress: [{ action: 'Accept', from: [allNs] }] })];
    expect(walk(tie, 'Admin', 'ingress', xa, probe(ya))).to.equal('Accept a[0]');
  });

  it('rules of one policy in written order; Pass leaves the tier; no match is NoMatch', () => {
    const p = cnp('p', { tier: 'Admin', priority: 1, subject: allNs, egress: [
      { action: 'Pass', to: [{ namespaces: { matchLabels: { tenant: 'a' } } }] },
      { action: 'Deny', to: [allNs] },
    ] });
    expect(walk([p], 'Admin', 'egress', ya, probe(xb))).to.equal('Pass p[0]');
    expect(walk([p], 'Admin', 'egress', xa, probe(ya))).to.equal('Deny p[1]');
    expect(walk([p], 'Admin', 'egress', xa, probe('203.0.113.9'))).to.equal('NoMatch');
    expect(walk([p], 'Baseline', 'egress', xa, probe(ya))).to.equal('NoMatch'); // other tier
  });

  it('subjects: namespaces or pods; host-network pods are never subjects', () => {
    const p = cnp('p', { tier: 'Admin', priority: 1, subject: { pods: { namespaceSelector: { matchLabels: { tenant: 'a' } }, podSelector: { matchLabels: { pod: 'a' } } } }, ingress: [{ action: 'Deny', from: [allNs] }] });
    expect(walk([p], 'Admin', 'ingress', xa, probe(ya))).to.equal('Deny p[0]');
    expect(walk([p], 'Admin', 'ingress', xb, probe(ya))).to.equal('NoMatch');
    const q = cnp('q', { tier: 'Admin', priority: 1, subject: allNs, ingress: [{ action: 'Deny', from: [allNs] }] });
    expect(walk([q], 'Admin', 'ingress', hostPod, probe(ya))).to.equal('NoMatch');
  });

  it('peers: host-network pods never match namespaces/pods peers (only networks/nodes); a pod reaching its own IP is not subject', () => {
    const p = cnp('p', { tier: 'Admin', priority: 1, subject: allNs, ingress: [{ action: 'Deny', from: [allNs] }] });
    expect(walk([p], 'Admin', 'ingress', xa, probe(hostPod))).to.equal('NoMatch');
    expect(walk([p], 'Admin', 'ingress', xa, probe(xa))).to.equal('NoMatch');
    const nodes = cnp('n', { tier: 'Admin', priority: 1, subject: allNs, egress: [{ action: 'Deny', to: [{ nodes: { matchLabels: { role: 'worker' } } }] }] });
    expect(walk([nodes], 'Admin', 'egress', xa, probe(hostPod))).to.equal('Deny n[0]'); // the host pod's address is n1's
    expect(walk([nodes], 'Admin', 'egress', xa, probe('2001:db8:ff::1'))).to.equal('Deny n[0]');
    expect(walk([nodes], 'Admin', 'egress', xa, probe('198.51.100.2'))).to.equal('NoMatch'); // n2 is not a worker
  });

  it('networks match pod addresses too, per family', () => {
    const p = cnp('p', { tier: 'Baseline', priority: 1, subject: allNs, egress: [{ action: 'Deny', to: [{ networks: ['192.0.2.16/28'] }] }] });
    expect(walk([p], 'Baseline', 'egress', xa, probe(ya))).to.equal('Deny p[0]'); // 192.0.2.20 is a pod
    expect(walk([p], 'Baseline', 'egress', xa, probe(xb))).to.equal('NoMatch'); // 192.0.2.11 is outside
    const v6 = cnp('v6', { tier: 'Baseline', priority: 1, subject: allNs, egress: [{ action: 'Deny', to: [{ networks: ['::/0'] }] }] });
    expect(walk([v6], 'Baseline', 'egress', xa, probe(ya))).to.equal('NoMatch');
  });

  it('protocols: numbers, inclusive ranges, and named ports resolved on the destination pod', () => {
    const p = cnp('p', { tier: 'Admin', priority: 1, subject: allNs, egress: [{ action: 'Deny', to: [allNs], protocols: [
      { tcp: { destinationPort: { number: 53 } } },
      { udp: { destinationPort: { range: { start: 1000, end: 2000 } } } },
      { destinationNamedPort: 'http' },
    ] }] });
    expect(walk([p], 'Admin', 'egress', ya, probe(xb, 53))).to.equal('Deny p[0]');
    expect(walk([p], 'Admin', 'egress', ya, probe(xb, 53, 'UDP'))).to.equal('NoMatch');
    for (const [port, want] of [[999, 'NoMatch'], [1000, 'Deny p[0]'], [2000, 'Deny p[0]'], [2001, 'NoMatch']] as const) {
      expect(walk([p], 'Admin', 'egress', ya, probe(xb, port, 'UDP')), `udp/${port}`).to.equal(want);
    }
    expect(walk([p], 'Admin', 'egress', ya, probe(xa, 8080, 'TCP', xa))).to.equal('Deny p[0]'); // x/a names 8080 http
    expect(walk([p], 'Admin', 'egress', ya, probe(xb, 8080, 'TCP', xb))).to.equal('NoMatch'); // x/b has no such name
    expect(walk([p], 'Admin', 'egress', ya, probe(xa, 8080, 'UDP', xa))).to.equal('NoMatch'); // the name is TCP
  });

  it('directions: Admin Accept/Deny final; NetworkPolicy decides for isolated pods; Baseline only for the rest; Baseline Pass allows', () => {
    const accept = { decision: 'Accept', policy: 'a', rule: { index: 0, action: 'Accept', peers: null, ports: null } } as const;
    const deny = { decision: 'Deny', policy: 'd', rule: { index: 0, action: 'Deny', peers: null, ports: null } } as const;
    const pass = { decision: 'Pass', policy: 'p', rule: { index: 0, action: 'Pass', peers: null, ports: null } } as const;
    const none = { decision: 'NoMatch' } as const;
    const isolatedDeny = { isolated: true, allowed: false } as const, open = { isolated: false } as const;
    const never = () => { throw new Error('the Baseline tier must not be read here'); };
    expect(decideDirection(accept, isolatedDeny, never)).to.include({ allowed: true, by: 'Admin' });
    expect(decideDirection(deny, open, never)).to.include({ allowed: false, by: 'Admin' });
    expect(decideDirection(pass, isolatedDeny, never)).to.include({ allowed: false, by: 'NetworkPolicy' });
    expect(decideDirection(none, { isolated: true, allowed: true }, never)).to.include({ allowed: true, by: 'NetworkPolicy' });
    expect(decideDirection(pass, open, () => deny)).to.include({ allowed: false, by: 'Baseline' });
    expect(decideDirection(none, open, () => accept)).to.include({ allowed: true, by: 'Baseline' });
    expect(decideDirection(none, open, () => pass)).to.include({ allowed: true, by: 'default' });
    expect(decideDirection(none, open, () => none)).to.include({ allowed: true, by: 'default' });
  });
});
