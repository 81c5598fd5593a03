// What the Kubernetes source keeps per pod, measured in a child node with --expose-gc (the
// probe forces GCs around the list). The bound is loose on purpose (V8 versions differ):
// it catches a regression to keeping API objects (several KB each), not a few bytes.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const probe = fileURLToPath(new URL('../helpers/kube-api/memory-probe.ts', import.meta.url));

describe('kube source memory', function () {
  this.timeout(120_000);

  it('keeps a pod in well under 1.5 KB of heap (slim objects, shared label sets)', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', probe, '20000'], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { pods: number; bytesPerPod: number; heapBytes: number };
    process.stdout.write(`      kube source memory: ${r.bytesPerPod} bytes per pod (${r.pods} pods, ${(r.heapBytes / 2 ** 20).toFixed(1)} MiB)\n`);
    expect(r.pods).to.equal(20000);
    expect(r.bytesPerPod).to.be.greaterThan(0).and.lessThan(1500);
  });
});
