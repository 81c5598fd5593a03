// The kernel's view of our table (`nft -j list table`), reduced to what defines it, so that
// two tables with the same content compare equal as strings: handles, counter values and
// the metainfo header dropped, objects and set elements sorted (interval sets of
// concatenations list their elements in insertion order, which a diff changes; anonymous
// sets inside rules in hash order).
// Used by the agent's drift check and by the tests.

type Obj = Record<string, unknown>;

export function normalizeListing(json: string): string {
  const doc = JSON.parse(json) as { nftables?: Obj[] };
  const items = (doc.nftables ?? []).filter((o) => !('metainfo' in o)).map((o) => {
    const [k, v] = Object.entries(o)[0]!;
    const { handle: _h, packets: _p, bytes: _b, ...rest } = v as Obj;
    if (Array.isArray(rest.elem)) rest.elem = rest.elem.map((e) => JSON.stringify(e)).sort().map((e) => JSON.parse(e) as unknown);
    if (k === 'rule') {
      // Statements carry counter values too (`counter` with packets/bytes).
      // Anonymous sets inside rules list in hash order, which says nothing: sort them too.
      rest.expr = JSON.parse(JSON.stringify(rest.expr, (key, val) => {
        if (key === 'packets' || key === 'bytes') return undefined;
        if (key === 'set' && Array.isArray(val)) return val.map((e) => JSON.stringify(e)).sort().map((e) => JSON.parse(e) as unknown);
        return val;
      }));
    }
    return JSON.stringify({ [k]: rest });
  });
  return items.sort().join('\n');
}
