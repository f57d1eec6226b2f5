#!/usr/bin/env bash
# The router compatibility tests (http.ServeMux, chi, gorilla/mux) live in
# their own module so the library never depends on a router. ~30 s.
set -euo pipefail
cd examples/routers
go vet ./...
go test -race -count=1 ./...
