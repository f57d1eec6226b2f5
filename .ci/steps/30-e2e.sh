#!/usr/bin/env bash
# Real-browser end-to-end test: examples/cookie with a 2 s
# access TTL, driven through Debian's headless chromium by chromedp, in the
# separate Go module e2e/ (no browser download). Takes about 15-30 s, plus a
# minute or two the first time if chromium has to be installed.
# The screenshot of the logged-in page is left in e2e/artifacts/logged-in.png.
set -euo pipefail

cd "${RTR_CI_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

if ! command -v chromium >/dev/null 2>&1; then
	echo "30-e2e: installing chromium"
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update -q
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends chromium
fi
echo "30-e2e: $(chromium --version 2>/dev/null || echo "chromium at $(command -v chromium)")"

cd e2e
# -timeout below the CI step limit (480 s), so a hang ends with Go's stack dump.
RTR_E2E=1 go test -count=1 -v -timeout 5m ./...

if [ -f artifacts/logged-in.png ]; then
	echo "30-e2e: artifact e2e/artifacts/logged-in.png ($(wc -c <artifacts/logged-in.png) bytes)"
fi
