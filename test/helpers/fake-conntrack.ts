// A stand-in for the conntrack binary in tests without a kernel: counts the clearing passes
// the agent asks for, and fails them on demand.
import type { ConntrackPort } from '../../controller/generation.js';

export class FakeConntrack implements ConntrackPort {
  passes = 0;
  fail: string | undefined;
  async clearMarks(): Promise<void> {
    if (this.fail !== undefined) throw new Error(this.fail);
    this.passes++;
  }
}
