// The nft port against the real binary in a network namespace: apply, list, typed errors, and
// the text re-run that gives a failed JSON batch a position.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { expect } from 'chai';
import { batchJson, compile, deleteTableBatch, fullBatch, type Batch } from '../../compiler/index.js';
import { classifyNftError, countersOf, NftCli, NftError } from '../../controller/nft.js';
import { Netns, requireKernel } from '../helpers/kernel.js';
import { removeLeftovers, RUN } from './harness.js';

describe('agent: nft port', function () {
  this.timeout(60_000);

  it('classifies nft messages', () => {
    expect(classifyNftError('Error: Could not process rule: No such file or directory')).to.equal('not-found');
    expect(classifyNftError('Error: Could not process rule: File exists')).to.equal('exists');
    expect(classifyNftError('Error: Could not process rule: Operation not permitted')).to.equal('permission');
    expect(classifyNftError('x:1:5-9: Error: syntax error, unexpected string')).to.equal('syntax');
    expect(classifyNftError('Error: something else')).to.equal('failed');
  });

  it('reports a missing binary as not-installed', async () => {
    const err = await new NftCli(['/nonexistent/nft']).apply('{"nftables":[]}').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(NftError);
    expect((err as NftError).kind).to.equal('not-installed');
  });

  it('hands nft the batch through a file that is already unlinked: nothing is left in the temporary folder, even while nft runs', async () => {
    const mine = () => readdirSync(tmpdir()).filter((f) => f.startsWith(`netpol-nft-batch-${process.pid}-`));
    // A stand-in for nft that waits, then prints what it was given as -f (its fd 3) and fails.
    const fake = new NftCli(['sh', '-c', 'sleep 0.3; cat "$3" >&2; exit 1', 'fake-nft']);
    const applying = fake.apply('{"nftables":[{"add":{"table":{"family":"inet","name":"t"}}}]}').catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    expect(mine(), 'no file exists while nft runs (a kill here leaves nothing)').to.deep.equal([]);
    const err = (await applying) as NftError;
    expect(err.stderr).to.contain('"name":"t"');
    expect(mine()).to.deep.equal([]);
  });

  it('writes a large batch to the file in slices, every byte as given (a character of two UTF-16 halves across a slice boundary included)', async () => {
    // The file is written about 1 MB of characters at a time: put a 4-byte character across
    // the first boundary, 2- and 3-byte ones around the others, and compare digests.
    const head = '{"nftables":[{"add":{"table":{"family":"inet","name":"t"}}}],"pad":"';
    const pad = (n: number) => 'x'.repeat(n);
    const body = `${head}${pad((1 << 20) - head.length - 1)}\u{1F600}${pad(1 << 20)}é€${pad(300_000)}\u{1F600}"}`;
    expect(body.charCodeAt((1 << 20) - 1), 'the first slice ends on a high surrogate').to.be.within(0xd800, 0xdbff);
    const fake = new NftCli(['sh', '-c', 'sha256sum < "$3" >&2; wc -c < "$3" >&2; exit 1', 'fake-nft']);
    const err = (await fake.apply(body).catch((e: unknown) => e)) as NftError;
    expect(err).to.be.instanceOf(NftError);
    const bytes = Buffer.from(body, 'utf8');
    expect(err.stderr.split(/\s+/).filter((w) => w !== '-')).to.deep.equal([createHash('sha256').update(bytes).digest('hex'), String(bytes.length)]);
  });

  describe('in a network namespace', () => {
    let ns: Netns;
    let nft: NftCli;
    before(function () {
      requireKernel(this);
      removeLeftovers();
      ns = Netns.create(`${RUN}port`);
      nft = new NftCli(['ip', 'netns', 'exec', ns.name, 'nft']);
    });
    after(() => ns?.delete());

    it('applies a batch, lists the table and its counters, and says undefined for a missing table', async () => {
      expect(await nft.list('inet', 'netpol_nft')).to.equal(undefined);
      const cluster = {
        namespaces: [{ name: 'x', labels: {} }],
        pods: [{ namespace: 'x', name: 'a', nodeName: 'n1', labels: {}, ips: ['192.0.2.10'], phase: 'Running', hostNetwork: false, namedPorts: [] }],
        policies: [{ namespace: 'x', name: 'deny', spec: { podSelector: {} } }],
      };
      await nft.apply(batchJson(fullBatch(compile(cluster, { node: 'n1' }).ruleset)));
      const listing = await nft.list('inet', 'netpol_nft');
      expect(JSON.parse(listing!).nftables.some((o: Record<string, unknown>) => 'chain' in o)).to.equal(true);
      const counters = countersOf((await nft.list('inet', 'netpol_nft', 'counters'))!);
      expect([...counters.keys()]).to.deep.equal(['drop_in_x_a']);
      expect(counters.get('drop_in_x_a')).to.deep.equal({ packets: 0, bytes: 0 });
    });

    it('reads the counters through a reset: each read returns what was counted since the previous one', async () => {
      // Loopback traffic inside the namespace through a rule of our own that uses the pod's
      // counter (the table's hooks see only forwarded and pod traffic).
      ns.exec('nft', ['add chain inet netpol_nft test_out { type filter hook output priority 0; }']);
      ns.exec('nft', ['add rule inet netpol_nft test_out udp dport 9 counter name drop_in_x_a']);
      const send = (n: number) => ns.exec('bash', ['-c', `for i in $(seq ${n}); do printf x > /dev/udp/127.0.0.1/9; done`]);
      send(3); // 3 datagrams of 20 + 8 + 1 bytes
      const first = countersOf((await nft.list('inet', 'netpol_nft', 'counters'))!);
      expect(first.get('drop_in_x_a')).to.deep.equal({ packets: 3, bytes: 3 * 29 });
      const second = countersOf((await nft.list('inet', 'netpol_nft', 'counters'))!);
      expect(second.get('drop_in_x_a'), 'zeroed by the first read').to.deep.equal({ packets: 0, bytes: 0 });
      send(2);
      expect(countersOf((await nft.list('inet', 'netpol_nft', 'counters'))!).get('drop_in_x_a')).to.deep.equal({ packets: 2, bytes: 2 * 29 });
      ns.exec('nft', ['delete chain inet netpol_nft test_out']);
    });

    it('throws a typed error with a positioned message when a batch fails, and changes nothing', async () => {
      const before = ns.listTable('inet', 'netpol_nft');
      const bad: Batch = { nftables: [{ add: { set: { family: 'inet', table: 'netpol_nft', name: 's', type: 'ipv4_addr' } } }, { delete: { element: { family: 'inet', table: 'netpol_nft', name: 's', elem: ['192.0.2.99'] } } }] };
      const err = await nft.apply(batchJson(bad)).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(NftError);
      expect((err as NftError).kind).to.equal('not-found');
      expect((err as NftError).detail, 'the text re-run names a line').to.match(/:2:\d+/);
      expect(ns.listTable('inet', 'netpol_nft'), 'the transaction left no trace').to.equal(before);
    });

    it('deletes the table idempotently', async () => {
      await nft.apply(batchJson(deleteTableBatch('inet', 'netpol_nft')));
      await nft.apply(batchJson(deleteTableBatch('inet', 'netpol_nft')));
      expect(await nft.list('inet', 'netpol_nft')).to.equal(undefined);
      expect(await nft.list('inet', 'netpol_nft', 'counters'), 'no table: no counters').to.equal(undefined);
    });
  });
});
