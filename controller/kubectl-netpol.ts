#!/usr/bin/env node
// The kubectl plugin: `kubectl netpol explain|matrix ...` finds `kubectl-netpol` on PATH and
// runs it with kubectl's environment. Without --cluster, both commands read the live cluster
// of the current kubeconfig context ($KUBECONFIG, else ~/.kube/config), read-only.
import { main } from './cli.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => { process.stderr.write(`kubectl netpol: ${(e as Error).stack ?? e}\n`); process.exitCode = 1; },
);
