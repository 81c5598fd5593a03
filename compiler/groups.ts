// Which header fields name the local pod, the peer and the server port, per direction and
// packet direction (replies swap the roles). The base chains and the group chains share it.
import type { Direction } from './policy.js';

export function roles(dir: Direction, pd: 'o' | 'r'): { local: 'saddr' | 'daddr'; peer: 'saddr' | 'daddr'; port: 'sport' | 'dport' } {
  if (dir === 'ingress') return pd === 'o' ? { local: 'daddr', peer: 'saddr', port: 'dport' } : { local: 'saddr', peer: 'daddr', port: 'sport' };
  return pd === 'o' ? { local: 'saddr', peer: 'daddr', port: 'dport' } : { local: 'daddr', peer: 'saddr', port: 'sport' };
}
