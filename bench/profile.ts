// Where compile spends its time: a CPU profile of one full compile taken with the inspector
// (in-process, around compile only), reduced to self time per function.
import { Session } from 'node:inspector/promises';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile { nodes: ProfileNode[]; startTime: number; endTime: number; samples?: number[] }

export interface Hotspot { fn: string; selfMs: number; share: number }

export async function profileSelfTime(f: () => unknown, top = 10): Promise<{ totalMs: number; hotspots: Hotspot[] }> {
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.setSamplingInterval', { interval: 200 });
  await s.post('Profiler.start');
  f();
  const { profile } = (await s.post('Profiler.stop')) as unknown as { profile: Profile };
  s.disconnect();
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const hits = profile.nodes.reduce((n, x) => n + (x.hitCount ?? 0), 0) || 1;
  const by = new Map<string, number>();
  for (const n of profile.nodes) {
    const { functionName, url, lineNumber } = n.callFrame;
    // tsx output has no useful line numbers (everything maps to line 1): name the file only.
    const where = url ? basename(url.replace(/^file:\/\//, '')) + (lineNumber > 0 ? `:${lineNumber + 1}` : '') : '';
    const key = `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    by.set(key, (by.get(key) ?? 0) + (n.hitCount ?? 0));
  }
  const hotspots = [...by.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, h]) => ({ fn, selfMs: (h / hits) * totalMs, share: h / hits }));
  return { totalMs, hotspots };
}
