// Post-delete hook, first step on each node: wait until this node's agent no longer answers
// on its metrics port (hostNetwork, so loopback is the node's), so that an agent still
// finishing a sync cannot write its table back after `netpol-nft cleanup` removed it.
// Bounded: after TIMEOUT_SECONDS it gives up waiting and lets the cleanup run anyway.
import net from 'node:net';

// The agent listens on 0.0.0.0 or [::]: one of the two loopback addresses answers while it runs.
const hosts = process.env.AGENT_HOST ? [process.env.AGENT_HOST] : ['127.0.0.1', '::1'];
const port = Number(process.env.AGENT_PORT);
const timeoutMs = Number(process.env.TIMEOUT_SECONDS || '120') * 1000;
const pollMs = Number(process.env.POLL_MS || '1000');
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`wait-agent-exit: AGENT_PORT ${JSON.stringify(process.env.AGENT_PORT)} is not a port`);
  process.exit(2);
}

/** true while something accepts connections on host:port (a silent port counts as busy). */
function listeningOn(host) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(1000);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('timeout', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function listening() {
  return (await Promise.all(hosts.map(listeningOn))).some(Boolean);
}

const deadline = Date.now() + timeoutMs;
while (await listening()) {
  if (Date.now() >= deadline) {
    console.log(`wait-agent-exit: port ${port} still answers after ${timeoutMs / 1000}s; cleaning up anyway`);
    process.exit(0);
  }
  await new Promise((r) => setTimeout(r, pollMs));
}
console.log(`wait-agent-exit: nothing listens on ${hosts.join(' or ')} port ${port}; the agent is gone`);
