// A change costs what it touches (counting, never timing): the transaction for one pod
// joining, leaving or moving between peers, and for one policy added or deleted, has the same
// size in a 100-pod and a 10,000-pod cluster, and a pod joining a peer that 50 groups use is
// one element in that peer's shared set — not one per group.
import { expect } from 'chai';
import { batchOperations, engineFor, type Batch, type Cluster, type PodInfo, type PolicyInfo } from '../../compiler/index.js';

const GROUPS = 50;

function pod(ns: string, name: string, node: string, labels: Record<string, string>, ip: string): PodInfo {
  return { namespace: ns, name, nodeName: node, labels, ips: [ip], phase: 'Running', hostNetwork: false, namedPorts: [] };
}
const ip = (i: number) => `198.18.${(i >> 8) & 0xff}.${i & 0xff}`;

/** 50 local pods, each selected by its own policy (50 groups), every policy allowing from the
 *  same peer (role=monitor in namespace x); `filler` more pods on other nodes. */
function cluster(filler: number): Cluster {
  const pods: PodInfo[] = [], policies: PolicyInfo[] = [];
  for (let g = 0; g < GROUPS; g++) {
    pods.push(pod('x', `local${g}`, 'n1', { app: `a${g}` }, `192.0.2.${g + 10}`));
    policies.push({ namespace: 'x', name: `p${g}`, spec: { podSelector: { matchLabels: { app: `a${g}` } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'monitor' } } }], ports: [{ port: 9100 }] }] } });
  }
  for (let i = 0; i < filler; i++) pods.push(pod(i % 2 ? 'x' : 'y', `f${i}`, `n${2 + (i % 9)}`, { role: i % 10 === 1 ? 'monitor' : 'web', app: `b${i % 40}` }, ip(i)));
  return { namespaces: [{ name: 'x', labels: {} }, { name: 'y', labels: {} }], pods, policies };
}

/** Ops of each change's delta (each applied to a committed engine, then undone). */
function sizes(filler: number): Record<string, number> {
  const c = cluster(filler);
  const e = engineFor(c, { node: 'n1' });
  let gen = 1;
  e.fullBatch(gen);
  e.commit();
  const out: Record<string, number> = {};
  const step = (name: string, apply: () => void, undo: () => void, check?: (b: Batch) => void) => {
    apply();
    const b = e.deltaBatch(++gen)!;
    check?.(b);
    out[name] = batchOperations(b);
    e.commit();
    undo();
    e.deltaBatch(++gen);
    e.commit();
  };
  const mon = pod('x', 'mon-new', 'n5', { role: 'monitor' }, '203.0.113.7');
  step('monitor pod added', () => e.apply({ kind: 'pod', op: 'upsert', pod: mon }), () => e.apply({ kind: 'pod', op: 'delete', namespace: 'x', name: 'mon-new' }), (b) => {
    // One element, in one shared set: whatever the number of groups that use the peer.
    // (Added elements travel in `add set` with the set's declaration: see ElementStore.deltaBatch.)
    const elems = b.nftables.flatMap((cmd) => {
      const o = cmd.add && ((cmd.add.element ?? cmd.add.set ?? cmd.add.map) as { name: string; elem?: unknown[] } | undefined);
      return o?.elem ? [o] : [];
    });
    expect(elems.map((o) => o.elem)).to.deep.equal([['203.0.113.7']]);
    expect(elems[0]!.name).to.match(/^peer_[0-9a-f]{12}_4$/);
  });
  const victim = c.pods.find((p) => p.name === 'f3')!; // in x, role web
  const monitorInX = c.pods.find((p) => p.namespace === 'x' && p.labels.role === 'monitor')!;
  step('monitor pod deleted', () => e.apply({ kind: 'pod', op: 'delete', namespace: 'x', name: monitorInX.name }), () => e.apply({ kind: 'pod', op: 'upsert', pod: monitorInX }));
  step('pod relabelled into the peer', () => e.apply({ kind: 'pod', op: 'upsert', pod: { ...victim, labels: { ...victim.labels, role: 'monitor' } } }), () => e.apply({ kind: 'pod', op: 'upsert', pod: victim }));
  const added: PolicyInfo = { namespace: 'x', name: 'extra', spec: { podSelector: { matchLabels: { app: 'a3' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'monitor' } } }], ports: [{ port: 8080 }] }] } };
  step('policy added', () => e.apply({ kind: 'networkpolicy', op: 'upsert', policy: added }), () => e.apply({ kind: 'networkpolicy', op: 'delete', namespace: 'x', name: 'extra' }));
  step('policy deleted', () => e.apply({ kind: 'networkpolicy', op: 'delete', namespace: 'x', name: 'p7' }), () => e.apply({ kind: 'networkpolicy', op: 'upsert', policy: c.policies[7]! }));
  step('local pod added to a group', () => e.apply({ kind: 'pod', op: 'upsert', pod: pod('x', 'local-new', 'n1', { app: 'a4' }, '192.0.2.200') }), () => e.apply({ kind: 'pod', op: 'delete', namespace: 'x', name: 'local-new' }));
  return out;
}

describe('transaction size: a change costs what it touches', function () {
  this.timeout(120_000);

  it('is the same for 100 and 10,000 pods, for pod and policy changes', () => {
    const small = sizes(100), large = sizes(10_000);
    expect(large).to.deep.equal(small);
    // The forward chain is re-stamped each time (a flush and its 15 rules: the invalid state,
    // the reverse-path check, the cache check, the stamp cleared, the jump to the guard chain,
    // the related state, 8 dispatches, the stamp written): beyond that, a pod joining or
    // leaving a peer is one element.
    const FORWARD = 1 + 15;
    // An added element counts with the `add set` that carries it (ElementStore.deltaBatch).
    expect(small['monitor pod added']).to.equal(FORWARD + 2);
    expect(small['monitor pod deleted']).to.equal(FORWARD + 1);
    expect(small['pod relabelled into the peer']).to.equal(FORWARD + 2);
    expect(small['local pod added to a group']).to.equal(FORWARD + 9); // 2 dispatch-map and 1 counter-map elements, its local address, each in its `add map`/`add set`; its counter
    for (const [k, v] of Object.entries(small)) expect(v, k).to.be.below(60);
  });
});
