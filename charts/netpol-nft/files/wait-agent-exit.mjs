// Post-delete hook, first step on each node: wait until this node's agent no longer answers
// on its metrics port (hostNetwork, so 127.0.0.1 is the node), so that an agent still
// finishing a sync cannot write its table back after `netpol-nft cleanup` removed it.
// Bounded: after TIMEOUT_SECONDS it gives up waiting and lets the cleanup run anyway.
import net from 'node:net';

const host = process.env.AGENT_HOST || '127.0.0.1';
const port = Number(process.env.AGENT_PORT);
const timeoutMs = Number(process.env.TIMEOUT_SECONDS || '120') * 1000;
const pollMs = Number(process.env.POLL_MS || '1000');
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`wait-agent-exit: AGENT_PORT ${JSON.stringify(process.env.AGENT_PORT)} is not a port`);
  process.exit(2);
}

/** true while something accepts connections on the agent's port (a silent port counts as busy). */
function listening() {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(1000);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('timeout', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

const deadline = Date.now() + timeoutMs;
while (await listening()) {
  if (Date.now() >= deadline) {
    console.log(`wait-agent-exit: ${host}:${port} still answers after ${timeoutMs / 1000}s; cleaning up anyway`);
    process.exit(0);
  }
  await new Promise((r) => setTimeout(r, pollMs));
}
console.log(`wait-agent-exit: nothing listens on ${host}:${port}; the agent is gone`);
