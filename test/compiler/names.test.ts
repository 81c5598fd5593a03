// Names of our nft objects: within nft's limits (255 bytes for objects, 127 for comments), cut
// by bytes and never inside a UTF-8 character, never shared by two different objects, and
// recognised by one predicate.
import { expect } from 'chai';
import { compile, isOwnObject, NFT_COMMENT_MAX_BYTES, NFT_NAME_MAX_BYTES, type Cluster } from '../../compiler/index.js';
import { counterName, cutBytes, generationChain, ownerError, parseGenerationChain, ruleComment, tableNameError } from '../../compiler/nft/names.js';

describe('nft names', () => {
  it('cuts by bytes, never inside a character', () => {
    expect(cutBytes('abc', 2)).to.equal('ab');
    expect(cutBytes('aé', 2)).to.equal('a'); // é is 2 bytes: not cut in half
    expect(cutBytes('a€b', 3)).to.equal('a');
    expect(cutBytes('a€b', 4)).to.equal('a€');
    expect(Buffer.from(cutBytes('😀'.repeat(100), 127)).toString()).to.not.contain('\uFFFD');
  });

  it('the marker chain carries serial, stamp and owner, reads back exactly, and is ours', () => {
    const name = generationChain(12345, 0x7f, 'netpol-nft_a.b');
    expect(name).to.equal('gen_12345_0000007f_netpol-nft_a.b');
    expect(parseGenerationChain(name)).to.deep.equal({ serial: 12345, stamp: 0x7f, owner: 'netpol-nft_a.b' });
    expect(isOwnObject(name)).to.equal(true);
    expect(parseGenerationChain('gen_1_0000007f_bad owner')).to.equal(undefined);
    expect(ownerError('ok-1')).to.equal(undefined);
    for (const bad of ['', 'a b', '-x', 'x;y', 'é', 'a'.repeat(64)]) expect(ownerError(bad), bad).to.be.a('string');
    for (const bad of ['x;flush ruleset', '1x', '', 'a-b', 'a'.repeat(65)]) expect(tableNameError(bad), bad).to.be.a('string');
    expect(tableNameError('netpol_nft')).to.equal(undefined);
  });

  it('gives different pods different counters, even when `_` would make their names meet', () => {
    expect(counterName('ingress', 'a_b', 'c')).to.not.equal(counterName('ingress', 'a', 'b_c'));
    expect(counterName('ingress', 'x', 'a')).to.equal('drop_in_x_a'); // valid names stay readable
    expect(counterName('ingress', 'x', 'a')).to.not.equal(counterName('egress', 'x', 'a'));
  });

  it('keeps every name within 255 bytes and every comment within 127, for the longest Kubernetes names', () => {
    const ns = 'n'.repeat(63), long = 'p'.repeat(253), odd = 'é'.repeat(200);
    for (const [a, b] of [[ns, long], [odd, odd], [ns, odd]] as const) {
      const c = counterName('ingress', a, b);
      expect(Buffer.byteLength(c)).to.be.at.most(NFT_NAME_MAX_BYTES);
      expect(isOwnObject(c), c).to.equal(true);
    }
    const comment = ruleComment(`${ns}/${long} ingress[0] from[3]`);
    expect(Buffer.byteLength(comment)).to.be.at.most(NFT_COMMENT_MAX_BYTES);
    expect(ruleComment(`${ns}/${long}a ingress[0]`)).to.not.equal(ruleComment(`${ns}/${long}b ingress[0]`));
    expect(Buffer.byteLength(ruleComment(`${odd} egress[1]`))).to.be.at.most(NFT_COMMENT_MAX_BYTES);
  });

  it('recognises every object of a compiled ruleset as ours, and nothing else', () => {
    const c: Cluster = {
      namespaces: [{ name: 'x', labels: {} }],
      pods: [
        { namespace: 'x', name: 'a', nodeName: 'n1', labels: { app: 'a' }, ips: ['192.0.2.10', '2001:db8::a'], phase: 'Running', hostNetwork: false, namedPorts: [{ name: 'http', protocol: 'TCP', port: 80 }] },
        { namespace: 'x', name: 'b', nodeName: 'n2', labels: { app: 'b' }, ips: ['192.0.2.11'], phase: 'Running', hostNetwork: false, namedPorts: [{ name: 'http', protocol: 'TCP', port: 80 }] },
      ],
      policies: [{ namespace: 'x', name: 'p', spec: { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } } }] }], egress: [{ to: [{ podSelector: {} }], ports: [{ port: 'http' }] }, { ports: [{ port: 'http' }] }] } }],
    };
    const rs = compile(c, { node: 'n1' }).ruleset;
    const names = [...rs.chains.map((x) => x.name), ...rs.sets.map((x) => x.name), ...rs.maps.map((x) => x.name), ...rs.counters];
    expect(names.some((n) => n.startsWith('np_'))).to.equal(true);
    expect(names.some((n) => n.startsWith('npany_'))).to.equal(true);
    for (const n of names) expect(isOwnObject(n), n).to.equal(true);
    for (const n of ['cali-fw', 'KUBE-SERVICES', 'peer_x_4', 'in4o_zz', 'drop_in_x', '']) expect(isOwnObject(n), n).to.equal(false);
  });
});
