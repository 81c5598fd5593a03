// Lowering of a group whose pods are subjects of ClusterNetworkPolicies (policy.networking.k8s.io
// v1alpha2): the tiers become steps of the group's decision, per family and packet direction.
// Stateless, like lower.ts, which it calls for the NetworkPolicy step unchanged.
//
//   <g>    (main)   [a pod reaching its own address: past the tiers]
//                   Admin rules, by priority then name, rules in written order:
//                     Accept -> return (this direction allowed; the other direction is still
//                               decided by its own dispatch: an egress Accept leaves the
//                               destination's ingress in force)
//                     Deny   -> goto <g>_d
//                     Pass   -> goto <g>_n (the rest of the Admin tier is skipped)
//                   goto <g>_n                      (no Admin rule matched)
//   <g>_n  (next)   isolated by a NetworkPolicy: its allow rules (return), then the per-pod
//                   drop counter and drop: the NetworkPolicy step exactly as lower.ts makes it;
//                   the Baseline tier is never reached.
//                   not isolated: the Baseline rules (Accept and Pass -> return, Deny -> goto
//                   <g>_d), then the end of the chain (allow).
//   <g>_d  (deny)   the per-pod drop counter, then drop (a timeout for the sender, never a reject).
//
// A chain that would be empty is left out, and so is every jump to it. The first packet of a
// connection walks the tiers of its own pods only; established packets stay one compare (the
// conntrack-mark verdict cache of the base chain). Each rule carries its origin as a comment
// (`cnp/NAME ingress[0] "rule-name" from[1]`). With rule counters, an Accept rule also counts
// on its named counter (`crule_in_NAME_0`) in the original-direction chains, as lower.ts does
// for NetworkPolicy rules; Deny and Pass rules do not (a denied connection's retries are each
// a first packet: the drop counters count those).
import { mergeRanges } from '../cidr.js';
import type { CnpAction, CnpPeer, CnpPort, NormalizedCnp } from '../cnp.js';
import { roles } from '../groups.js';
import type { NamedPort, Protocol } from '../model.js';
import { concat, dropTail, goto, match, meta, namedCounter, payload, RETURN, type Rule, type Stmt } from '../nft/build.js';
import { groupChain, hairpinSet, namedPortSet, nodePeerSet, peerSet, ruleComment, ruleCounterName } from '../nft/names.js';
import type { Selector } from '../selectors.js';
import { cidrMatch, emptyRefs, lowerGroup, namedKey, portMatches, type GroupInput, type GroupRefs, type LoweredChain, type RuleOrigin } from './lower.js';

const PROTO: Record<Protocol, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** What the tier rules read besides the shared pod peers: node peers (selector id -> hash). */
export interface TierRefs extends GroupRefs {
  readonly nodes: Map<string, string>;
}

export interface TierGroupInput extends GroupInput {
  /** Admin-tier policies whose subject selects the group's pods, in evaluation order. */
  readonly admin: readonly NormalizedCnp[];
  /** Baseline-tier policies likewise. */
  readonly baseline: readonly NormalizedCnp[];
  /** The shared id and set hash of a `pods` / `namespaces` peer (both selectors cluster-wide). */
  cnpPeerOf(namespaceSelector: Selector, podSelector: Selector): { id: string; hash: string };
  /** The id and set hash of a `nodes` peer. */
  nodePeerOf(nodeSelector: Selector): { id: string; hash: string };
}

/** Chain names of one group's steps. */
export const nextChain = (main: string) => `${main}_n`;
export const denyChain = (main: string) => `${main}_d`;

export function lowerTierGroup(g: TierGroupInput): { chains: LoweredChain[]; refs: TierRefs } {
  const isolated = g.policies.length > 0;
  // The NetworkPolicy step, as lower.ts makes it for a group without tiers (renamed below).
  const np = isolated ? lowerGroup(g) : { chains: [] as LoweredChain[], refs: emptyRefs() };
  const refs: TierRefs = { ...np.refs, nodes: new Map() };
  const chains: LoweredChain[] = [];
  const peerField = g.dir === 'ingress' ? 'from' : 'to';
  for (const f of g.families) {
    const ipp = f === 4 ? 'ip' : 'ip6';
    for (const pd of ['o', 'r'] as const) {
      const { local, peer: peerAddr, port } = roles(g.dir, pd);
      const main = groupChain(g.dir, f, pd, g.hash);
      const next = nextChain(main), deny = denyChain(main);
      const mk = (name: string): LoweredChain => ({ name, rules: [], comments: [], origins: [] });
      const ch = mk(main), chDeny = mk(deny);
      let chNext: LoweredChain;
      if (isolated) {
        const npChain = np.chains.find((c) => c.name === main)!;
        chNext = { ...npChain, name: next };
      } else chNext = mk(next);
      const addrPortKey = concat(payload(ipp, peerAddr), meta('l4proto'), payload('th', port));
      /** Comments of the Deny rules that lead to the deny chain (its drop rule names them). */
      const denyRules: string[] = [];

      /** The rules of one tier into `into`; `pass` is the verdict of a Pass rule. */
      const tier = (policies: readonly NormalizedCnp[], into: LoweredChain, pass: () => Stmt) => {
        for (const p of policies) {
          for (const rule of p.rules[g.dir]) {
            const verdict = (a: CnpAction): Stmt => (a === 'Accept' ? RETURN : a === 'Deny' ? goto(deny) : pass());
            let count: Stmt[] = [];
            if (g.ruleCounters && rule.action === 'Accept') {
              const counter = ruleCounterName({ cluster: p.name }, g.dir, rule.index);
              refs.ruleCounters.set(counter, { namespace: '', policy: `cnp/${p.name}`, direction: g.dir, rule: rule.index });
              if (pd === 'o') count = [namedCounter(counter)];
            }
            const peers: (CnpPeer | null)[] = rule.peers === null ? [null] : [...rule.peers];
            peers.forEach((peer, j) => {
              const origin: RuleOrigin = { policy: `cnp/${p.name}`, direction: g.dir, rule: rule.index, peer: rule.peers === null ? null : j };
              const ruleId = `cnp/${p.name} ${g.dir}[${rule.index}]${rule.name ? ` ${JSON.stringify(rule.name)}` : ''}`;
              const comment = ruleComment(`${ruleId}${rule.peers === null ? '' : ` ${peerField}[${j}]`}`);
              const emit = (r: Stmt[]) => {
                if (rule.action === 'Deny' && !denyRules.includes(ruleId)) denyRules.push(ruleId);
                into.rules.push([...r, ...count, verdict(rule.action)]);
                into.comments.push(comment);
                into.origins.push(origin);
              };
              let peerMatch: Stmt[] | undefined;
              let shared: { id: string; hash: string } | undefined;
              if (peer === null) peerMatch = [];
              else if (peer.kind === 'namespaces' || peer.kind === 'pods') {
                shared = g.cnpPeerOf(peer.namespaceSelector, peer.kind === 'pods' ? peer.podSelector : { requirements: [] });
                if (!refs.peers.has(shared.id)) refs.peers.set(shared.id, new Set());
                peerMatch = [match(payload(ipp, peerAddr), `@${peerSet(shared.hash, f)}`)];
              } else if (peer.kind === 'nodes') {
                const n = g.nodePeerOf(peer.nodeSelector);
                refs.nodes.set(n.id, n.hash);
                peerMatch = [match(payload(ipp, peerAddr), `@${nodePeerSet(n.hash, f)}`)];
              } else {
                // Interval sets refuse overlapping elements: merge the networks first.
                const ranges = mergeRanges(peer.ranges.filter((r) => r.family === f));
                peerMatch = cidrMatch(refs, f, payload(ipp, peerAddr), ranges);
              }
              if (rule.ports === null) {
                if (peerMatch) emit(peerMatch);
                return;
              }
              const whole: string[] = [], exact: unknown[] = [], ranged: Record<string, [number, number][]> = {};
              for (const pm of rule.ports as readonly CnpPort[]) {
                if (pm.kind === 'all') whole.push(PROTO[pm.protocol]);
                else if (pm.kind === 'range' && pm.from === pm.to) exact.push({ concat: [PROTO[pm.protocol], pm.from] });
                else if (pm.kind === 'range') (ranged[PROTO[pm.protocol]] ??= []).push([pm.from, pm.to]);
                else if (g.dir === 'ingress') {
                  // > destinationNamedPort: resolved on the destination pod, here the local pod;
                  // its container port of that name gives both number and protocol.
                  for (const x of g.namedPorts as readonly NamedPort[]) if (x.name === pm.name) exact.push({ concat: [PROTO[x.protocol], x.port] });
                } else if (shared) {
                  // Egress: on each destination pod, through the peer's shared named-port sets.
                  for (const proto of PROTOCOLS) {
                    refs.peers.get(shared.id)!.add(namedKey(pm.name, proto));
                    emit([match(addrPortKey, `@${namedPortSet(shared.hash, pm.name, PROTO[proto], f)}`)]);
                  }
                }
                // A named port with a networks/nodes peer (the CRD refuses it) matches nothing.
              }
              if (!peerMatch) return;
              for (const m of portMatches(port, whole, exact, ranged)) emit([...peerMatch, ...m]);
            });
          }
        }
      };

      if (!isolated) tier(g.baseline, chNext, () => RETURN);
      const hasNext = chNext.rules.length > 0;
      const toNext = () => (hasNext ? goto(next) : RETURN);
      // > A Pod connecting to its own Pod IP is not subject to ClusterNetworkPolicy: past the
      // tiers, to the NetworkPolicy step (or allowed when none isolates the pod).
      ch.rules.push([match(concat(payload(ipp, 'saddr'), payload(ipp, 'daddr')), `@${hairpinSet(f)}`), isolated ? goto(next) : RETURN]);
      ch.comments.push('a pod reaching its own address: not subject to cluster policies');
      ch.origins.push(undefined);
      tier(g.admin, ch, toNext);
      if (hasNext) {
        ch.rules.push([goto(next)]);
        ch.comments.push(undefined);
        ch.origins.push(undefined);
      }
      chains.push(ch);
      if (hasNext) chains.push(chNext);
      if (ch.rules.some((r) => isGoto(r, deny)) || chNext.rules.some((r) => isGoto(r, deny))) {
        for (const r of dropTail(g.dir, f, local, deniedBy(g.dir, denyRules), g.dropLog)) {
          chDeny.rules.push(r.rule);
          chDeny.comments.push(r.comment);
          chDeny.origins.push(undefined);
        }
        chains.push(chDeny);
      }
    }
  }
  return { chains, refs };
}

/** The deny chain's drop comment: the Deny rules that lead there (one, usually; with several
 *  a trace, which sees the rule that jumped, tells them apart). */
const deniedBy = (dir: string, rules: readonly string[]) => ruleComment(`${dir}: denied by ${rules.join(', ')}`);

function isGoto(r: Rule, target: string): boolean {
  const last = r[r.length - 1];
  return last?.kind === 'verdict' && last.verdict === 'goto' && last.target === target;
}
