#!/usr/bin/env bash
# Installs the end-to-end tests' OpenID provider (the `oidc-provider` npm package, pinned by
# e2e/oidc-provider/package-lock.json) into e2e/oidc-provider/node_modules. Quick when the
# installed packages already match the lockfile. Needs Node 20+ and npm (Debian: apt-get install
# nodejs npm), and the npm registry.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/e2e/oidc-provider"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "oidc-provider: node and npm are needed for the external identity provider tests" >&2
    echo "  (Debian: apt-get install -y nodejs npm)" >&2
    exit 1
fi
# npm ci is exact (the lockfile) and fast when the cache is warm; skip it when nothing changed.
stamp="$dir/node_modules/.tollgate-lock-sha256"
want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "oidc-provider: packages up to date"
    exit 0
fi
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" > "$stamp"
echo "oidc-provider: installed $(node -e 'console.log(require("'"$dir"'/node_modules/oidc-provider/package.json").version)')"
