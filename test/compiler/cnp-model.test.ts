// ClusterNetworkPolicy (v1alpha2) as the API server's CRD validation reads it: what it accepts,
// what it rejects (named by field), and how a rejected or partly unsupported policy fails closed.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse } from 'yaml';
import { normalizeCnp, orderTier, type NormalizedCnp } from '../../compiler/cnp.js';
import { formatProblem } from '../../compiler/index.js';

const cnp = (name: string, spec: unknown) => normalizeCnp({ name, spec });
const base = { tier: 'Admin', priority: 10, subject: { namespaces: {} } };
const problems = (spec: unknown) => cnp('p', spec).problems.map(formatProblem);

describe('ClusterNetworkPolicy model: validation as the CRD does it', () => {
  it('the example policies people write validate without a problem', () => {
    const docs = readFileSync(new URL('../fixtures/cluster-policies.yaml', import.meta.url), 'utf8').split(/^---$/m).map((d) => parse(d)).filter(Boolean);
    expect(docs).to.have.length(4);
    for (const d of docs) {
      const r = normalizeCnp({ name: d.metadata.name, spec: d.spec });
      expect(r.problems.map(formatProblem), d.metadata.name).to.deep.equal([]);
      expect(r.policy?.valid, d.metadata.name).to.equal(true);
    }
  });

  it('normalises subject, peers, actions, ports and rule names', () => {
    const r = cnp('p', {
      ...base,
      subject: { pods: { namespaceSelector: { matchLabels: { team: 'a' } }, podSelector: { matchLabels: { app: 'web' } } } },
      ingress: [{ name: 'r0', action: 'Accept', from: [{ namespaces: { matchLabels: { team: 'b' } } }], protocols: [{ tcp: { destinationPort: { number: 80 } } }, { udp: { destinationPort: { range: { start: 1000, end: 2000 } } } }, { destinationNamedPort: 'http' }] }],
      egress: [{ action: 'Deny', to: [{ networks: ['198.51.100.7/24', '2001:db8::/32'] }, { nodes: {} }] }],
    });
    expect(r.problems).to.deep.equal([]);
    const p = r.policy!;
    expect(p.subject.kind).to.equal('pods');
    expect(p.rules.ingress).to.deep.equal([{
      index: 0, name: 'r0', action: 'Accept',
      peers: [{ kind: 'namespaces', namespaceSelector: { requirements: [{ key: 'team', operator: 'In', values: ['b'] }] } }],
      ports: [{ kind: 'range', protocol: 'TCP', from: 80, to: 80 }, { kind: 'range', protocol: 'UDP', from: 1000, to: 2000 }, { kind: 'named', name: 'http' }],
    }]);
    const eg = p.rules.egress[0]!;
    expect(eg.action).to.equal('Deny');
    expect(eg.ports).to.equal(null); // no protocols: every port and protocol
    expect(eg.peers!.map((x) => x.kind)).to.deep.equal(['networks', 'nodes']);
    expect((eg.peers![0] as unknown as { text: string[] }).text).to.deep.equal(['198.51.100.0/24', '2001:db8::/32']); // host bits dropped
  });

  const rejected: [string, unknown, string][] = [
    ['tier', { ...base, tier: 'Developer' }, 'clusternetworkpolicy p: spec.tier: "Developer" is not supported (Admin, Baseline)'],
    ['priority above 1000', { ...base, priority: 1001 }, 'clusternetworkpolicy p: spec.priority: 1001 must be between 0 and 1000, inclusive'],
    ['priority missing', { tier: 'Admin', subject: { namespaces: {} } }, 'clusternetworkpolicy p: spec.priority: required'],
    ['two subjects', { ...base, subject: { namespaces: {}, pods: { podSelector: {} } } }, 'clusternetworkpolicy p: spec.subject: must set exactly one of namespaces, pods'],
    ['pods subject without podSelector', { ...base, subject: { pods: { namespaceSelector: {} } } }, 'clusternetworkpolicy p: spec.subject.pods.podSelector: required'],
  ];
  for (const [what, spec, msg] of rejected) {
    it(`rejects (${what}) and selects nothing`, () => {
      const r = cnp('p', spec);
      expect(r.problems.map(formatProblem)).to.deep.equal([msg]);
      expect(r.policy).to.equal(undefined);
    });
  }

  const failClosed: [string, unknown, string][] = [
    ['unknown action', { ingress: [{ action: 'Allow', from: [{ namespaces: {} }] }] }, 'spec.ingress[0].action: "Allow" is not supported (Accept, Deny, Pass)'],
    ['empty from', { ingress: [{ action: 'Accept', from: [] }] }, 'spec.ingress[0].from: must have at least 1 item'],
    ['two fields in a peer', { ingress: [{ action: 'Accept', from: [{ namespaces: {}, pods: { podSelector: {} } }] }] }, 'spec.ingress[0].from[0]: must set exactly one peer field (namespaces, pods)'],
    ['an empty peer', { egress: [{ action: 'Deny', to: [{}] }] }, 'spec.egress[0].to[0]: must set one peer field (namespaces, pods, nodes, networks, domainNames)'],
    ['bad CIDR', { egress: [{ action: 'Deny', to: [{ networks: ['192.0.2.0/33'] }] }] }, 'spec.egress[0].to[0].networks[0]: Invalid CIDR format provided ("192.0.2.0/33" is not a valid CIDR)'],
    ['repeated CIDR', { egress: [{ action: 'Deny', to: [{ networks: ['192.0.2.0/24', '192.0.2.0/24'] }] }] }, 'spec.egress[0].to[0].networks[1]: duplicate value "192.0.2.0/24"'],
    ['26 CIDRs', { egress: [{ action: 'Deny', to: [{ networks: Array.from({ length: 26 }, (_, i) => `192.0.2.${i}/32`) }] }] }, 'spec.egress[0].to[0].networks: must have at most 25 items'],
    ['26 rules', { ingress: Array.from({ length: 26 }, () => ({ action: 'Deny', from: [{ namespaces: {} }] })) }, 'spec.ingress: must have at most 25 items'],
    ['rule name of 101 characters', { ingress: [{ name: 'n'.repeat(101), action: 'Deny', from: [{ namespaces: {} }] }] }, 'spec.ingress[0].name: may not be more than 100 characters'],
    ['port 0', { ingress: [{ action: 'Accept', from: [{ namespaces: {} }], protocols: [{ tcp: { destinationPort: { number: 0 } } }] }] }, 'spec.ingress[0].protocols[0].tcp.destinationPort.number: 0 must be between 1 and 65535, inclusive'],
    ['range start = end', { ingress: [{ action: 'Accept', from: [{ namespaces: {} }], protocols: [{ udp: { destinationPort: { range: { start: 80, end: 80 } } } }] }] }, 'spec.ingress[0].protocols[0].udp.destinationPort.range: Start port must be less than End port'],
    ['tcp without destinationPort', { ingress: [{ action: 'Accept', from: [{ namespaces: {} }], protocols: [{ tcp: {} }] }] }, 'spec.ingress[0].protocols[0].tcp: must set destinationPort'],
    ['number and range', { ingress: [{ action: 'Accept', from: [{ namespaces: {} }], protocols: [{ tcp: { destinationPort: { number: 80, range: { start: 1, end: 2 } } } }] }] }, 'spec.ingress[0].protocols[0].tcp.destinationPort: must set exactly one of number, range'],
    ['named port with networks', { egress: [{ action: 'Accept', to: [{ networks: ['192.0.2.0/24'] }], protocols: [{ destinationNamedPort: 'http' }] }] }, 'spec.egress[0]: networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames'],
    ['bad domain name', { egress: [{ action: 'Accept', to: [{ domainNames: ['*example'] }] }] }, 'spec.egress[0].to[0].domainNames[0]: "*example" is not a valid domain name'],
  ];
  for (const [what, rules, msg] of failClosed) {
    it(`rejects (${what}), naming the field, and fails closed as Deny all`, () => {
      const r = cnp('p', { ...base, ...(rules as object) });
      expect(r.problems.map(formatProblem)).to.deep.equal([`clusternetworkpolicy p: ${msg}`]);
      const p = r.policy!;
      expect(p.valid).to.equal(false);
      const dirs = Object.keys(rules as object) as ('ingress' | 'egress')[];
      for (const d of ['ingress', 'egress'] as const) {
        if (dirs.includes(d)) expect(p.rules[d]).to.deep.equal([{ index: 0, action: 'Deny', peers: null, ports: null, note: 'invalid policy: fails closed as Deny all' }]);
        else expect(p.rules[d]).to.deep.equal([]);
      }
    });
  }

  it('domainNames are reported as unsupported; in an Accept rule they match nothing, the rest of the policy stands', () => {
    const r = cnp('p', { ...base, egress: [
      { name: 'fqdn', action: 'Accept', to: [{ domainNames: ['*.example.com'] }, { namespaces: {} }] },
      { action: 'Deny', to: [{ networks: ['0.0.0.0/0'] }] },
    ] });
    expect(r.problems).to.deep.equal([]);
    const p = r.policy!;
    expect(p.valid).to.equal(true);
    expect(p.unsupported).to.deep.equal(['spec.egress[0].to[0].domainNames: domainNames peers are not enforced (they need DNS snooping)']);
    expect(p.rules.egress[0]!.action).to.equal('Accept');
    expect(p.rules.egress[0]!.peers!.map((x) => x.kind)).to.deep.equal(['namespaces']);
    expect(p.rules.egress[1]!.peers!.map((x) => x.kind)).to.deep.equal(['networks']);
  });

  it('a peer of a kind newer than ours: an Accept rule matches nothing through it, a Deny or Pass rule denies everything', () => {
    const r = cnp('p', { ...base,
      ingress: [{ action: 'Accept', from: [{ serviceAccounts: { name: 'x' } }] }],
      egress: [{ action: 'Pass', to: [{ serviceAccounts: { name: 'x' } }] }],
    });
    expect(r.problems).to.deep.equal([]);
    const p = r.policy!;
    expect(p.rules.ingress[0]).to.include({ action: 'Accept' });
    expect(p.rules.ingress[0]!.peers).to.deep.equal([]);
    expect(p.rules.egress[0]).to.deep.include({ action: 'Deny', peers: null, ports: null });
    expect(p.unsupported).to.have.length(2);
    // A field the CRD has only on egress (networks) reads the same on ingress: not ours to guess.
    const q = cnp('q', { ...base, ingress: [{ action: 'Deny', from: [{ networks: ['192.0.2.0/24'] }] }] }).policy!;
    expect(q.rules.ingress[0]).to.deep.include({ action: 'Deny', peers: null, ports: null });
  });

  it('orders a tier by priority, then name, and reports ties', () => {
    const mk = (name: string, tier: string, priority: number) => normalizeCnp({ name, spec: { tier, priority, subject: { namespaces: {} } } }).policy as NormalizedCnp;
    const all = [mk('c', 'Admin', 5), mk('b', 'Admin', 5), mk('a', 'Admin', 7), mk('z', 'Admin', 1), mk('x', 'Baseline', 5)];
    const { ordered, ties } = orderTier(all, 'Admin');
    expect(ordered.map((p) => p.name)).to.deep.equal(['z', 'b', 'c', 'a']);
    expect(ties).to.deep.equal([['b', 'c']]);
    expect(orderTier(all, 'Baseline').ordered.map((p) => p.name)).to.deep.equal(['x']);
  });
});
