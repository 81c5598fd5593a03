// The in-test API server on its own, over plain HTTP (no client library): the protocol the
// Kubernetes source tests rely on — paginated lists pinned to one resourceVersion, watches
// from a resourceVersion, 410 Gone both ways, bookmarks only when asked, refused connections.
import { expect } from 'chai';
import { namespace, pod } from '../helpers/kube-api/fixtures.js';
import { FakeKubeApi } from '../helpers/kube-api/server.js';

interface WatchEvent {
  type: string;
  object: { code?: number; metadata?: { name?: string; resourceVersion?: string } };
}

/** Opens a watch and collects its events until `until` holds (or the stream ends). */
async function watchEvents(url: string, until: (evs: WatchEvent[]) => boolean, onOpen: () => void = () => {}): Promise<{ status: number; events: WatchEvent[] }> {
  const ctrl = new AbortController();
  const res = await fetch(url, { signal: ctrl.signal });
  const events: WatchEvent[] = [];
  if (res.status !== 200) return { status: res.status, events };
  onOpen();
  const reader = res.body!.getReader();
  let buf = '';
  const dec = new TextDecoder();
  for (;;) {
    if (until(events)) break;
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      events.push(JSON.parse(buf.slice(0, nl)) as WatchEvent);
      buf = buf.slice(nl + 1);
    }
  }
  ctrl.abort();
  return { status: 200, events };
}

describe('in-test Kubernetes API server (raw HTTP)', function () {
  this.timeout(20_000);
  let api: FakeKubeApi;

  beforeEach(async () => {
    api = new FakeKubeApi();
    await api.start();
  });
  afterEach(async () => {
    await api.close();
  });

  it('pages a list with continue tokens, every page at the first page’s resourceVersion', async () => {
    for (const n of ['a', 'b', 'c']) api.add('pod', pod(`x/${n}`, { ips: ['192.0.2.1'] }));
    const rv = String(api.resourceVersion());
    const p1 = (await (await fetch(`${api.url}/api/v1/pods?limit=2`)).json()) as { kind: string; metadata: { resourceVersion: string; continue?: string }; items: { metadata: { name: string } }[] };
    api.add('pod', pod('x/d')); // after the first page: not in this list
    const p2 = (await (await fetch(`${api.url}/api/v1/pods?limit=2&continue=${p1.metadata.continue}`)).json()) as typeof p1;
    expect(p1.kind).to.equal('PodList');
    expect([...p1.items, ...p2.items].map((i) => i.metadata.name)).to.deep.equal(['a', 'b', 'c']);
    expect([p1.metadata.resourceVersion, p2.metadata.resourceVersion]).to.deep.equal([rv, rv]);
    expect(p2.metadata.continue).to.equal(undefined);
  });

  it('watches from a resourceVersion: missed events first, then live ones', async () => {
    api.add('namespace', namespace('x'));
    const from = api.resourceVersion();
    api.add('namespace', namespace('y'));
    const r = await watchEvents(`${api.url}/api/v1/namespaces?watch=true&resourceVersion=${from}`, (e) => e.length >= 2, () => api.delete('namespace', namespace('y')));
    expect(r.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).to.deep.equal(['ADDED y', 'DELETED y']);
  });

  it('applies field selectors to lists and watches (leaving the selection is a DELETED)', async () => {
    api.add('pod', pod('x/a', { phase: 'Running' }));
    api.add('pod', pod('x/done', { phase: 'Succeeded' }));
    const sel = encodeURIComponent('status.phase!=Succeeded,status.phase!=Failed');
    const list = (await (await fetch(`${api.url}/api/v1/pods?fieldSelector=${sel}`)).json()) as { items: { metadata: { name: string } }[] };
    expect(list.items.map((i) => i.metadata.name)).to.deep.equal(['a']);
    const from = api.resourceVersion();
    const r = await watchEvents(`${api.url}/api/v1/pods?watch=true&resourceVersion=${from}&fieldSelector=${sel}`, (e) => e.length >= 2, () => {
      api.update('pod', pod('x/done', { phase: 'Succeeded', labels: { v: '2' } })); // still outside: nothing
      api.update('pod', pod('x/a', { phase: 'Failed' })); // leaves
      api.update('pod', pod('x/done', { phase: 'Running' })); // enters
    });
    expect(r.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).to.deep.equal(['DELETED a', 'ADDED done']);
    expect((await fetch(`${api.url}/api/v1/pods?fieldSelector=nonsense`)).status).to.equal(400);
    expect((await fetch(`${api.url}/api/v1/pods?watch=true&fieldSelector=nonsense`)).status).to.equal(400);
  });

  it('answers a too-old resourceVersion with 410: an ERROR event, or HTTP 410', async () => {
    api.add('namespace', namespace('x'));
    const old = api.resourceVersion();
    api.compactHistory();
    const ev = await watchEvents(`${api.url}/api/v1/namespaces?watch=true&resourceVersion=${old}`, () => false);
    expect(ev.events).to.have.length(1);
    expect(ev.events[0]!.type).to.equal('ERROR');
    expect(ev.events[0]!.object.code).to.equal(410);
    api.goneAs = 'http';
    const http = await fetch(`${api.url}/api/v1/namespaces?watch=true&resourceVersion=${old}`);
    expect(http.status).to.equal(410);
  });

  it('sends bookmarks only to watchers that asked for them', async () => {
    const rv = api.resourceVersion();
    const asked = watchEvents(`${api.url}/api/v1/pods?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`, (e) => e.length >= 1);
    const notAsked = watchEvents(`${api.url}/api/v1/pods?watch=true&resourceVersion=${rv}`, (e) => e.length >= 1);
    while (api.openWatches('pod') < 2) await new Promise((r) => setTimeout(r, 5));
    api.sendBookmarks();
    api.add('pod', pod('x/a'));
    expect((await asked).events[0]!.type).to.equal('BOOKMARK');
    expect((await notAsked).events.map((e) => e.type)).to.deep.equal(['ADDED']);
  });

  it('refuses connections while paused and serves again on the same port after resume', async () => {
    const url = api.url;
    await api.pause();
    let refused = '';
    await fetch(`${url}/api/v1/pods`).catch((e: Error & { cause?: { code?: string } }) => (refused = e.cause?.code ?? e.message));
    expect(refused).to.equal('ECONNREFUSED');
    await api.resume();
    expect(api.url).to.equal(url);
    expect((await fetch(`${url}/api/v1/pods`)).status).to.equal(200);
  });
});
