// Every file of policies-examples/ on the wire, alone, with the extra labels listed in
// policies-examples/README.md (example-state.ts); each expectation (EXAMPLE_EXPECTED there) is the effect the file's leading
// comment states, written by hand.
import { expect as chaiExpect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runStep, useTopology } from './harness.js';
import { kinds } from './truth.js';
import { CLUSTER_EXAMPLE_EXPECTED as CLUSTER_EXPECTED, EXAMPLE_EXPECTED as EXPECTED, EXAMPLE_STATE } from './example-state.js';
import { REPO_ROOT } from './topology.js';

const DIR = join(REPO_ROOT, 'policies-examples');
const DUAL = kinds([80, 81], ['tcp', 'udp'], [4, 6]);

function loadExample(file: string): Record<string, unknown> {
  const text = readFileSync(join(DIR, file), 'utf8');
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>).filter((d) => d);
  chaiExpect(docs, `${file}: one object per file`).to.have.length(1);
  chaiExpect(docs[0]!.kind, `${file}: kind`).to.equal('NetworkPolicy');
  chaiExpect((docs[0]!.metadata as { namespace?: string }).namespace, `${file}: namespace of the model`).to.equal('x');
  chaiExpect(text.trimStart().startsWith('#'), `${file}: a leading comment states its effect`).to.equal(true);
  return docs[0]!;
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();

// ClusterNetworkPolicies (policies-examples/cluster/: cluster-scoped, one or more per file),
// with the same extra labels.
const CLUSTER_DIR = join(DIR, 'cluster');
const clusterFiles = readdirSync(CLUSTER_DIR).filter((f) => f.endsWith('.yaml')).sort();

/** A ClusterNetworkPolicy example: every document one of the kind, and the leading comment. */
function loadClusterExample(file: string): Record<string, unknown>[] {
  const text = readFileSync(join(CLUSTER_DIR, file), 'utf8');
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>).filter((d) => d);
  chaiExpect(docs.length, `${file}: at least one object`).to.be.greaterThan(0);
  for (const d of docs) chaiExpect([d.apiVersion, d.kind], `${file}: kind`).to.deep.equal(['policy.networking.k8s.io/v1alpha2', 'ClusterNetworkPolicy']);
  chaiExpect(text.trimStart().startsWith('#'), `${file}: a leading comment states its effect`).to.equal(true);
  return docs;
}

// Runs without a kernel too: an example nobody proves is caught everywhere.
describe('policies-examples: files', () => {
  it('every example has a hand-written expectation, and every expectation an example', () => {
    chaiExpect(files).to.deep.equal(Object.keys(EXPECTED).sort());
  });

  it('every example is one NetworkPolicy of namespace x with a leading comment', () => {
    for (const f of files) loadExample(f);
  });

  it('cluster/: every example has an expectation and holds ClusterNetworkPolicies with a leading comment', () => {
    chaiExpect(clusterFiles).to.deep.equal(Object.keys(CLUSTER_EXPECTED).sort());
    for (const f of clusterFiles) loadClusterExample(f);
  });
});

describe('e2e: policies-examples', function () {
  this.timeout(120_000);
  const topo = useTopology();

  for (const file of files) {
    it(`${file}: ${EXPECTED[file] ? 'the effect its comment states' : 'NO EXPECTATION'}`, async () => {
      const want = EXPECTED[file];
      if (!want) throw new Error(`${file} has no expectation in examples.test.ts`);
      const applied = await runStep(topo(), { state: { ...EXAMPLE_STATE, policies: [loadExample(file)] }, expect: want(), kinds: DUAL, title: file });
      chaiExpect(applied.stderr.n1 + applied.stderr.n2, `${file}: compiles without problems`).to.equal('');
      if (file === 'database-from-backend.yaml') {
        // x/c lives on n1: its ingress allows x/b (192.0.2.139, 2001:db8:2::11) on TCP 5432.
        // The peer (role=backend in x) is a shared set holding x/b's addresses; the rule that
        // reads it allows TCP 5432 and names its origin.
        const listed = topo().nodeExec('n1', 'nft', ['list', 'table', 'inet', 'netpol_nft']);
        const set4 = /set (peer_[0-9a-f]{12}_4) \{[^}]*192\.0\.2\.139[^}]*\}/.exec(listed)?.[1];
        const set6 = /set (peer_[0-9a-f]{12}_6) \{[^}]*2001:db8:2::11[^}]*\}/.exec(listed)?.[1];
        chaiExpect(set4, listed).to.be.a('string');
        chaiExpect(set6, listed).to.be.a('string');
        // (nft lists a one-element anonymous set as a plain comparison)
        for (const [ip, set] of [['ip', set4], ['ip6', set6]]) {
          chaiExpect(listed).to.match(new RegExp(`${ip} saddr @${set} (?:meta l4proto tcp th dport 5432|tcp dport 5432) return comment "x/database-from-backend ingress\\[0\\] from\\[0\\]"`));
        }
      }
    });
  }

  for (const file of clusterFiles) {
    it(`cluster/${file}: the effect its comment states`, async () => {
      const applied = await runStep(topo(), { state: { ...EXAMPLE_STATE, policies: loadClusterExample(file) }, expect: CLUSTER_EXPECTED[file]!(), kinds: DUAL, title: `cluster/${file}` });
      chaiExpect(applied.stderr.n1 + applied.stderr.n2, `${file}: compiles without problems`).to.equal('');
      if (file === 'deny-metadata.yaml') {
        // The metadata addresses, on node n1 for the test: x/a (on n1) reaches its node on
        // them through the input hook, where its egress is decided.
        const t = topo(), meta = ['169.254.169.254/32', 'fd00:ec2::254/128'];
        for (const a of meta) t.nodeExec('n1', 'ip', ['addr', 'add', a, 'dev', 'lo']);
        try {
          const got = await t.prober('x/a').probe([
            { host: '169.254.169.254', port: 80, proto: 'tcp' }, { host: 'fd00:ec2::254', port: 81, proto: 'tcp' }, { host: t.node('n1').ipv4, port: 80, proto: 'tcp' },
          ]);
          chaiExpect(got, 'x/a -> metadata (IPv4, IPv6) denied; the same node on its own address is not').to.deep.equal([false, false, true]);
        } finally {
          for (const a of meta) t.nodeExec('n1', 'ip', ['addr', 'del', a, 'dev', 'lo']);
        }
      }
    });
  }
});
