#!/usr/bin/env bash
# What the event feed costs writers. pgbench runs the worker's typical write
# (update a request, append its event, commit) against import_events, whose
# trigger marks each event pending, while the sequencer numbers pending
# events after commit (one more pgbench client calling event_feed_sequence()
# every 20 ms, as each replica's feed reader does), and against an identical
# table without the trigger (the baseline), on the same Postgres in the same
# run, at 1 and at C concurrent clients.
#   scripts/bench-feed.sh [SECONDS per run, default 10] [C, default 8]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_postgres
seconds="${1:-10}"
clients="${2:-8}"
db="$(fresh_database ferry_bench_feed)"
for m in migrations/*.sql; do
    psql "$db" -q -v ON_ERROR_STOP=1 -f "$m" >/dev/null
done
psql "$db" -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
-- The baseline: import_events as it is, without the feed's trigger.
CREATE TABLE plain_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    import_id   uuid NOT NULL REFERENCES import_requests (id),
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    kind        text NOT NULL,
    from_status text,
    to_status   text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX plain_events_import_id ON plain_events (import_id, id);
CREATE TABLE bench_ids (n int PRIMARY KEY, id uuid NOT NULL);
INSERT INTO bench_ids SELECT n, gen_random_uuid() FROM generate_series(1, 256) n;
INSERT INTO import_requests (id, team, environment, source_uri, model_name, job_name,
                             requested_by, requester_id, status)
    SELECT id, 'research', 'dev', 's3://b/p/', 'm-' || n, 'j-' || n, 'bench', 'bench', 'importing'
    FROM bench_ids;
SQL
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for table in plain_events import_events; do
    cat >"$work/$table.sql" <<SQL
\set r random(1, 256)
BEGIN;
UPDATE import_requests SET updated_at = now() WHERE id = (SELECT id FROM bench_ids WHERE n = :r);
INSERT INTO $table (import_id, actor, kind, detail)
    VALUES ((SELECT id FROM bench_ids WHERE n = :r), 'ferry', 'status_changed', '{"job": "bench"}');
COMMIT;
SQL
done
cat >"$work/sequencer.sql" <<'SQL'
SELECT event_feed_sequence();
\sleep 20 ms
SQL
tps() { # tps TABLE CLIENTS
    local sequencer=
    if [ "$1" = import_events ]; then
        pgbench -n -c 1 -T "$seconds" -f "$work/sequencer.sql" "$db" >/dev/null 2>&1 &
        sequencer=$!
    fi
    pgbench -n -c "$2" -j "$(( $2 < 2 ? 1 : 2 ))" -T "$seconds" -f "$work/$1.sql" "$db" 2>/dev/null |
        sed -nE 's/^tps = ([0-9.]+).*/\1/p'
    if [ -n "$sequencer" ]; then wait "$sequencer"; fi
}
printf '%-10s %14s %14s %8s\n' clients "baseline tps" "feed tps" ratio
for c in 1 "$clients"; do
    base="$(tps plain_events "$c")"
    feed="$(tps import_events "$c")"
    printf '%-10s %14.0f %14.0f %8.2f\n' "$c" "$base" "$feed" "$(echo "$feed / $base" | bc -l)"
done
psql "$db" -qtAc "SELECT event_feed_sequence()" >/dev/null
gaps="$(psql "$db" -qtAc "SELECT count(*) - max(seq) FROM event_feed")"
echo "feed positions: $(psql "$db" -qtAc 'SELECT count(*) FROM event_feed'), gaps: $((-gaps))"
[ "$gaps" = 0 ]
# Every event numbered exactly once, one request's events in insert order.
bad="$(psql "$db" -qtAc "SELECT (SELECT count(*) FROM import_events) - (SELECT count(*) FROM event_feed)
    + (SELECT count(*) FROM (SELECT f.seq, e.id, lag(e.id) OVER (PARTITION BY e.import_id ORDER BY f.seq) AS prev
        FROM event_feed f JOIN import_events e ON e.id = f.event_id) o WHERE prev > id)")"
echo "events not numbered once or out of order within a request: $bad"
[ "$bad" = 0 ]
psql "$DATABASE_URL" -qtAc "DROP DATABASE IF EXISTS ferry_bench_feed WITH (FORCE)" >/dev/null
