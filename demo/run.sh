#!/usr/bin/env bash
# The demo from a fresh machine: install what it needs (nftables, conntrack, node modules), then run it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "demo: run as root (it builds network namespaces and loads nftables)" >&2; exit 1; fi
need=()
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v sysctl >/dev/null 2>&1 || need+=(procps)
command -v conntrack >/dev/null 2>&1 || need+=(conntrack)   # the agents clear verdict-cache stamps with it
if [ ${#need[@]} -gt 0 ]; then
  echo "demo: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
exec npm run demo
