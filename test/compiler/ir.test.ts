// The IR directly: podView (isolation, selecting policies, resolved allowances) and
// matchingAllowances (which rules admit one probe), the layer both explain and the ruleset read.
import { expect } from 'chai';
import { indexCluster, matchingAllowances, podView, type Cluster, type PodInfo } from '../../compiler/index.js';
import { cluster, pod, policy, world } from './builders.js';

const podSel = (pod: string) => ({ matchLabels: { pod } });
const find = (c: Cluster, id: string): PodInfo => c.pods.find((p) => `${p.namespace}/${p.name}` === id)!;
const names = (pods: readonly PodInfo[]) => pods.map((p) => `${p.namespace}/${p.name}`);

describe('IR: podView and matchingAllowances', () => {
  const c = cluster(...world(
    pod('y/idle', { labels: { pod: 'b' }, node: 'n2', ips: ['192.0.2.29'], phase: 'Failed' }),
    policy('x/web', { podSelector: podSel('a'), ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: podSel('b') }, { ipBlock: { cidr: '198.51.100.0/24', except: ['198.51.100.0/25'] } }], ports: [{ port: 'http' }, { protocol: 'UDP', port: 5000, endPort: 5010 }] }] }),
    policy('x/deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    policy('x/broken', { podSelector: podSel('a'), ingress: [{ ports: [{ protocol: 'ICMP' }] }] }),
  ));
  const idx = indexCluster(c);
  const a = find(c, 'x/a');

  it('lists the selecting policies, sorted, and the invalid ones among them', () => {
    const v = podView(idx, a, 'ingress');
    expect(v.isolated).to.equal(true);
    expect(v.policies).to.deep.equal(['x/broken', 'x/deny', 'x/web']);
    expect(v.invalidPolicies).to.deep.equal(['x/broken']);
    expect(podView(idx, a, 'egress').policies).to.deep.equal(['x/deny']);
    expect(podView(idx, find(c, 'y/a'), 'ingress')).to.deep.include({ isolated: false, policies: [] });
  });
  it('resolves peers to active pods and CIDR ranges; invalid policies contribute no allowance', () => {
    const v = podView(idx, a, 'ingress');
    expect(v.allowances).to.have.length(1);
    const [al] = v.allowances;
    expect(al!.policy).to.equal('x/web');
    expect(al!.rule).to.equal(0);
    const [pods, block] = al!.peers!;
    expect(pods!.kind === 'pods' && names(pods!.pods)).to.deep.equal(['y/b']); // y/idle has Failed
    expect(block!.kind === 'cidr' && block!.text).to.equal('198.51.100.0/24 except 198.51.100.0/25');
    expect(al!.ports).to.deep.equal([{ kind: 'named', protocol: 'TCP', name: 'http' }, { kind: 'range', protocol: 'UDP', from: 5000, to: 5010 }]);
  });
  it('matchingAllowances: peer AND port, named ports on the destination pod', () => {
    const v = podView(idx, a, 'ingress');
    const yb = find(c, 'y/b');
    const probe = (peerIp: string, protocol: 'TCP' | 'UDP', port: number) => matchingAllowances(v, { peerIp, peerPod: idx.podByIp(peerIp), protocol, port, destinationPod: a }).map((m) => `${m.policy}#${m.rule}`);
    expect(probe(yb.ips[0]!, 'TCP', 80)).to.deep.equal(['x/web#0']);
    expect(probe(yb.ips[1]!, 'TCP', 80)).to.deep.equal(['x/web#0']);
    expect(probe(yb.ips[0]!, 'TCP', 81)).to.deep.equal([]);
    expect(probe('198.51.100.200', 'UDP', 5010)).to.deep.equal(['x/web#0']);
    expect(probe('198.51.100.20', 'UDP', 5010)).to.deep.equal([]);
    expect(probe('192.0.2.29', 'TCP', 80)).to.deep.equal([]); // the Failed pod's old address
    // a named port on a destination that lacks it
    const bare = { ...a, namedPorts: [] };
    expect(matchingAllowances(v, { peerIp: yb.ips[0]!, peerPod: yb, protocol: 'TCP', port: 80, destinationPod: bare })).to.deep.equal([]);
    expect(matchingAllowances(v, { peerIp: yb.ips[0]!, peerPod: yb, protocol: 'TCP', port: 80, destinationPod: undefined })).to.deep.equal([]);
  });
  it('a pod-selector peer does not match an address the pod does not hold', () => {
    const v = podView(idx, a, 'ingress');
    const yb = find(c, 'y/b');
    expect(matchingAllowances(v, { peerIp: '192.0.2.99', peerPod: yb, protocol: 'TCP', port: 80, destinationPod: a })).to.deep.equal([]);
  });
});
