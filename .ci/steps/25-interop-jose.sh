#!/usr/bin/env bash
# Interoperability with the npm package jose (interop/jose): rtr's EdDSA,
# ES256 and RS256 access tokens verified by jose's createRemoteJWKSet +
# jwtVerify from rtr's JWKS; tampered and refresh tokens refused. Installs
# Node.js and npm from Debian when missing, then jose at the version pinned
# in package-lock.json (npm ci). About 30 s with Node already installed,
# a minute or two more for the apt-get install.
set -euo pipefail
cd "${RTR_CI_ROOT:-$(git rev-parse --show-toplevel)}/interop/jose"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "25-interop-jose: installing nodejs and npm from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nodejs npm >/dev/null
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if ((major < 18)); then
    echo "25-interop-jose: jose needs Node.js 18 or newer, found $(node --version)" >&2
    exit 1
fi

npm ci --no-audit --no-fund --loglevel=error
go vet ./...
RTR_JOSE_REQUIRED=1 go test -race -count=1 ./...
