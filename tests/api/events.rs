//! `GET /v1/events`: Server-Sent Events across replicas, resumable without gaps.

use std::time::Duration;

use ferry_domain::auth::Role;
use ferry_e2e::{SseStream, TestApp, problem, valid_body};
use serde_json::{Value, json};
use sqlx::PgPool;

/// A second replica: its own connection pool (and so its own LISTEN
/// connection) on the same database.
async fn second_replica(pool: &PgPool) -> TestApp {
    let other = PgPool::connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    TestApp::spawn(other).await
}

/// Every event in the database, in feed order: (seq, import id, kind).
/// Events are numbered after they commit; number what is pending first.
async fn feed_in_db(pool: &PgPool) -> Vec<(i64, String, String)> {
    let mut conn = pool.acquire().await.unwrap();
    ferry_store::feed::sequence(&mut conn).await.unwrap();
    sqlx::query_as::<_, (i64, String, String)>(
        "SELECT f.seq, e.import_id::text, e.kind FROM event_feed f \
         JOIN import_events e ON e.id = f.event_id ORDER BY f.seq",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

fn triple(e: &ferry_e2e::SseEvent) -> (i64, String, String) {
    let v = e.json();
    assert_eq!(v["seq"], e.seq(), "the SSE id is the message's seq");
    assert_eq!(
        e.event.as_deref(),
        v["type"].as_str(),
        "the SSE event name is the message type"
    );
    (
        e.seq(),
        v["data"]["import_id"].as_str().unwrap().to_owned(),
        v["data"]["event"]["kind"].as_str().unwrap().to_owned(),
    )
}

async fn cancel(app: &TestApp, token: &str, id: &str) {
    let res = app
        .post(token, &format!("/v1/imports/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(res.status(), 200, "cancel {id}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_client_resumes_on_another_replica_without_missing_an_event(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    let b = second_replica(&pool).await;
    let research = a.researcher("research").await;
    let hosting = a.token(Role::Hosting, None, "hosting-lead").await;

    // Connected to replica A, from now on; the request is made on replica B.
    let mut stream = SseStream::open(&a, &hosting, "/v1/events", None).await;
    let first = b.create(&research, &valid_body("resume-1")).await;
    let created = stream.next().await;
    assert_eq!(created.event.as_deref(), Some("import.created"));
    let msg = created.json();
    assert_eq!(msg["data"]["import_id"], first["id"]);
    assert_eq!(msg["data"]["team"], "research");
    assert_eq!(msg["data"]["environment"], "dev");
    assert_eq!(msg["data"]["model_name"], "resume-1");
    assert_eq!(msg["data"]["event"]["to_status"], "queued");
    let last_seen = created.seq();
    drop(stream);

    // While the client is away, both replicas record events.
    let mut ids = Vec::new();
    for (i, app) in [&a, &b, &a, &b].into_iter().enumerate() {
        let r = app
            .create(&research, &valid_body(&format!("away-{i}")))
            .await;
        ids.push(r["id"].as_str().unwrap().to_owned());
    }
    cancel(&b, &research, first["id"].as_str().unwrap()).await;
    cancel(&a, &research, &ids[0]).await;
    let prod = b
        .create(
            &research,
            &json!({
                "source": "s3://model-artifacts-111122223333/llama3-8b/v1/",
                "environment": "prod",
                "model_name": "away-prod",
            }),
        )
        .await;
    let res = a
        .post(
            &hosting,
            &format!("/v1/imports/{}/approve", prod["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // Resumed on replica B: exactly what followed, in order, nothing twice.
    let expected: Vec<_> = feed_in_db(&pool)
        .await
        .into_iter()
        .filter(|(seq, _, _)| *seq > last_seen)
        .collect();
    assert_eq!(
        expected.len(),
        8,
        "4 created, 2 cancelled, 1 created and approved in prod: {expected:?}"
    );
    let mut resumed = SseStream::open(&b, &hosting, "/v1/events", Some(last_seen)).await;
    let got: Vec<_> = resumed
        .take(expected.len())
        .await
        .iter()
        .map(triple)
        .collect();
    assert_eq!(got, expected);
    let seqs: Vec<i64> = got.iter().map(|g| g.0).collect();
    let contiguous: Vec<i64> = (last_seen + 1..=last_seen + expected.len() as i64).collect();
    assert_eq!(seqs, contiguous, "positions have no gaps");
    assert!(
        resumed
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "and nothing more"
    );

    // `after=0` replays the whole feed.
    let all = feed_in_db(&pool).await;
    let mut replay = SseStream::open(&a, &hosting, "/v1/events?after=0", None).await;
    let got: Vec<_> = replay.take(all.len()).await.iter().map(triple).collect();
    assert_eq!(got, all);
}

/// Writers on two replicas commit concurrently while a reader follows and
/// reconnects midway: positions are dense, in commit order, and the reader
/// sees every one exactly once.
#[sqlx::test(migrations = "../migrations")]
async fn concurrent_writers_leave_no_gap_for_a_reconnecting_reader(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    let b = second_replica(&pool).await;
    let research = a.researcher("research").await;
    let viewer = a.token(Role::Viewer, None, "dashboard").await;

    let mut stream = SseStream::open(&a, &viewer, "/v1/events?after=0", None).await;
    let writers = (0..24).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let research = research.clone();
        async move {
            let r = app
                .create(&research, &valid_body(&format!("burst-{i}")))
                .await;
            cancel(app, &research, r["id"].as_str().unwrap()).await;
        }
    });
    let reader = async {
        let mut got = stream.take(20).await;
        // Reconnect midway, to the other replica.
        let last = got.last().unwrap().seq();
        drop(stream);
        let mut again = SseStream::open(&b, &viewer, "/v1/events", Some(last)).await;
        got.extend(again.take(48 - 20).await);
        got
    };
    let (_, got) = tokio::join!(futures::future::join_all(writers), reader);
    let got: Vec<_> = got.iter().map(triple).collect();
    assert_eq!(got, feed_in_db(&pool).await);
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        (1..=48).collect::<Vec<i64>>()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn filters_narrow_the_stream_and_researchers_see_only_their_team(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let research = app.researcher("research").await;
    let vision = app.researcher("vision").await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;

    let r1 = app.create(&research, &valid_body("filters-1")).await;
    let v1 = app
        .create(
            &vision,
            &json!({
                "source": "s3://model-artifacts-111122223333/vision/clip/v1/",
                "environment": "staging",
                "model_name": "filters-v",
            }),
        )
        .await;
    cancel(&app, &research, r1["id"].as_str().unwrap()).await;
    cancel(&app, &vision, v1["id"].as_str().unwrap()).await;

    let collect = |token: String, path: &'static str| {
        let app = &app;
        async move {
            let mut s = SseStream::open(app, &token, path, None).await;
            let mut out: Vec<Value> = Vec::new();
            while let Some(e) = s.next_within(Duration::from_millis(800)).await {
                out.push(e.json());
            }
            out
        }
    };
    let summary = |msgs: &[Value]| -> Vec<(String, String)> {
        msgs.iter()
            .map(|m| {
                (
                    m["data"]["model_name"].as_str().unwrap().to_owned(),
                    m["type"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());

    // A researcher's stream holds their team's events only.
    let mine = collect(vision.clone(), "/v1/events?after=0").await;
    assert_eq!(
        summary(&mine),
        [
            s("filters-v", "import.created"),
            s("filters-v", "import.cancelled")
        ]
    );
    let res = app.get(&vision, "/v1/events?team=research").await;
    let p = problem(res, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("vision"), "{p}");

    let by_type = collect(hosting.clone(), "/v1/events?after=0&types=import.cancelled").await;
    assert_eq!(
        summary(&by_type),
        [
            s("filters-1", "import.cancelled"),
            s("filters-v", "import.cancelled")
        ]
    );
    let by_env = collect(hosting.clone(), "/v1/events?after=0&environment=staging").await;
    assert_eq!(
        summary(&by_env),
        [
            s("filters-v", "import.created"),
            s("filters-v", "import.cancelled")
        ]
    );
    let by_team = collect(hosting.clone(), "/v1/events?after=0&team=research").await;
    assert_eq!(
        summary(&by_team),
        [
            s("filters-1", "import.created"),
            s("filters-1", "import.cancelled")
        ]
    );
    let path: &'static str = Box::leak(
        format!(
            "/v1/events?after=0&import_id={}",
            r1["id"].as_str().unwrap()
        )
        .into_boxed_str(),
    );
    let by_id = collect(hosting.clone(), path).await;
    assert_eq!(
        summary(&by_id),
        [
            s("filters-1", "import.created"),
            s("filters-1", "import.cancelled")
        ]
    );
    // Another team's request is not found, as everywhere else.
    let res = app
        .get(
            &vision,
            &format!("/v1/events?import_id={}", r1["id"].as_str().unwrap()),
        )
        .await;
    problem(res, 404).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_stream_requests_get_clear_errors(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;

    let res = app.client.get(app.url("/v1/events")).send().await.unwrap();
    problem(res, 401).await;

    let p = problem(
        app.get(&hosting, "/v1/events?types=import.exploded").await,
        400,
    )
    .await;
    assert_eq!(p["errors"][0]["pointer"], "/query/types");
    assert!(p["detail"].as_str().unwrap().contains("import.exploded"));
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("import.job_completed")
    );

    let p = problem(
        app.get(&hosting, "/v1/events?types=webhook.ping").await,
        400,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("webhooks"));

    let p = problem(app.get(&hosting, "/v1/events?after=-3").await, 400).await;
    assert_eq!(p["errors"][0]["pointer"], "/query/after");

    let res = app
        .client
        .get(app.url("/v1/events"))
        .bearer_auth(&hosting)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res, 400).await["code"], "invalid_last_event_id");

    let p = problem(app.get(&hosting, "/v1/events?import_id=nope").await, 400).await;
    assert_eq!(p["errors"][0]["pointer"], "/query/import_id");
}

#[sqlx::test(migrations = "../migrations")]
async fn streams_are_live_and_uncached(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;
    let mut s = SseStream::open(&app, &hosting, "/v1/events", None).await;
    let research = app.researcher("research").await;
    app.create(&research, &valid_body("live")).await;
    assert_eq!(s.next().await.event.as_deref(), Some("import.created"));
    let res = app.get(&hosting, "/v1/events").await;
    assert_eq!(res.headers()["cache-control"], "no-cache");
}

/// One replica, a pool of four connections (acquiring one gives up after
/// 2 s), and 200 open streams: one event reaches every stream allowed to see
/// it, because the replica reads it once and streams are fed from memory
/// (the pool is asked for a connection a handful of times, not per stream).
#[sqlx::test(migrations = "../migrations")]
async fn two_hundred_streams_share_one_read_on_a_four_connection_pool(pool: PgPool) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let acquired = Arc::new(AtomicUsize::new(0));
    let (on_acquire, on_connect) = (acquired.clone(), acquired.clone());
    let small = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(2))
        .before_acquire(move |_, _| {
            on_acquire.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(true) })
        })
        .after_connect(move |_, _| {
            on_connect.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        })
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let app = TestApp::spawn(small.clone()).await;
    let research = app.researcher("research").await;
    let vision = app.researcher("vision").await;
    let viewer = app.token(Role::Viewer, None, "dashboard").await;

    // 100 dashboards, 80 researchers of the team, 20 of another team.
    let mut all = Vec::new();
    let mut team = Vec::new();
    let mut other = Vec::new();
    for i in 0..200 {
        match i {
            0..100 => all.push(SseStream::open(&app, &viewer, "/v1/events", None).await),
            100..180 => team.push(SseStream::open(&app, &research, "/v1/events", None).await),
            _ => other.push(SseStream::open(&app, &vision, "/v1/events", None).await),
        }
    }
    assert!(small.size() <= 4);

    let before = acquired.load(Ordering::SeqCst);
    let created = app.create(&research, &valid_body("two-hundred")).await;
    let got =
        futures::future::join_all(all.iter_mut().chain(team.iter_mut()).map(|s| s.next())).await;
    assert_eq!(got.len(), 180);
    let used = acquired.load(Ordering::SeqCst) - before;
    assert!(
        used < 20,
        "the create and one feed read, not a read per stream: {used} acquisitions"
    );
    for e in &got {
        assert_eq!(e.event.as_deref(), Some("import.created"));
        assert_eq!(e.json()["data"]["import_id"], created["id"]);
    }
    let seqs: std::collections::BTreeSet<i64> = got.iter().map(ferry_e2e::SseEvent::seq).collect();
    assert_eq!(seqs.len(), 1, "one position for everyone: {seqs:?}");

    // The other team's streams skipped it: their next event is their own.
    let theirs = app
        .create(
            &vision,
            &json!({
                "source": "s3://model-artifacts-111122223333/vision/clip/v1/",
                "environment": "staging",
                "model_name": "vision-only",
            }),
        )
        .await;
    let got = futures::future::join_all(other.iter_mut().map(|s| s.next())).await;
    assert_eq!(got.len(), 20);
    for e in &got {
        assert_eq!(e.json()["data"]["import_id"], theirs["id"]);
    }
    for s in all.iter().chain(team.iter()).chain(other.iter()) {
        assert!(!s.ended, "no stream was closed");
    }
}

/// A stream whose client falls further behind than the replica's buffer is
/// told why and closed; it resumes from its last position without a gap.
#[sqlx::test(migrations = "../migrations")]
async fn a_stream_that_falls_behind_is_dropped_with_the_reason_and_resumes(pool: PgPool) {
    let a = TestApp::builder(pool.clone()).feed_buffer(4).spawn().await;
    let b = second_replica(&pool).await;
    let research = a.researcher("research").await;
    let hosting = a.token(Role::Hosting, None, "hosting-lead").await;

    let mut stream = SseStream::open(&a, &hosting, "/v1/events", None).await;
    let created = a.create(&research, &valid_body("behind")).await;
    let first = stream.next().await;
    assert_eq!(first.json()["data"]["import_id"], created["id"]);
    let last_seen = first.seq();

    // Twelve events committed at once reach the feed in one read, more than
    // the four it holds for a stream that has not taken them yet.
    sqlx::query(
        "INSERT INTO import_events (import_id, actor, kind, detail) \
         SELECT $1::uuid, 'ferry', 'preflight_passed', jsonb_build_object('n', n) \
         FROM generate_series(1, 12) n",
    )
    .bind(created["id"].as_str().unwrap())
    .execute(&pool)
    .await
    .unwrap();

    let mut after_drop = Vec::new();
    while let Some(e) = stream.next_within(Duration::from_secs(20)).await {
        after_drop.push(e);
    }
    assert!(stream.ended, "the server closed the stream");
    assert!(after_drop.is_empty(), "{after_drop:?}");
    let reason = stream
        .comment_lines
        .iter()
        .find(|c| c.starts_with("dropped:"))
        .unwrap_or_else(|| panic!("no reason among {:?}", stream.comment_lines));
    assert!(reason.contains("more than 4 events behind"), "{reason}");
    assert!(
        reason.contains(&format!("Last-Event-ID {last_seen}")),
        "{reason}"
    );

    // Resumed on the other replica: the twelve, in order, then live again.
    let mut resumed = SseStream::open(&b, &hosting, "/v1/events", Some(last_seen)).await;
    let got = resumed.take(12).await;
    let seqs: Vec<i64> = got.iter().map(ferry_e2e::SseEvent::seq).collect();
    assert_eq!(seqs, (last_seen + 1..=last_seen + 12).collect::<Vec<_>>());
    let ns: Vec<i64> = got
        .iter()
        .map(|e| e.json()["data"]["event"]["detail"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, (1..=12).collect::<Vec<_>>());
    cancel(&a, &research, created["id"].as_str().unwrap()).await;
    let live = resumed.next().await;
    assert_eq!(live.seq(), last_seen + 13);
    assert_eq!(live.event.as_deref(), Some("import.cancelled"));
}

/// Streams that resume on another replica while writers on both keep
/// committing read what they missed from the database and then switch to the
/// live feed: every position once, in order, for a team-scoped researcher
/// and an unfiltered reader alike, across more than one page of backlog.
#[sqlx::test(migrations = "../migrations")]
async fn resuming_streams_switch_from_the_backlog_to_the_live_feed_without_gaps(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    let b = second_replica(&pool).await;
    let research = a.researcher("research").await;
    let vision = a.researcher("vision").await;
    let viewer = a.token(Role::Viewer, None, "dashboard").await;
    let vision_body = |i: usize| {
        json!({
            "source": "s3://model-artifacts-111122223333/vision/clip/v1/",
            "environment": "staging",
            "model_name": format!("v-{i}"),
        })
    };

    // A backlog of more than one page (the stream reads 200 at a time).
    let seed = a.create(&research, &valid_body("backlog")).await;
    sqlx::query(
        "INSERT INTO import_events (import_id, actor, kind, detail) \
         SELECT $1::uuid, 'ferry', 'preflight_passed', jsonb_build_object('n', n) \
         FROM generate_series(1, 450) n",
    )
    .bind(seed["id"].as_str().unwrap())
    .execute(&pool)
    .await
    .unwrap();

    let writers = (0..16).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let (token, body) = if i % 4 < 2 {
            (research.clone(), valid_body(&format!("r-{i}")))
        } else {
            (vision.clone(), vision_body(i))
        };
        async move {
            let r = app.create(&token, &body).await;
            cancel(app, &token, r["id"].as_str().unwrap()).await;
        }
    });
    // 451 backlog + 32 from the writers; research sees 451 + 16.
    let readers = async {
        let mut everything = SseStream::open(&b, &viewer, "/v1/events", Some(0)).await;
        let mut own = SseStream::open(&a, &research, "/v1/events", Some(0)).await;
        tokio::join!(everything.take(451 + 32), own.take(451 + 16))
    };
    let (_, (everything, own)) = tokio::join!(futures::future::join_all(writers), readers);

    let db = feed_in_db(&pool).await;
    assert_eq!(db.len(), 451 + 32);
    let got: Vec<_> = everything.iter().map(triple).collect();
    assert_eq!(got, db);
    let teams: std::collections::HashMap<String, String> =
        sqlx::query_as::<_, (String, String)>("SELECT id::text, team FROM import_requests")
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let expected: Vec<_> = db
        .into_iter()
        .filter(|(_, id, _)| teams[id] == "research")
        .collect();
    let got: Vec<_> = own.iter().map(triple).collect();
    assert_eq!(got, expected);
}
