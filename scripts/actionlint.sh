#!/usr/bin/env bash
# Lints the GitHub workflows with actionlint (syntax, expressions, action inputs, runner
# labels), built from its pinned Go module into the binary cache the end-to-end harness
# uses (E2E_CACHE, default .e2e/cache): ~1 min cold, reused after.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=v1.7.12
CACHE=${E2E_CACHE:-$PWD/.e2e/cache}
OUT="$CACHE/actionlint-$VERSION"
if [ ! -x "$OUT/actionlint" ]; then
  mkdir -p "$OUT.partial"
  GOTOOLCHAIN=local GOFLAGS=-mod=mod GOBIN="$OUT.partial" go install -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@$VERSION" >&2
  rm -rf "$OUT" && mv "$OUT.partial" "$OUT"
fi
"$OUT/actionlint" -no-color .github/workflows/*.yml
