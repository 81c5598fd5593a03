// The Kubernetes source's pure parts: the slim store, the backoff schedule, value sharing,
// and the typed-object-to-wire conversion that keeps `from` a `from`.
import { expect } from 'chai';
import { V1NetworkPolicy, V1NetworkPolicyIngressRule, V1NetworkPolicyPeer, V1NetworkPolicySpec, V1LabelSelector, V1ObjectMeta } from '@kubernetes/client-node';
import { parsePod, parsePolicy, type PodInfo } from '../../compiler/index.js';
import { Backoff } from '../../controller/kube/backoff.js';
import { Interner } from '../../controller/kube/intern.js';
import { toWire } from '../../controller/kube/resources.js';
import { SlimStore } from '../../controller/kube/store.js';
import { pod } from '../helpers/kube-api/fixtures.js';

describe('kube source parts', () => {
  describe('SlimStore', () => {
    const parsed = (o: unknown) => parsePod(o);

    it('adds, updates only on a real change, swaps a problem for a value, deletes', () => {
      const s = new SlimStore<PodInfo>();
      expect(s.put('x', 'a', parsed(pod('x/a', { ips: ['192.0.2.1'] })))).to.equal('add');
      expect(s.put('x', 'a', parsed(pod('x/a', { ips: ['192.0.2.1'] }))), 'same content').to.equal(undefined);
      expect(s.put('x', 'a', parsed(pod('x/a', { ips: ['192.0.2.2'] })))).to.equal('update');
      expect(s.put('x', 'a', parsed(pod('x/a', { ips: ['bad'] }))), 'now broken').to.equal('update');
      // Kept best-effort (still isolated by its namespace's policies), without the bad address.
      expect([...s.items()].map((p) => [p.name, p.ips])).to.deep.equal([['a', []]]);
      expect([...s.problems()].map((p) => p.object)).to.deep.equal(['x/a']);
      expect(s.put('x', 'a', parsed(pod('x/a', { ips: ['bad'] }))), 'same broken content').to.equal(undefined);
      expect(s.size).to.equal(1);
      expect(s.put('x', 'a', parsed(pod('x/a', { ips: ['192.0.2.3'] })))).to.equal('update');
      expect([...s.problems()]).to.deep.equal([]);
      expect(s.delete('x', 'a')).to.equal(true);
      expect(s.delete('x', 'a')).to.equal(false);
      expect(s.size).to.equal(0);
    });

    it('after replaceWith equals the new list, and says whether anything changed', () => {
      const s = new SlimStore<PodInfo>();
      s.put('x', 'a', parsed(pod('x/a', { ips: ['192.0.2.1'] })));
      s.put('x', 'gone', parsed(pod('x/gone', { ips: ['192.0.2.9'] })));
      const same = new SlimStore<PodInfo>();
      same.put('x', 'a', parsed(pod('x/a', { ips: ['192.0.2.1'] })));
      same.put('x', 'gone', parsed(pod('x/gone', { ips: ['192.0.2.9'] })));
      const v = s.version;
      expect(s.replaceWith(same)).to.equal(false);
      expect(s.version).to.equal(v);
      const next = new SlimStore<PodInfo>();
      next.put('x', 'a', parsed(pod('x/a', { ips: ['192.0.2.1'] })));
      next.put('y', 'b', parsed(pod('y/b', { ips: ['192.0.2.9'] })));
      expect(s.replaceWith(next)).to.equal(true);
      expect([...s.items()].map((p) => `${p.namespace}/${p.name}`)).to.deep.equal(['x/a', 'y/b']);
    });
  });

  describe('Backoff', () => {
    it('doubles from minMs, never exceeds maxMs, and starts over after reset', () => {
      const b = new Backoff({ minMs: 100, maxMs: 1000, random: () => 1 });
      expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).to.deep.equal([100, 200, 400, 800, 1000, 1000]);
      b.reset();
      expect(b.next()).to.equal(100);
    });

    it('jitters each delay down by at most half', () => {
      const b = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0 });
      expect([b.next(), b.next(), b.next(), b.next(), b.next()]).to.deep.equal([50, 100, 200, 400, 500]);
      const r = new Backoff({ minMs: 100, maxMs: 1000 });
      for (let i = 0; i < 100; i++) expect(r.next()).to.be.within(50, 1000);
    });

    it('rejects nonsense settings', () => {
      expect(() => new Backoff({ minMs: 0, maxMs: 10 })).to.throw(/minMs/);
      expect(() => new Backoff({ minMs: 10, maxMs: 5 })).to.throw(/minMs/);
    });
  });

  describe('Interner', () => {
    it('shares equal label sets and named ports between pods, frozen', () => {
      const i = new Interner();
      const slim = (ref: string, ip: string) => {
        const r = parsePod(pod(ref, { labels: { app: 'web' }, ips: [ip], ports: [{ name: 'http', containerPort: 80 }] }));
        if (!r.ok) throw new Error(r.problem.message);
        return i.pod(r.value);
      };
      const a = slim('x/a', '192.0.2.1');
      const b = slim('x/b', '192.0.2.2');
      expect(a.labels).to.equal(b.labels);
      expect(a.namedPorts).to.equal(b.namedPorts);
      expect(Object.isFrozen(a.labels)).to.equal(true);
      expect(a.ips).to.not.equal(b.ips);
    });

    it('starts over when the pool is full instead of growing without bound', () => {
      const i = new Interner(3);
      for (let n = 0; n < 10; n++) i.str(`v${n}`);
      expect(i.size).to.be.at.most(3);
      expect(i.str('again')).to.equal('again');
    });
  });

  describe('toWire', () => {
    it('gives typed client objects their JSON names back (`_from` -> `from`)', () => {
      const peer = Object.assign(new V1NetworkPolicyPeer(), { podSelector: Object.assign(new V1LabelSelector(), { matchLabels: { app: 'a' } }) });
      const rule = Object.assign(new V1NetworkPolicyIngressRule(), { _from: [peer], ports: [{ port: 'http' }] });
      const np = Object.assign(new V1NetworkPolicy(), {
        metadata: Object.assign(new V1ObjectMeta(), { name: 'p', namespace: 'x', creationTimestamp: new Date('2026-01-01T00:00:00Z') }),
        spec: Object.assign(new V1NetworkPolicySpec(), { podSelector: new V1LabelSelector(), ingress: [rule] }),
      });
      const wire = toWire(np) as { metadata: { creationTimestamp: string } };
      expect(wire.metadata.creationTimestamp).to.equal('2026-01-01T00:00:00.000Z');
      const r = parsePolicy(wire);
      expect(r.ok && r.value.spec).to.deep.equal({ podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } } }], ports: [{ port: 'http' }] }] });
    });
  });
});
