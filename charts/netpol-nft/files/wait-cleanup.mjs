// Post-delete hook Job: Helm waits for Jobs but not for DaemonSets, so this Job is what makes
// `helm uninstall` wait until the cleanup DaemonSet's pod is Ready on every node (it becomes
// Ready only after its init containers removed the table). Reads the DaemonSet with the
// Job's ServiceAccount token; exits 0 when every node is done, 1 after TIMEOUT_SECONDS.
import { readFileSync } from 'node:fs';

const saDir = process.env.SERVICE_ACCOUNT_DIR || '/var/run/secrets/kubernetes.io/serviceaccount';
const name = process.env.DAEMONSET;
// MARGIN_SECONDS: stop this much before the Job's activeDeadlineSeconds (= TIMEOUT_SECONDS), so
// that the reason is logged before Kubernetes kills the pod.
const timeoutMs = (Number(process.env.TIMEOUT_SECONDS || '300') - Number(process.env.MARGIN_SECONDS || '0')) * 1000;
const pollMs = Number(process.env.POLL_MS || '2000');
const host = process.env.KUBERNETES_SERVICE_HOST || '';
// The API server's CA reaches fetch through NODE_EXTRA_CA_CERTS (set in the Job spec).
const api = process.env.API_SERVER || `https://${host.includes(':') ? `[${host}]` : host}:${process.env.KUBERNETES_SERVICE_PORT || '443'}`;
if (!name) {
  console.error('wait-cleanup: DAEMONSET is not set');
  process.exit(2);
}
const namespace = readFileSync(`${saDir}/namespace`, 'utf8').trim();
const url = `${api}/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/daemonsets/${encodeURIComponent(name)}`;

async function progress() {
  // The token is re-read on every call: projected tokens are rotated by the kubelet.
  const token = readFileSync(`${saDir}/token`, 'utf8').trim();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  if (!res.ok) return { done: false, text: `GET daemonset ${namespace}/${name}: HTTP ${res.status}` };
  const ds = await res.json();
  const st = ds.status ?? {};
  const observed = (st.observedGeneration ?? 0) >= (ds.metadata?.generation ?? 1);
  const desired = st.desiredNumberScheduled ?? 0;
  const ready = st.numberReady ?? 0;
  const updated = st.updatedNumberScheduled ?? 0;
  return { done: observed && ready === desired && updated === desired, text: `daemonset ${namespace}/${name}: ${ready}/${desired} nodes cleaned` };
}

const deadline = Date.now() + timeoutMs;
let last = '';
for (;;) {
  let p;
  try {
    p = await progress();
  } catch (e) {
    p = { done: false, text: `GET daemonset ${namespace}/${name}: ${e.cause?.message ?? e.message}` };
  }
  if (p.text !== last) console.log(`wait-cleanup: ${p.text}`);
  last = p.text;
  if (p.done) process.exit(0);
  if (Date.now() >= deadline) {
    console.error(`wait-cleanup: gave up after ${timeoutMs / 1000}s (${p.text}); nodes not cleaned keep the table until \`netpol-nft cleanup\` runs there`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, pollMs));
}
