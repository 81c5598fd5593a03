// explain: endpoints given as pods or addresses, the family it picks, its errors and its text.
import { expect } from 'chai';
import { explain, ExplainError, explanationText } from '../../compiler/index.js';
import { cluster, decide, pod, policy, world } from './builders.js';

const podSel = (pod: string) => ({ matchLabels: { pod } });

describe('explain', () => {
  const c = cluster(...world(
    pod('x/v6', { labels: { pod: 'v6' }, ips: ['2001:db8::66'] }),
    policy('x/web', { podSelector: podSel('a'), ingress: [{ from: [{ podSelector: podSel('b') }], ports: [{ port: 'http' }] }, { from: [{ ipBlock: { cidr: '203.0.113.0/24' } }] }] }),
    policy('x/eg', { podSelector: podSel('b'), policyTypes: ['Egress'], egress: [{ to: [{ podSelector: podSel('a') }] }] }),
  ));
  it('two dual-stack pods: IPv4 first', () => {
    const e = explain(c, 'x/b', 'x/a', 80, 'TCP');
    expect(e.from).to.deep.equal({ ip: '192.0.2.12', pod: 'x/b' });
    expect(e.to).to.deep.equal({ ip: '192.0.2.11', pod: 'x/a' });
  });
  it('a pod and an address: the address decides the family', () => {
    expect(explain(c, 'x/a', '2001:db8:ffff::1', 443, 'TCP').from.ip).to.equal('2001:db8::11');
    expect(explain(c, '203.0.113.5', 'x/a', 22, 'TCP').to.ip).to.equal('192.0.2.11');
    expect(() => explain(c, 'x/v6', '203.0.113.5', 80, 'TCP')).to.throw(ExplainError, 'pod x/v6 has no IPv4 address');
  });
  it('a pod with only IPv6 and a dual-stack pod meet over IPv6', () => {
    expect(explain(c, 'x/v6', 'x/a', 80, 'TCP').to.ip).to.equal('2001:db8::11');
  });
  it('an address of a pod is that pod', () => {
    expect(explain(c, '192.0.2.12', '192.0.2.11', 80, 'TCP').from.pod).to.equal('x/b');
  });
  it('errors name what is wrong', () => {
    expect(() => explain(c, 'x/nope', 'x/a', 80, 'TCP')).to.throw(ExplainError, 'pod x/nope is not in the cluster state');
    expect(() => explain(c, 'nonsense', 'x/a', 80, 'TCP')).to.throw(ExplainError, '"nonsense" is neither NAMESPACE/POD nor an IP address');
    expect(() => explain(c, '192.0.2.1', '2001:db8::1', 80, 'TCP')).to.throw(ExplainError, 'different address families');
  });
  it('names the deciding policies and rules on both sides, in text', () => {
    const ok = decide(c, 'x/b', 'x/a', 80).explanation;
    expect(explanationText(ok)).to.equal([
      'x/b (192.0.2.12) -> x/a (192.0.2.11) TCP/80: ALLOWED',
      '  egress  at source:      allowed  allowed by x/eg egress[0]',
      '  ingress at destination: allowed  allowed by x/web ingress[0]',
      '',
    ].join('\n'));
    const no = decide(c, 'x/b', 'y/a', 80).explanation;
    expect(explanationText(no)).to.equal([
      'x/b (192.0.2.12) -> y/a (192.0.2.21) TCP/80: DENIED',
      '  egress  at source:      DENIED   isolated by x/eg; no rule allows it',
      '  ingress at destination: allowed  no policy selects y/a for ingress',
      '',
    ].join('\n'));
    const outside = decide(c, '203.0.113.9', 'x/a', 5432).explanation;
    expect(outside.egress.reason).to.equal('not a pod: NetworkPolicy does not restrict egress there');
    expect(outside.ingress.matched).to.deep.equal([{ policy: 'x/web', rule: 1 }]);
  });
  it('a denial by a broken policy says what is broken', () => {
    const d = cluster(...world(policy('x/bad', { podSelector: podSel('a'), ingress: [{ ports: [{ port: 90, endPort: 80 }] }] }), policy('y/bad', { podSelector: {}, ingress: [{ from: [{}] }] })));
    const e = decide(d, 'y/a', 'x/a', 85).explanation;
    expect(e.problems).to.deep.equal(['networkpolicy x/bad: spec.ingress[0].ports[0].endPort: 80 must be greater than or equal to port (90)']);
    expect(explanationText(e)).to.equal([
      'y/a (192.0.2.21) -> x/a (192.0.2.11) TCP/85: DENIED',
      '  egress  at source:      allowed  no policy selects y/a for egress',
      '  ingress at destination: DENIED   isolated by x/bad; no rule allows it (invalid, allowing nothing: x/bad)',
      '  invalid: networkpolicy x/bad: spec.ingress[0].ports[0].endPort: 80 must be greater than or equal to port (90)',
      '',
    ].join('\n'));
    expect(decide(d, 'x/b', 'x/a', 85).explanation.problems).to.have.length(1); // y/bad plays no part
  });
  it('every matching rule is listed, not only the first', () => {
    const d = cluster(...world(policy('x/p', { podSelector: podSel('a'), ingress: [{ ports: [{ port: 80 }] }, {}] }), policy('x/q', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] })));
    expect(decide(d, 'y/a', 'x/a', 80).explanation.ingress.matched).to.deep.equal([{ policy: 'x/p', rule: 0 }, { policy: 'x/p', rule: 1 }, { policy: 'x/q', rule: 0 }]);
  });
});
