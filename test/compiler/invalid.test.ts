// docs/design.md 1.15 (invalid input is reported with the object's name and fails closed) and the
// manifest reader: malformed objects and documents are reported while the rest compiles.
import { expect } from 'chai';
import { clusterFromObjects, compile, formatProblem, parseManifestText } from '../../compiler/index.js';
import { allowed, allowedBoth, cluster, decide, policy, policyProblems, world } from './builders.js';

const podSel = (pod: string) => ({ matchLabels: { pod } });

describe('compiler semantics: invalid policies (docs/design.md 1.15)', () => {
  const peerCases: [unknown, string][] = [
    [{ ipBlock: { cidr: '198.51.100.0/24', except: ['198.51.100.0/24'] } }, 'spec.ingress[0].from[0].ipBlock.except[0]: 198.51.100.0/24 must be a strict subset of cidr 198.51.100.0/24'],
    [{ ipBlock: { cidr: '198.51.100.0/24', except: ['203.0.113.0/28'] } }, 'spec.ingress[0].from[0].ipBlock.except[0]: 203.0.113.0/28 must be a strict subset of cidr 198.51.100.0/24'],
    [{ ipBlock: { cidr: '198.51.100.0/24', except: ['198.51.0.0/16'] } }, 'spec.ingress[0].from[0].ipBlock.except[0]: 198.51.0.0/16 must be a strict subset of cidr 198.51.100.0/24'],
    [{ ipBlock: { cidr: '2001:db8::/32', except: ['2001:db8::/32'] } }, 'spec.ingress[0].from[0].ipBlock.except[0]: 2001:db8::/32 must be a strict subset of cidr 2001:db8::/32'],
    [{ ipBlock: { cidr: '2001:db8::/32', except: ['198.51.100.0/28'] } }, 'spec.ingress[0].from[0].ipBlock.except[0]: 198.51.100.0/28 must be a strict subset of cidr 2001:db8::/32'],
    [{ ipBlock: { cidr: '198.51.100.0/33' } }, 'spec.ingress[0].from[0].ipBlock.cidr: "198.51.100.0/33" is not a valid CIDR'],
    [{ ipBlock: { cidr: '198.51.100.300/24' } }, 'spec.ingress[0].from[0].ipBlock.cidr: "198.51.100.300/24" is not a valid CIDR'],
    [{ ipBlock: { cidr: '198.51.100.1' } }, 'spec.ingress[0].from[0].ipBlock.cidr: "198.51.100.1" is not a CIDR (address/prefix-length)'],
    [{ ipBlock: { cidr: '2001:db8::/129' } }, 'spec.ingress[0].from[0].ipBlock.cidr: "2001:db8::/129" is not a valid CIDR'],
    [{ ipBlock: {} }, 'spec.ingress[0].from[0].ipBlock.cidr: required'],
    [{ ipBlock: { cidr: '198.51.100.0/24', except: ['nonsense'] } }, 'spec.ingress[0].from[0].ipBlock.except[0]: "nonsense" is not a CIDR (address/prefix-length)'],
    [{ ipBlock: { cidr: '198.51.100.0/24' }, podSelector: {} }, 'spec.ingress[0].from[0]: may not specify more than 1 peer type when ipBlock is specified'],
    [{}, 'spec.ingress[0].from[0]: must specify a peer (podSelector, namespaceSelector or ipBlock)'],
    ['x', 'spec.ingress[0].from[0]: must be an object'],
  ];
  for (const [peer, msg] of peerCases) {
    it(`reports and fails closed: ${msg}`, () => {
      const c = cluster(...world(
        policy('x/bad', { podSelector: podSel('a'), ingress: [{ from: [peer, { podSelector: podSel('b') }] }] }),
        policy('y/good', { podSelector: podSel('a'), ingress: [{ from: [{ ipBlock: { cidr: '192.0.2.0/28' } }] }] }),
      ));
      expect(policyProblems(c)).to.deep.equal([`networkpolicy x/bad: ${msg}`]);
      expect(allowedBoth(c, 'x/b', 'x/a', 80)).to.equal(false); // the valid peer of the broken rule allows nothing either
      expect(decide(c, 'x/b', 'x/a', 80).explanation.ingress.reason).to.contain('invalid, allowing nothing: x/bad');
      expect(allowed(c, 'x/b', 'y/a', 80)).to.equal(true); // the rest is unaffected
      expect(allowed(c, 'z/b', 'y/a', 80)).to.equal(false);
      expect(allowedBoth(c, 'y/a', 'x/b', 80)).to.equal(true);
    });
  }
  it('the same on egress: a broken rule isolates egress with no allow', () => {
    const c = cluster(...world(policy('x/bad', { podSelector: podSel('a'), egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.0/24'] } }] }] })));
    expect(policyProblems(c)).to.deep.equal(['networkpolicy x/bad: spec.egress[0].to[0].ipBlock.except[0]: 203.0.113.0/24 must be a strict subset of cidr 203.0.113.0/24']);
    expect(decide(c, 'x/a', '203.0.113.200', 80).allowed).to.equal(false);
    expect(allowedBoth(c, 'x/a', 'y/a', 80)).to.equal(false);
    expect(allowedBoth(c, 'y/a', 'x/a', 80)).to.equal(false); // default types: ingress isolated too
    expect(allowedBoth(c, 'x/b', 'y/a', 80)).to.equal(true);
  });
  it('an unknown policy type is reported and isolates both directions', () => {
    const c = cluster(...world(policy('x/bad', { podSelector: podSel('a'), policyTypes: ['ingress'], ingress: [{}] })));
    expect(policyProblems(c)).to.deep.equal(['networkpolicy x/bad: spec.policyTypes[0]: "ingress" is not supported (Ingress, Egress)']);
    expect(allowedBoth(c, 'x/a', 'y/a', 80)).to.equal(false);
    expect(allowedBoth(c, 'y/a', 'x/a', 80)).to.equal(false);
  });
  it('structural mistakes name their field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ingress: { from: [] } }, 'spec.ingress: must be a list'],
      [{ ingress: ['x'] }, 'spec.ingress[0]: must be an object'],
      [{ ingress: [{ from: { podSelector: {} } }] }, 'spec.ingress[0].from: must be a list'],
      [{ ingress: [{ ports: { port: 80 } }] }, 'spec.ingress[0].ports: must be a list'],
      [{ ingress: [{ ports: ['80'] }] }, 'spec.ingress[0].ports[0]: must be an object'],
      [{ policyTypes: 'Ingress' }, 'spec.policyTypes: must be a list'],
      [{ policyTypes: ['Ingress', 'Egress', 'Ingress'] }, 'spec.policyTypes: may not specify more than two policyTypes'],
    ];
    for (const [spec, msg] of cases) {
      const c = cluster(...world(policy('x/bad', { podSelector: podSel('a'), ...spec })));
      expect(policyProblems(c), msg).to.deep.equal([`networkpolicy x/bad: ${msg}`]);
      expect(allowed(c, 'y/a', 'x/a', 80), msg).to.equal(false);
    }
  });
  it('a repeated policy type is accepted, as the API server does', () => {
    const c = cluster(...world(policy('x/twice', { podSelector: podSel('a'), policyTypes: ['Egress', 'Egress'], egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] })));
    expect(policyProblems(c)).to.deep.equal([]);
    expect(allowedBoth(c, 'x/a', 'y/a', 53, 'UDP')).to.equal(true);
    expect(allowedBoth(c, 'x/a', 'y/a', 80)).to.equal(false);
    expect(allowedBoth(c, 'y/a', 'x/a', 80)).to.equal(true); // not isolated for ingress
  });
  it('every problem of one policy is reported, not only the first', () => {
    const c = cluster(...world(policy('x/bad', { podSelector: podSel('a'), ingress: [{ ports: [{ port: 0 }, { protocol: 'ICMP' }] }], egress: [{ to: [{}] }] })));
    expect(policyProblems(c)).to.deep.equal([
      'networkpolicy x/bad: spec.ingress[0].ports[0].port: 0 must be between 1 and 65535, inclusive',
      'networkpolicy x/bad: spec.ingress[0].ports[1].protocol: "ICMP" is not supported (TCP, UDP or SCTP)',
      'networkpolicy x/bad: spec.egress[0].to[0]: must specify a peer (podSelector, namespaceSelector or ipBlock)',
    ]);
  });
  it('a spec that is not an object is reported and isolates its whole namespace, both ways (fail closed)', () => {
    const objs = world();
    const c = clusterFromObjects([...objs, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'bad', namespace: 'x' }, spec: 'deny' }]).cluster;
    expect(policyProblems(c)).to.deep.equal(['networkpolicy x/bad: spec: must be an object; every pod of namespace x is isolated by it, both ways, with nothing allowed']);
    expect(allowed(c, 'y/a', 'x/a', 80)).to.equal(false);
    expect(allowedBoth(c, 'x/a', 'y/a', 80)).to.equal(false);
    expect(allowedBoth(c, 'y/a', 'y/b', 80), 'other namespaces are untouched').to.equal(true);
  });
  it('an unreadable pod selector isolates its whole namespace, both ways (fail closed)', () => {
    const c = cluster(...world(policy('x/bad', { podSelector: { matchLabels: { pod: 7 } }, ingress: [{}] })));
    expect(policyProblems(c)).to.have.length(1);
    expect(allowed(c, 'y/a', 'x/b', 80)).to.equal(false);
    expect(allowedBoth(c, 'x/b', 'y/a', 80)).to.equal(false);
  });
});

describe('manifests: malformed objects and documents', () => {
  const good = `apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}}
spec: {nodeName: n1}
status: {phase: Running, podIP: 192.0.2.11}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {pod: b}}
spec: {nodeName: n1}
status: {phase: Running, podIP: 192.0.2.12}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]}
`;
  const load = (text: string) => {
    const m = parseManifestText(text, 'cluster.yaml');
    const c = clusterFromObjects(m.objects);
    return { cluster: c.cluster, problems: [...m.problems, ...c.problems].map(formatProblem) };
  };

  it('a pod whose containerPort is a string is reported by name; the rest compiles', () => {
    const r = load(`${good}---
apiVersion: v1
kind: Pod
metadata: {name: broken, namespace: x}
spec: {containers: [{name: c, ports: [{name: http, containerPort: "80"}]}]}
status: {podIP: 192.0.2.13}
`);
    expect(r.problems).to.deep.equal(['pod x/broken: spec.containers[0].ports[0].containerPort: must be a number: "80" read as 80']);
    // Kept (a dropped pod would not be isolated), its named port read as the user meant it.
    expect(r.cluster.pods.map((p) => p.name)).to.deep.equal(['a', 'b', 'broken']);
    expect(r.cluster.pods[2]!.namedPorts).to.deep.equal([{ name: 'http', protocol: 'TCP', port: 80 }]);
    expect(allowed(r.cluster, 'x/b', 'x/a', 80)).to.equal(true);
  });
  it('documents that are not objects are reported with file and document number', () => {
    const r = load(`${good}---
just a string
---
- a
- list
`);
    expect(r.problems).to.deep.equal([
      'document cluster.yaml document 5: not a Kubernetes object (a string)',
      'document cluster.yaml document 6: not a Kubernetes object (a list)',
    ]);
    expect(r.cluster.policies).to.have.length(1);
  });
  it('a YAML syntax error names file, document and line; the other documents load', () => {
    const r = load(`${good}---
kind: Pod
metadata: {name: c, namespace: x
  labels: [
`);
    expect(r.problems).to.have.length(1);
    expect(r.problems[0]).to.match(/^document cluster\.yaml document 5: line \d+: /);
    expect(r.cluster.pods).to.have.length(2);
  });
  it('bad objects inside a List are reported by item, the good ones kept', () => {
    const c = clusterFromObjects([{ kind: 'List', items: [42, { kind: 'Namespace', metadata: { name: 'x' } }, { kind: 'Pod', metadata: { name: 'p', namespace: 'x' }, status: { podIP: 'not-an-ip' } }] }]);
    expect(c.problems.map(formatProblem)).to.deep.equal(['document #1 items[0]: not a Kubernetes object', 'pod x/p: status.podIP: "not-an-ip" is not an IP address']);
    expect(c.cluster.namespaces.map((n) => n.name)).to.deep.equal(['x']);
  });
  it('another API group\'s NetworkPolicy is ignored; a corrupted apiVersion or kind cannot be read (never silently dropped)', () => {
    const np = (apiVersion: unknown, kind: unknown = 'NetworkPolicy') => ({ apiVersion, kind, metadata: { name: 'p', namespace: 'x' }, spec: { podSelector: {} } });
    const c = clusterFromObjects([np('projectcalico.org/v3'), np('networking.k8s{.io/v1'), np('networking.k8s.io/v2'), np('networking.k8s.io/v1', ['NetworkPolicy'])], ['a.yaml', 'b.yaml', 'c.yaml', 'd.yaml']);
    expect(c.problems.map(formatProblem)).to.deep.equal([
      'networkpolicy x/p: apiVersion: "projectcalico.org/v3" is not networking.k8s.io/v1: ignored',
      'document b.yaml (networkpolicy x/p): apiVersion: "networking.k8s{.io/v1" is not networking.k8s.io/v1 nor another API group\'s: not read',
      'document c.yaml (networkpolicy x/p): apiVersion: "networking.k8s.io/v2" is not networking.k8s.io/v1 nor another API group\'s: not read',
      'document d.yaml: kind: must be a string (is a list): not read',
    ]);
    expect(c.cluster.policies).to.deep.equal([]);
  });
  it('an object whose name cannot be read is a document problem naming where it came from', () => {
    const c = clusterFromObjects([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: { x: 1 }, namespace: 'x' } }], ['pods.yaml']);
    expect(c.problems.map((p) => `${p.kind} ${p.object}`)).to.deep.equal(['document pods.yaml (pod x/<unnamed>)']);
  });
  it('a pod the API server would refuse is kept best-effort: labels as text, addresses that parse, ports that can be read', () => {
    const c = clusterFromObjects([{
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'p', namespace: 'x', labels: { version: 2, canary: true, empty: null, odd: { a: 1 } } },
      spec: { nodeName: 'n1', hostNetwork: 'yes', containers: [{ ports: [{ name: 'http', containerPort: '80' }, { name: 'dns', containerPort: 'fifty', protocol: 'UDP' }, { name: 'm', containerPort: 9090, protocol: 'ICMP' }] }] },
      status: { phase: 'Running', podIPs: [{ ip: '192.0.2.300' }, { ip: '192.0.2.30' }, { ip: '2001:db8::30' }] },
    }]);
    const p = c.cluster.pods[0]!;
    expect(p.labels).to.deep.equal({ version: '2', canary: 'true', empty: '' });
    expect(p.ips).to.deep.equal(['192.0.2.30', '2001:db8::30']);
    expect(p.namedPorts).to.deep.equal([{ name: 'http', protocol: 'TCP', port: 80 }]);
    expect(p.hostNetwork, 'only true makes a host-network pod (never isolated)').to.equal(false);
    expect(c.problems.map((x) => x.path)).to.include.members(['metadata.labels.version', 'metadata.labels.odd', 'status.podIPs[0].ip', 'spec.containers[0].ports[0].containerPort', 'spec.containers[0].ports[1].containerPort', 'spec.containers[0].ports[2].protocol', 'spec.hostNetwork']);
    expect(c.problems.every((x) => x.object === 'x/p' && x.kind === 'pod')).to.equal(true);
  });
  it('a namespace the API server would refuse keeps matching as itself, with the labels that can be read', () => {
    const c = clusterFromObjects([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'y', labels: { team: 'red', n: 5, bad: ['x'] } } }]);
    expect(c.cluster.namespaces).to.deep.equal([{ name: 'y', labels: { team: 'red', n: '5', 'kubernetes.io/metadata.name': 'y' } }]);
    expect(c.problems.map(formatProblem)).to.deep.equal(['namespace y: metadata.labels.n: must be a string: 5 read as "5"', 'namespace y: metadata.labels.bad: must be a string (is a list): label left out']);
  });
  it('kind: List and PodList-style lists (items without kind) are unwrapped', () => {
    const r = load(`apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: x}}
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: p, namespace: x}
  spec: {podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]}
---
apiVersion: v1
kind: PodList
metadata: {resourceVersion: "1"}
items:
- metadata: {name: a, namespace: x, labels: {pod: a}}
  spec: {nodeName: n1}
  status: {phase: Running, podIP: 192.0.2.11}
- metadata: {name: b, namespace: x, labels: {pod: b}}
  spec: {nodeName: n1}
  status: {phase: Running, podIP: 192.0.2.12}
---
{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicyList", "items": [{"metadata": {"name": "q", "namespace": "x"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}]}
`);
    expect(r.problems).to.deep.equal([]);
    expect(r.cluster.pods.map((p) => p.name)).to.deep.equal(['a', 'b']);
    expect(r.cluster.policies.map((p) => p.name)).to.deep.equal(['p', 'q']);
    expect(decide(r.cluster, 'x/b', 'x/a', 80).explanation.ingress.allowed).to.equal(true);
    expect(decide(r.cluster, 'x/b', 'x/a', 80).explanation.egress.allowed).to.equal(false);
  });
  it('unknown fields and unknown kinds are ignored', () => {
    const r = load(`apiVersion: v1
kind: Pod
metadata:
  name: a
  namespace: x
  labels: {pod: a}
  annotations: {note: "x"}
  ownerReferences: [{kind: ReplicaSet, name: rs}]
  futureField: {deep: [1, 2]}
spec:
  nodeName: n1
  dnsPolicy: ClusterFirst
  containers: [{name: c, image: i, ports: [{name: http, containerPort: 80, hostPort: 8080}], resources: {limits: {cpu: "1"}}}]
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
  podIP: 192.0.2.11
  podIPs: [{ip: 192.0.2.11}]
---
apiVersion: v1
kind: Service
metadata: {name: s, namespace: x}
spec: {ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: x}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x, generation: 3}
spec:
  podSelector: {}
  ingress: [{ports: [{port: http}], futureRuleField: true}]
  futureSpecField: {x: 1}
status: {conditions: []}
`);
    expect(r.problems).to.deep.equal([]);
    expect(r.cluster.pods[0]!.namedPorts).to.deep.equal([{ name: 'http', protocol: 'TCP', port: 80 }]);
    expect(policyProblems(r.cluster)).to.deep.equal([]);
    expect(decide(r.cluster, '203.0.113.1', 'x/a', 80).allowed).to.equal(true);
    expect(decide(r.cluster, '203.0.113.1', 'x/a', 8080).allowed).to.equal(false);
  });
  it('kinds of the same name from other API groups are reported and ignored (Calico NetworkPolicy)', () => {
    const r = load(`${good}---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: calico, namespace: x}
spec: {selector: all(), types: [Ingress], ingress: [{action: Allow}]}
---
apiVersion: crd.projectcalico.org/v1
kind: NetworkPolicyList
items:
- metadata: {name: calico2, namespace: x}
  spec: {selector: all(), ingress: [{action: Allow}]}
`);
    expect(r.problems).to.deep.equal([
      'networkpolicy x/calico: apiVersion: "projectcalico.org/v3" is not networking.k8s.io/v1: ignored',
      'networkpolicy x/calico2: apiVersion: "crd.projectcalico.org/v1" is not networking.k8s.io/v1: ignored',
    ]);
    expect(r.cluster.policies.map((p) => p.name)).to.deep.equal(['p']);
    expect(allowed(r.cluster, 'x/b', 'x/a', 80)).to.equal(true);
  });
  it('an object defined twice is reported; the last one read is used', () => {
    const r = load(`${good}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, ingress: []}
`);
    expect(r.problems).to.deep.equal(['networkpolicy x/p: defined more than once; the last one read is used']);
    expect(allowed(r.cluster, 'x/b', 'x/a', 80)).to.equal(false);
  });
  it('JSON input works like YAML, and an empty file is an empty cluster', () => {
    const r = load(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } }));
    expect(r.cluster.namespaces.map((n) => n.name)).to.deep.equal(['x']);
    expect(load('').cluster).to.deep.equal({ namespaces: [], pods: [], policies: [] });
    expect(load('---\n---\n').problems).to.deep.equal([]);
  });
  it('compile reports the policy problems it meets, and the ruleset still comes out', () => {
    const r = load(good.replace('{pod: b}}}]}]}', '{pod: b}}}], ports: [{port: 1, endPort: 0}]}]}'));
    const out = compile(r.cluster, { node: 'n1' });
    expect(out.problems.map(formatProblem)).to.deep.equal(['networkpolicy x/p: spec.ingress[0].ports[0].endPort: 0 must be between 1 and 65535, inclusive']);
    expect(out.localPods.find((p) => p.name === 'a')!.ingress.isolated).to.equal(true);
    expect(allowed(r.cluster, 'x/b', 'x/a', 80)).to.equal(false);
  });
});
