// Rules that say where they come from (issue 10 item 1): every drop rule names the policies
// that isolate its pods, and the engine maps chains, rule comments and sets back to policies,
// rules and pods (what `trace` and the drop log read). Also the drop log's rules: only on
// drop paths, one shared limit, nothing on the way of allowed traffic.
import { expect } from 'chai';
import { clusterFromObjects, compile, engineFor, isOwnObject, NFT_COMMENT_MAX_BYTES, type Ruleset } from '../../compiler/index.js';
import { DROP, limitRef, NFTRACE } from '../../compiler/nft/build.js';
import { parseTraceChain, traceChain } from '../../compiler/nft/names.js';
import { allowed, cluster, policy, world, type Obj } from './builders.js';

const allowFromY = policy('x/web-from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 80 }] }] });
const denyAll = policy('x/default-deny', { ingress: [] });
const cnp = (name: string, spec: Record<string, unknown>): Obj => ({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name }, spec });
const nsSel = (n: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': n } });

// Policy drops (the guard chains' drops, before any policy, are the address checks').
const dropRules = (rs: Ruleset) => rs.chains.flatMap((c) => c.rules.flatMap((r, i) => (r.some((e) => e.kind === 'verdict' && e.verdict === 'drop') && !c.base && !c.name.startsWith('guard_') ? [{ chain: c.name, comment: c.comments?.[i] }] : [])));

describe('rule origins: drops that say why, and the map back to policies', () => {
  it('each group chain\'s drop names the policies that isolate its pods; chainInfo and ruleByComment map back', () => {
    const c = cluster(...world(denyAll, allowFromY));
    const e = engineFor(c, { node: 'n1' });
    const rs = e.ruleset();
    const drops = dropRules(rs);
    expect(drops.length).to.be.greaterThan(0);
    // x/a is selected by both, x/b by default-deny only: two groups, two reasons.
    expect(new Set(drops.map((d) => d.comment))).to.deep.equal(new Set(['ingress: isolated by x/default-deny, x/web-from-y', 'ingress: isolated by x/default-deny']));
    const both = drops.find((d) => d.comment === 'ingress: isolated by x/default-deny, x/web-from-y')!;
    const info = e.chainInfo(both.chain)!;
    expect(info).to.include({ direction: 'ingress', step: 'policies' });
    expect(info.isolatedBy).to.deep.equal(['x/default-deny', 'x/web-from-y']);
    expect(info.pods).to.deep.equal(['x/a']);
    expect([info.family, info.packet]).to.deep.equal([Number(both.chain[2]), both.chain[3] === 'o' ? 'original' : 'reply']);
    const r = e.ruleByComment(both.chain, 'x/web-from-y ingress[0] from[0]')!;
    expect(r.origin).to.deep.equal({ policy: 'x/web-from-y', direction: 'ingress', rule: 0, peer: 0 });
    expect(e.ruleOrigin(both.chain, r.index)).to.deep.equal(r.origin);
    expect(e.ruleByComment(both.chain, both.comment!)).to.deep.include({ origin: undefined });
    // The peer's set says which policy reads it.
    const peer = rs.chains.find((ch) => ch.name === both.chain)!.rules.flat().map((x) => JSON.stringify(x)).join().match(/"(peer_[0-9a-f]{12}_[46])"/)![1]!;
    expect(e.setOrigin(peer)).to.deep.include({ kind: 'peer', scope: '*', policies: ['x/web-from-y'] });
    expect(e.chainInfo('forward')).to.equal(undefined);
  });

  it('a rule whose match an earlier rule of the chain has is left out: the first keeps its comment and counter, decisions stay', () => {
    // Same peer (namespace y, seen from x: one shared set) and port as x/web-from-y's rule: a
    // copy that can never match where the first did not. Its rule 1 (port 81) is its own.
    const again = policy('x/web-from-y-again', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [
      { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 80 }] },
      { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 81 }] },
    ] });
    const c = cluster(...world(allowFromY, again));
    for (const policyRuleCounters of [false, true]) {
      const rs = engineFor(c, { node: 'n1', policyRuleCounters }).ruleset();
      for (const f of [4, 6]) {
        const ch = rs.chains.find((x) => x.name.startsWith(`in${f}o_`) && x.comments?.some((k) => k?.startsWith('x/web-from-y-again')))!;
        const policyRules = ch.rules.flatMap((r, i) => (ch.comments?.[i]?.startsWith('x/') ? [{ r: JSON.stringify(r), comment: ch.comments[i] }] : []));
        expect(policyRules.map((x) => x.comment), `in${f}o, counters ${policyRuleCounters}`).to.deep.equal(['x/web-from-y ingress[0] from[0]', 'x/web-from-y-again ingress[1] from[0]']);
        if (policyRuleCounters) {
          expect(policyRules[0]!.r).to.include('rule_in_x_web-from-y_0');
          // The copy's counter is still defined (it stays at 0: the first rule counts).
          expect(rs.counters).to.include.members(['rule_in_x_web-from-y_0', 'rule_in_x_web-from-y-again_0', 'rule_in_x_web-from-y-again_1']);
        }
      }
    }
    for (const [port, want] of [[80, true], [81, true], [82, false]] as const) {
      expect(allowed(c, 'y/a', 'x/a', port), `y/a -> x/a ${port}`).to.equal(want);
      expect(allowed(c, 'z/a', 'x/a', port), `z/a -> x/a ${port}`).to.equal(false);
    }
  });

  it('a reason too long for a comment is cut with a hash; chainInfo keeps every policy', () => {
    const long = Array.from({ length: 6 }, (_, i) => policy(`x/${String(i).repeat(40)}`, { ingress: [] }));
    const e = engineFor(cluster(...world(...long)), { node: 'n1' });
    const drops = dropRules(e.ruleset());
    for (const d of drops) {
      expect(Buffer.byteLength(d.comment!)).to.be.at.most(NFT_COMMENT_MAX_BYTES);
      expect(d.comment).to.match(/^ingress: isolated by x\/0{40}, .*~[0-9a-f]{12}$/);
      expect(e.chainInfo(d.chain)!.isolatedBy).to.have.length(6);
    }
  });

  it('with tiers, the deny chain names the Deny rules that lead there', () => {
    const deny = cnp('deny-y', { tier: 'Admin', priority: 20, subject: { namespaces: nsSel('x') }, ingress: [{ name: 'no-y', action: 'Deny', from: [{ namespaces: nsSel('y') }] }] });
    const { cluster: c } = clusterFromObjects(world(deny));
    const e = engineFor(c, { node: 'n1' });
    const drops = dropRules(e.ruleset());
    expect(new Set(drops.map((d) => d.comment))).to.deep.equal(new Set(['ingress: denied by cnp/deny-y ingress[0] "no-y"']));
    const info = e.chainInfo(drops[0]!.chain)!;
    expect(info).to.include({ step: 'deny', direction: 'ingress' });
    expect(info.clusterPolicies).to.deep.equal(['cnp/deny-y']);
    expect(info.pods).to.deep.equal(['x/a', 'x/b']);
  });

  it('the drop log: one shared limit, a trace mark before every drop of a group, nothing elsewhere', () => {
    const c = cluster(...world(denyAll, allowFromY));
    const off = compile(c, { node: 'n1' }).ruleset;
    const on = compile(c, { node: 'n1', dropLog: { rate: 10, per: 'second' } }).ruleset;
    expect(off.limits).to.equal(undefined);
    expect(on.limits).to.deep.equal([{ name: 'drop_log', rate: 10, per: 'second', burst: 5 }]);
    const marks = (rs: Ruleset) => rs.chains.flatMap((ch) => ch.rules.flatMap((r, i) => (JSON.stringify(r).includes('nftrace') ? [{ ch, i }] : [])));
    expect(marks(off)).to.deep.equal([]);
    const m = marks(on);
    expect(m.length).to.equal(dropRules(on).length);
    for (const { ch, i } of m) {
      expect(ch.base, 'never in a base chain: allowed traffic does not meet it').to.equal(undefined);
      expect(ch.rules[i]).to.deep.equal([limitRef('drop_log'), NFTRACE]);
      expect(ch.rules[i + 1]).to.deep.equal([DROP]);
    }
    // Everything else is the same ruleset.
    const strip = (rs: Ruleset) => JSON.stringify(rs.chains.map((ch) => ch.rules.filter((r) => !JSON.stringify(r).includes('nftrace'))));
    expect(strip(on)).to.equal(strip(off));
  });

  it('the drop log\'s limit and a trace\'s chain are our own objects; a trace chain name carries expiry, pid namespace and pid', () => {
    const name = traceChain(1764558000, 4026531836, 4242);
    expect(name).to.equal('trace_1764558000_4026531836_4242');
    expect(parseTraceChain(name)).to.deep.equal({ expires: 1764558000, pidNs: 4026531836, pid: 4242, hook: 'forward' });
    const input = traceChain(1764558000, 4026531836, 4242, 'input');
    expect(input).to.equal('trace_1764558000_4026531836_4242_in');
    expect(parseTraceChain(input)).to.deep.equal({ expires: 1764558000, pidNs: 4026531836, pid: 4242, hook: 'input' });
    for (const n of ['drop_log', name, input]) expect(isOwnObject(n), n).to.equal(true);
    for (const n of ['trace_x_1_2', 'trace_1_2', 'drop_logs', 'trace_1_2_3_out', 'trace_1_2_3_in_in']) {
      expect(isOwnObject(n), n).to.equal(false);
      expect(parseTraceChain(n), n).to.equal(undefined);
    }
  });
});
