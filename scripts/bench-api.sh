#!/usr/bin/env bash
# The scale benchmark: Ferry with a year of history against a bare axum + sqlx
# service (tests/bench-baseline), on the same machine in the same run.
#
# Loads ROWS requests (default 1,000,000; terminal statuses in a realistic
# mix, two teams, three environments, two events each, the JSON of one real
# completed import) into a fresh database, starts `ferry sim` and
# `ferry serve` (API and worker, reaching Postgres without TLS as the baseline
# does) on it and the baseline on a database of its own with the same ids,
# then prints:
#   - the idle worker: transactions and rows read per second (pg_stat deltas),
#   - list latency p50/p99 for each documented filter combination,
#   - SSE: how many of STREAMS open streams receive one event, and how fast,
#   - creates and reads: req/s and p99, Ferry (as an API replica, its worker
#     off) against the baseline, wrk -t2 -c32, ROUNDS alternating rounds of
#     RUN_SECONDS each, with the ratios,
#   - how long the API replica, and then `ferry serve` with its worker busy on
#     the creates' queued requests, take to stop after SIGTERM.
#
#   scripts/bench-api.sh
#
# Environment: FERRY_BIN (the binary to measure; `cargo build --release -p
# ferry` when unset), ROWS, ROUNDS (3), RUN_SECONDS (10 per wrk run),
# LIST_SECONDS (5 per filter), IDLE_SECONDS (20), STREAMS (1000),
# DATABASE_URL (the server to create the two databases on). Installs wrk
# (Debian package) when missing. Leaves nothing running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_postgres

ROWS="${ROWS:-1000000}"
ROUNDS="${ROUNDS:-3}"
SECONDS_PER_RUN="${RUN_SECONDS:-10}"
LIST_SECONDS="${LIST_SECONDS:-5}"
IDLE_SECONDS="${IDLE_SECONDS:-20}"
STREAMS="${STREAMS:-1000}"
# Streams, wrk connections and the servers' own sockets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if ! command -v wrk >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    log "installing wrk (Debian package)"
    $sudo apt-get update -qq &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

target="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -z "${FERRY_BIN:-}" ]; then
    log "building ferry (release)"
    SQLX_OFFLINE=true cargo build --release --locked --quiet -p ferry
    FERRY_BIN="$target/release/ferry"
fi
bin="$FERRY_BIN"
log "building the baseline (tests/bench-baseline, release)"
CARGO_TARGET_DIR="$target" cargo build --release --locked --quiet \
    --manifest-path tests/bench-baseline/Cargo.toml
baseline_bin="$target/release/bench-baseline"

work="$(mktemp -d)"
sim="" server="" baseline=""
server_db="ferry_bench_api"
baseline_db="ferry_bench_baseline"
cleanup() {
    for pid in $server $baseline $sim; do kill "$pid" 2>/dev/null || true; done
    for pid in $server $baseline $sim; do wait "$pid" 2>/dev/null || true; done
    for d in "$server_db" "$baseline_db"; do
        psql "$DATABASE_URL" -qtAc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
admin_url="$DATABASE_URL"
db="$(fresh_database "$server_db")"
bdb="$(fresh_database "$baseline_db")"

# ------------------------------------------------------------------ start
log "starting ferry sim and ferry serve on a fresh database"
export FERRY_CONFIG="$ROOT/ferry.example.toml"
"$bin" sim --port 0 --env-file "$work/sim.env" --job-duration 1 >"$work/sim.log" 2>&1 &
sim=$!
for _ in $(seq 1 100); do [ -s "$work/sim.env" ] && break; sleep 0.1; done
[ -s "$work/sim.env" ] || { cat "$work/sim.log" >&2; echo "ferry sim did not start" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/sim.env"
DATABASE_URL="$db" "$bin" migrate >"$work/migrate.log" 2>&1
researcher="$(DATABASE_URL="$db" "$bin" token create --role researcher --team research --name bench-researcher 2>>"$work/tokens.log")"
viewer="$(DATABASE_URL="$db" "$bin" token create --role viewer --name bench-dashboard 2>>"$work/tokens.log")"
port="$(free_port)"
url="http://127.0.0.1:$port"
# Ferry reaches Postgres without TLS here, as the baseline does (it is built
# without a TLS stack): sqlx's default, sslmode=prefer, would encrypt every
# round trip to the local server and so measure rustls, not Ferry.
# start_ferry WORKER: `ferry serve` with its worker on (true) or off (false:
# an API replica, as a deployment that runs `ferry worker` apart has).
start_ferry() {
    DATABASE_URL="$db?sslmode=disable" FERRY_SERVER__LISTEN="127.0.0.1:$port" \
        FERRY_LOG__FILTER="warn" \
        FERRY_AWS__ENDPOINT_URL="$SIM_ENDPOINT" \
        FERRY_AWS__ACCESS_KEY_ID="$FERRY_SERVICE_ACCESS_KEY_ID" \
        FERRY_AWS__SECRET_ACCESS_KEY="$FERRY_SERVICE_SECRET_ACCESS_KEY" \
        FERRY_WORKER__ENABLED="$1" \
        FERRY_WORKER__POLL_INITIAL_SECS=1 \
        FERRY_WORKER__POLL_MAX_SECS=2 \
        "$bin" serve >>"$work/serve.log" 2>&1 &
    server=$!
    wait_http "$url/readyz"
}
# stop_ferry: SIGTERM; sets stopped_secs to the seconds until it exited (not
# in a subshell: only this shell can wait for its child).
stop_ferry() {
    local t0
    t0="$(date +%s.%N)"
    kill -TERM "$server"
    wait "$server" || true
    server=""
    stopped_secs="$(echo "$(date +%s.%N) - $t0" | bc -l)"
}
start_ferry true

# One real import, run to completion against the sim: the loaded rows carry
# its preflight report, conditions and model details, as real ones would.
log "running one import to completion (the template of the loaded rows)"
template="$(curl -fsS -X POST "$url/v1/imports" -H "Authorization: Bearer $researcher" \
    -H 'Content-Type: application/json' \
    -d "{\"source\": \"$SAMPLE_MODEL_URI\", \"environment\": \"dev\", \"model_name\": \"bench-template\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
status=""
for _ in $(seq 1 240); do
    status="$(curl -fsS "$url/v1/imports/$template" -H "Authorization: Bearer $viewer" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
    case "$status" in completed | failed) break ;; esac
    sleep 0.5
done
[ "$status" = completed ] || echo "warning: the template import ended $status; loading its JSON anyway" >&2

# ------------------------------------------------------------------- load
# Ids are UUIDv7 over the past year, a function of the row number, so the
# baseline's table holds the same ids. Triggers are off for the load (no
# million NOTIFYs); the feed positions are numbered here instead, in id order.
base_epoch="$(( $(date +%s) - 365 * 86400 ))"
id_function="CREATE FUNCTION pg_temp.bench_at(n bigint) RETURNS timestamptz IMMUTABLE LANGUAGE sql
    AS \$\$ SELECT to_timestamp($base_epoch + n * (31536000.0 / $ROWS)) \$\$;
CREATE FUNCTION pg_temp.bench_id(n bigint) RETURNS uuid IMMUTABLE LANGUAGE sql AS \$\$
    SELECT (lpad(to_hex(floor(extract(epoch FROM pg_temp.bench_at(n)) * 1000)::bigint), 12, '0')
            || '7' || substr(md5(n::text), 1, 3) || '8' || substr(md5(n::text), 4, 15))::uuid \$\$;
-- Status, team and environment of row n: completed 72%, failed 10%,
-- cancelled 8%, deleted 6%, rejected 4%; research 60%; dev 50%, staging 30%,
-- prod 20% (prod is research's only).
CREATE FUNCTION pg_temp.bench_status(n bigint) RETURNS text IMMUTABLE LANGUAGE sql AS \$\$
    SELECT CASE WHEN h < 72 THEN 'completed' WHEN h < 82 THEN 'failed' WHEN h < 90 THEN 'cancelled'
                WHEN h < 96 THEN 'deleted' ELSE 'rejected' END
    FROM (SELECT abs(hashtext('s' || n)) % 100 AS h) x \$\$;
CREATE FUNCTION pg_temp.bench_env(n bigint) RETURNS text IMMUTABLE LANGUAGE sql AS \$\$
    SELECT CASE WHEN h < 50 THEN 'dev' WHEN h < 80 THEN 'staging' ELSE 'prod' END
    FROM (SELECT abs(hashtext('e' || n)) % 100 AS h) x \$\$;
CREATE FUNCTION pg_temp.bench_team(n bigint) RETURNS text IMMUTABLE LANGUAGE sql AS \$\$
    SELECT CASE WHEN pg_temp.bench_env(n) = 'prod' OR abs(hashtext('t' || n)) % 100 < 50
                THEN 'research' ELSE 'vision' END \$\$;"

log "loading $ROWS requests and their events"
load_started="$(date +%s.%N)"
psql "$db" -q -v ON_ERROR_STOP=1 -v template="$template" >/dev/null <<SQL
$id_function
SET session_replication_role = replica;
BEGIN;
INSERT INTO import_requests (
    id, team, environment, source_uri, model_name, job_name, description, model_tags, job_tags,
    requested_by, requester_id, status, conditions, created_at, updated_at, hosting_account,
    region, attempt, next_attempt_at, retries, polls, preflight, preflight_passed,
    bedrock_job_arn, imported_model_arn, imported_model, failure_message, submitted_at, finished_at)
SELECT pg_temp.bench_id(n), pg_temp.bench_team(n), pg_temp.bench_env(n), t.source_uri,
       'model-' || n, 'ferry-bench-' || n, NULL, t.model_tags, t.job_tags,
       'bench-load', 'bench-load', pg_temp.bench_status(n), t.conditions,
       pg_temp.bench_at(n), pg_temp.bench_at(n) + interval '25 minutes', t.hosting_account,
       t.region, 1, pg_temp.bench_at(n), 0, 4, t.preflight, t.preflight_passed,
       t.bedrock_job_arn, t.imported_model_arn, t.imported_model,
       CASE pg_temp.bench_status(n) WHEN 'failed' THEN 'The import job failed: bench' END,
       pg_temp.bench_at(n) + interval '1 minute', pg_temp.bench_at(n) + interval '25 minutes'
FROM generate_series(1, $ROWS) n
CROSS JOIN (SELECT * FROM import_requests WHERE id = :'template') t;
CREATE TEMP TABLE bench_first AS SELECT coalesce(max(id), 0) AS id FROM import_events;
INSERT INTO import_events (import_id, at, actor, kind, from_status, to_status, detail)
SELECT id, at, actor, kind, from_status, to_status, detail FROM (
    SELECT id, created_at AS at, requested_by AS actor, 'created' AS kind,
           NULL AS from_status, 'queued' AS to_status, '{}'::jsonb AS detail, 1 AS k
    FROM import_requests WHERE requested_by = 'bench-load'
    UNION ALL
    SELECT id, finished_at, 'ferry',
           CASE status WHEN 'completed' THEN 'job_completed' WHEN 'failed' THEN 'job_failed'
                       WHEN 'cancelled' THEN 'cancelled' WHEN 'rejected' THEN 'rejected'
                       ELSE 'model_deleted' END,
           'importing', status, '{}'::jsonb, 2
    FROM import_requests WHERE requested_by = 'bench-load'
) e ORDER BY at, k;
INSERT INTO event_feed (seq, event_id)
SELECT (SELECT last_seq FROM event_feed_head) + row_number() OVER (ORDER BY id), id
FROM import_events WHERE id > (SELECT id FROM bench_first);
UPDATE event_feed_head SET last_seq = (SELECT max(seq) FROM event_feed);
COMMIT;
SQL
# The counters the triggers keep (placement usage, requests per status) were
# off during the load: recount them once.
psql "$db" -q -c "SELECT import_requests_recount()" >/dev/null
psql "$db" -q -c "VACUUM ANALYZE" >/dev/null
psql "$bdb" -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
$id_function
CREATE TABLE records (
    id          uuid PRIMARY KEY,
    team        text NOT NULL,
    environment text NOT NULL,
    source_uri  text NOT NULL,
    model_name  text NOT NULL,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO records
SELECT pg_temp.bench_id(n), pg_temp.bench_team(n), pg_temp.bench_env(n), '$SAMPLE_MODEL_URI',
       'model-' || n, pg_temp.bench_status(n), pg_temp.bench_at(n)
FROM generate_series(1, $ROWS) n;
VACUUM ANALYZE records;
SQL
load_secs="$(echo "$(date +%s.%N) - $load_started" | bc -l)"
events="$(psql "$db" -qtAc "SELECT count(*) FROM import_events")"
bport="$(free_port)"
burl="http://127.0.0.1:$bport"
DATABASE_URL="$bdb" LISTEN="127.0.0.1:$bport" MAX_CONNECTIONS=10 "$baseline_bin" >"$work/baseline.log" 2>&1 &
baseline=$!
for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$burl/v1/imports/00000000-0000-0000-0000-000000000000")" = 404 ] && break
    sleep 0.1
done

echo
# The checkout's commit, marked when its tree has changes: FERRY_BIN may
# have been built from another.
checkout="$(git rev-parse --short HEAD 2>/dev/null)"
git diff --quiet HEAD 2>/dev/null || checkout="$checkout+changes"
printf 'Ferry %s, checkout %s, on %s, %s CPUs, %s; %s requests and %s events loaded in %.0f s\n' \
    "$bin" "$checkout" "$(hostname)" "$(nproc)" \
    "$(date -u +%Y-%m-%dT%H:%MZ)" "$ROWS" "$events" "$load_secs"

# ------------------------------------------------------------- idle worker
# pg_stat counters are flushed by each backend about once a second: the
# window is long enough for that not to matter.
rows_read() { psql "$db" -qtAc "SELECT coalesce(sum(seq_tup_read), 0) + coalesce(sum(idx_tup_fetch), 0) FROM pg_stat_user_tables"; }
xacts() { psql "$admin_url" -qtAc "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$server_db'"; }
sleep 5
r0="$(rows_read)" x0="$(xacts)"
sleep "$IDLE_SECONDS"
r1="$(rows_read)" x1="$(xacts)"
idle_rows="$(echo "($r1 - $r0) / $IDLE_SECONDS" | bc -l)"
idle_xacts="$(echo "($x1 - $x0) / $IDLE_SECONDS" | bc -l)"
echo
printf 'idle replica over %s s: %.1f transactions/s, %.0f rows read/s (target < 1,000 rows/s)\n' \
    "$IDLE_SECONDS" "$idle_xacts" "$idle_rows"

# ------------------------------------------------------------------- lists
# Before the creates: the worker is idle, as on a replica serving dashboards.
# wrk's output -> "req/s p50_ms p99_ms errors"
wrk_summary() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        /Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /Non-2xx/ { errors += $NF }
        /Socket errors/ { for (i = 4; i <= NF; i += 2) { gsub(",", "", $i); errors += $i } }
        END { printf "%s %s %s %d\n", rps, p50, p99, errors }'
}
echo
echo "GET /v1/imports?limit=50, wrk -t1 -c4, $LIST_SECONDS s each (target: p99 < 10 ms)"
page_bytes="$(curl -fsS -o /dev/null -w '%{size_download}' "$url/v1/imports?limit=50" -H "Authorization: Bearer $viewer")"
printf '%-52s %8s %9s %9s %7s\n' filters "req/s" p50 p99 errors
for q in "" "status=failed" "team=vision" "environment=staging" "model_name=model-4242" \
    "team=research&environment=prod" "team=vision&environment=dev&status=cancelled" \
    "team=research&environment=staging&status=completed"; do
    wrk -t1 -c4 -d"${LIST_SECONDS}s" --timeout 30s --latency -H "Authorization: Bearer $viewer" \
        "$url/v1/imports?limit=50${q:+&$q}" >"$work/list.out" 2>&1
    read -r rps p50 p99 errors < <(wrk_summary <"$work/list.out")
    if [ "$(echo "$rps > 0" | bc -l)" = 1 ]; then
        printf '%-52s %8.0f %7.1fms %7.1fms %7d\n' "${q:-(none)}" "$rps" "$p50" "$p99" "$errors"
    else
        printf '%-52s no request completed in %s s\n' "${q:-(none)}" "$LIST_SECONDS"
    fi
done
printf 'one unfiltered page of 50: %s bytes\n' "$page_bytes"

# --------------------------------------------------------------------- SSE
echo
python3 - "$url" "$viewer" "$researcher" "$STREAMS" "$SAMPLE_MODEL_URI" <<'PY'
"""Opens N event streams, then creates one request; reports which streams
got its event, how long after the create was sent, and which were closed."""
import asyncio, json, sys, time, urllib.parse, urllib.request

url, viewer, researcher, n, source = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
u = urllib.parse.urlsplit(url)

async def stream(ready, sent, out):
    try:
        r, w = await asyncio.open_connection(u.hostname, u.port)
        w.write((f"GET /v1/events?types=import.created&environment=staging HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: Bearer {viewer}\r\n"
                 "Accept: text/event-stream\r\n\r\n").encode())
        await w.drain()
        head = await r.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            out.append(("refused", None))
            ready.set_result(None) if not ready.done() else None
            return
        ready.set_result(None)
        buf = b""
        while b'"model_name":"sse-bench"' not in buf:
            chunk = await r.read(65536)
            if not chunk:
                out.append(("closed", None))
                return
            buf = buf[-100:] + chunk
        await sent.wait()
        out.append(("got", time.monotonic()))
        w.close()
    except Exception as e:  # noqa: BLE001 - any failure is a stream that did not get it
        out.append((type(e).__name__, None))
        if not ready.done():
            ready.set_result(None)

def create():
    req = urllib.request.Request(f"{url}/v1/imports", method="POST", data=json.dumps(
        {"source": source, "environment": "staging", "model_name": "sse-bench"}).encode(),
        headers={"Authorization": f"Bearer {researcher}", "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()

async def main():
    out, sent = [], asyncio.Event()
    readies = [asyncio.get_running_loop().create_future() for _ in range(n)]
    tasks = [asyncio.create_task(stream(readies[i], sent, out)) for i in range(n)]
    opened = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*readies), 120)
    opened = time.monotonic() - opened
    t0 = time.monotonic()
    sent.set()
    await asyncio.to_thread(create)
    done, pending = await asyncio.wait(tasks, timeout=10)
    for t in pending:
        t.cancel()
    got = sorted(t - t0 for kind, t in out if kind == "got")
    other = {}
    for kind, _ in out:
        if kind != "got":
            other[kind] = other.get(kind, 0) + 1
    pct = lambda p: got[min(len(got) - 1, int(p * len(got)))] * 1000 if got else float("nan")
    print(f"SSE: {n} streams opened in {opened:.1f} s; one event reached {len(got)} of them within 10 s "
          f"(p50 {pct(0.5):.0f} ms, p99 {pct(0.99):.0f} ms, last {got[-1] * 1000 if got else float('nan'):.0f} ms "
          f"after the create was sent); not delivered: {len(pending)} still waiting, {other or 'none'} "
          f"(target: all within 1 s)")

asyncio.run(main())
PY

# ------------------------------------------------------- creates and reads
# Last: the creates leave thousands of queued requests. The API is measured
# as an API replica (worker off): on these two cores a worker would otherwise
# preflight the creates' requests against the sim during the rounds, and the
# baseline has no such work. The worker's own costs are the idle line above,
# the tracking benchmark, and the SIGTERM line below.
stop_ferry
start_ferry false
psql "$db" -qtAc "SELECT id FROM import_requests WHERE requested_by = 'bench-load' ORDER BY random() LIMIT 1000" >"$work/ids"
{
    echo 'ids = {'
    sed 's/.*/"&",/' "$work/ids"
    echo '}'
    echo 'request = function() return wrk.format("GET", "/v1/imports/" .. ids[math.random(#ids)]) end'
} >"$work/read.lua"
create_lua() { # ROUND TARGET
    cat <<LUA
local n = 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
request = function()
    n = n + 1
    local body = string.format('{"source": "$SAMPLE_MODEL_URI", "environment": "dev", "model_name": "w$1$2-%d-%d"}', tid, n)
    -- wrk.format takes these headers instead of -H's: keep the token.
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/v1/imports", headers, body)
end
LUA
}
run_wrk() { # NAME URL SCRIPT TOKEN
    local name="$1" target_url="$2" script="$3" token="$4"
    wrk -t2 -c32 -d"${SECONDS_PER_RUN}s" --timeout 30s --latency -H "Authorization: Bearer $token" \
        -s "$script" "$target_url" >"$work/$name.out" 2>&1
    wrk_summary <"$work/$name.out"
}
echo
echo "creates and reads: wrk -t2 -c32, $ROUNDS alternating rounds of $SECONDS_PER_RUN s"
printf '%-6s %-8s %10s %10s %10s %8s\n' round what "Ferry r/s" "Ferry p99" "base r/s" "base p99"
: >"$work/rounds"
for r in $(seq 1 "$ROUNDS"); do
    for what in create read; do
        for who in ferry base; do
            u="$url"
            [ "$who" = base ] && u="$burl"
            # Creates as a researcher of the team; reads as a dashboard
            # (viewer), which may read every team's requests.
            if [ "$what" = create ]; then
                create_lua "$r" "$who" >"$work/create-$who-$r.lua"
                s="$work/create-$who-$r.lua" token="$researcher"
            else
                s="$work/read.lua" token="$viewer"
            fi
            echo "$r $what $who $(run_wrk "$what-$who-$r" "$u" "$s" "$token")" >>"$work/rounds"
        done
        awk -v r="$r" -v w="$what" '$1 == r && $2 == w && $3 == "ferry" { f = $4; fp = $6; fe = $7 }
            $1 == r && $2 == w && $3 == "base" { b = $4; bp = $6; be = $7 }
            END { printf "%-6s %-8s %10.0f %8.1fms %10.0f %6.1fms%s\n", r, w, f, fp, b, bp,
                  (fe + be > 0 ? sprintf("  (non-2xx or socket errors: Ferry %d, baseline %d)", fe, be) : "") }' "$work/rounds"
    done
done
echo
echo "medians of the rounds (targets: create >= 0.6x, read >= 0.8x the baseline)"
printf '%-8s %12s %12s %12s %12s %8s\n' what "Ferry r/s" "Ferry p99" "base r/s" "base p99" ratio
for what in create read; do
    med() { awk -v w="$what" -v who="$1" -v col="$2" '$2 == w && $3 == who { print $col }' "$work/rounds" | sort -g |
        awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
    fr="$(med ferry 4)" fp="$(med ferry 6)" br="$(med base 4)" bp="$(med base 6)"
    printf '%-8s %12.0f %10.1fms %12.0f %10.1fms %8.2f\n' "$what" "$fr" "$fp" "$br" "$bp" "$(echo "$fr / $br" | bc -l)"
done

# ----------------------------------------------------------------- SIGTERM
# The API replica, then `ferry serve` with its worker busy on the creates'
# queued requests (preflights, submissions, tracking) for 10 s.
stop_ferry
api_stop="$stopped_secs"
queued="$(psql "$db" -qtAc "SELECT count(*) FROM import_requests WHERE status = 'queued'")"
start_ferry true
sleep 10
stop_ferry
serve_stop="$stopped_secs"
printf '\nSIGTERM to exit (target < 1 s): API replica %.2f s; ferry serve with its worker busy on %s queued requests %.2f s\n' \
    "$api_stop" "$queued" "$serve_stop"
