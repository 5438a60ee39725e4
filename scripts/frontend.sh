#!/usr/bin/env bash
# Build and test TerraScan's web app (frontend/), for the Makefile.
#
#   scripts/frontend.sh build   npm ci (when the lockfile changed), type-check, build into
#                               src/terrascan/web/static/ (served by the API at "/")
#   scripts/frontend.sh test    regenerate the API types and the index test vectors from the
#                               Python package, build, run vitest, then the Playwright journeys
#                               in Debian's Chromium against a real `terrascan serve`
#
# Node.js 20.19+ with npm is needed; Chromium is installed with apt when missing (as root or
# with password-less sudo). A missing tool skips the step with a message, except under
# CI=true, where it fails the run. Screenshots land in frontend/e2e/screenshots/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FRONTEND=$ROOT/frontend
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
export TERRASCAN_PYTHON=$PYTHON
export CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
STAMP=$ROOT/src/terrascan/web/static/.built

say() { echo "frontend: $*" >&2; }

missing() { # what, how to get it
    if [[ "${CI:-}" == "true" ]]; then
        say "$1 is missing ($2)"
        exit 1
    fi
    say "skipped: $1 is missing ($2)"
    exit 0
}

need_node() {
    command -v node >/dev/null && command -v npm >/dev/null ||
        missing "Node.js with npm" "install Node.js 20.19 or newer"
    node -e 'const [a, b] = process.versions.node.split(".").map(Number);
             process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
        missing "Node.js 20.19 or newer (found $(node --version))" "upgrade Node.js"
}

need_python() {
    [[ -x "$PYTHON" ]] || missing "the project's virtualenv ($PYTHON)" "run make test"
}

install_dependencies() {
    # npm ci writes node_modules/.package-lock.json: reinstall only when the lockfile is newer.
    local installed=$FRONTEND/node_modules/.package-lock.json
    if [[ ! -f "$installed" || "$FRONTEND/package-lock.json" -nt "$installed" ]]; then
        say "installing npm dependencies"
        (cd "$FRONTEND" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

built() { # the build is newer than every source
    [[ -f "$STAMP" ]] || return 1
    local newer
    newer=$(cd "$FRONTEND" && find src index.html package.json package-lock.json vite.config.ts \
        tsconfig*.json -newer "$STAMP" -print -quit 2>/dev/null || echo unknown)
    [[ -z "$newer" ]]
}

build() {
    need_node
    install_dependencies
    if built; then
        say "src/terrascan/web/static/ is up to date"
        return 0
    fi
    say "building into src/terrascan/web/static/"
    (cd "$FRONTEND" && npm run --silent build)
    touch "$STAMP"
}

ensure_chromium() {
    [[ -x "$CHROMIUM_PATH" ]] && return 0
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        sudo -n true 2>/dev/null && sudo="sudo -n" || missing "Chromium ($CHROMIUM_PATH)" "apt-get install chromium"
    fi
    command -v apt-get >/dev/null || missing "Chromium ($CHROMIUM_PATH)" "install Debian's chromium package"
    say "installing Debian's chromium"
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium >/dev/null
}

generated() { # regenerate a committed, generated file and say when it changed
    local file=$1
    shift
    local before
    before=$(sha256sum "$file" 2>/dev/null || true)
    "$@"
    [[ "$before" == "$(sha256sum "$file")" ]] || say "$file changed: commit the regenerated file"
}

test_all() {
    need_node
    need_python
    install_dependencies
    cd "$FRONTEND"
    # The API types and the index vectors come from the Python package, so the web app is
    # type-checked against today's API and its indices compared with today's core.
    generated src/api/schema.d.ts npm run --silent api:generate >/dev/null
    generated test-vectors/indices.json "$PYTHON" scripts/make-vectors.py >/dev/null
    build
    say "unit tests (vitest)"
    npx vitest run
    ensure_chromium
    say "browser journeys (Playwright + Chromium)"
    npm run --silent e2e
}

case "${1:-}" in
    build) build ;;
    test) test_all ;;
    *)
        echo "usage: $0 build|test" >&2
        exit 2
        ;;
esac
