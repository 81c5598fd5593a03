#!/usr/bin/env bash
# The agent in its container image, with the Helm chart's security context, without Docker:
# builds the image's root filesystem from the Dockerfile's lines (Debian bookworm minbase by
# debootstrap + Node 20 + the runtime stage's apt packages + the build's dist/ and production
# node_modules) and runs the agent and `netpol-nft trace` in it, in the real-kernel test
# topology, as root with only the capabilities the chart adds, no_new_privs and a read-only
# root (test/image/agent-image.check.ts). Needs root and network access to a Debian mirror the
# first time. The base and the apt layer are cached in $NPN_IMAGE_CACHE
# (default ~/.cache/netpol-nft-image); $NPN_DEBIAN_MIRROR overrides http://deb.debian.org/debian.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  echo "image-check: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
exec npx mocha --timeout 60000 test/image/agent-image.check.ts
