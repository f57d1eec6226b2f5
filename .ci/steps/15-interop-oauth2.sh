#!/usr/bin/env bash
# golang.org/x/oauth2 against rtr's bearer-mode token and revocation
# endpoints: TokenSource with every AuthStyle, ReuseTokenSource with
# concurrent callers, rotations in a row, a replay refused as
# invalid_grant. Its own module so the library never depends on x/oauth2.
# ~20 s (most of it compiling with -race).
set -euo pipefail
cd interop/oauth2
go vet ./...
go test -race -count=1 ./...
