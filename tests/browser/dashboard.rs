use ferry_domain::auth::Role;
use ferry_e2e::TestApp;
use ferry_store::PgPool;
use serde_json::{Value, json};

use crate::support::{Browser, Stack, js_string};

/// A source inside the vision team's prefix that holds no model: accepted
/// at submission, failed by the preflight.
const VISION_EMPTY: &str = "s3://model-artifacts-111122223333/vision/missing/";

fn row(id: &str) -> String {
    format!("#requests tr[data-id=\"{id}\"]")
}

async fn row_ids(b: &Browser) -> Vec<String> {
    let v = b
        .js(
            "return [...document.querySelectorAll('#requests tbody tr')].map(r => r.dataset.id)",
            vec![],
        )
        .await;
    serde_json::from_value(v).unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_hosting_user_sees_requests_by_environment_and_status(pool: PgPool) {
    let stack = Stack::start(pool, 300).await;
    let research = stack.researcher("research").await;
    let vision = stack.researcher("vision").await;
    let hosting = stack.hosting().await;
    let sample = stack.sample.clone();
    let dev = stack.submit(&research, "dev", "llama-dev", &sample).await;
    let prod = stack.submit(&research, "prod", "llama-prod", &sample).await;
    let failed = stack
        .submit(&vision, "dev", "vision-missing", VISION_EMPTY)
        .await;
    stack
        .wait_for(&hosting, &dev, "completed", |i| i["status"] == "completed")
        .await;
    stack
        .wait_for(&hosting, &failed, "failed", |i| i["status"] == "failed")
        .await;

    Browser::run("hosting_overview", &stack.app, |mut b| async move {
        b.login(&hosting).await;
        b.wait(
            "three rows",
            "document.querySelectorAll('#requests tbody tr').length === 3",
        )
        .await;
        assert_eq!(
            row_ids(&b).await,
            vec![failed.clone(), prod.clone(), dev.clone()]
        );
        for (id, status) in [
            (&dev, "completed"),
            (&prod, "pending_approval"),
            (&failed, "failed"),
        ] {
            b.wait(
                &format!("{id} shown as {status}"),
                &format!(
                    "document.querySelector({})",
                    js_string(&format!("{}[data-status=\"{status}\"]", row(id)))
                ),
            )
            .await;
        }
        let cards = b
            .js(
                "return [...document.querySelectorAll('.env-card')].map(c => c.dataset.env)",
                vec![],
            )
            .await;
        assert_eq!(
            cards,
            json!(["dev", "staging", "prod"]),
            "along the promotion path"
        );
        assert!(b.text("#who").await.contains("hosting-lead"));
        assert!(b.text("#who").await.contains("hosting"));
        // The overview counts by environment and status.
        let chip = b
            .text("a.chip[data-env=\"prod\"][data-status=\"pending_approval\"]")
            .await;
        assert!(chip.starts_with('1'), "{chip}");
        let chip = b
            .text("a.chip[data-env=\"dev\"][data-status=\"completed\"]")
            .await;
        assert!(chip.starts_with('1'), "{chip}");
        let chip = b
            .text("a.chip[data-env=\"dev\"][data-status=\"failed\"]")
            .await;
        assert!(chip.starts_with('1'), "{chip}");
        assert_eq!(
            b.text("#waiting").await,
            "1 request waits for approval",
            "reviewers are told what waits for them"
        );
        b.shot("overview").await;

        // A chip filters the table through the API's filters.
        b.click("a.chip[data-env=\"prod\"][data-status=\"pending_approval\"]")
            .await;
        b.wait(
            "only the prod request",
            "location.hash.includes('environment=prod') && \
             document.querySelectorAll('#requests tbody tr').length === 1",
        )
        .await;
        assert_eq!(row_ids(&b).await, vec![prod.clone()]);
        b.shot("filtered-prod-pending").await;

        // So do the selects.
        b.click("#clear-filters").await;
        b.wait(
            "all rows again",
            "document.querySelectorAll('#requests tbody tr').length === 3",
        )
        .await;
        let status = b
            .client
            .find(fantoccini::Locator::Css("#filter-status"))
            .await
            .unwrap();
        status.select_by_value("failed").await.unwrap();
        b.wait(
            "only the failed request",
            "location.hash.includes('status=failed') && \
             document.querySelectorAll('#requests tbody tr').length === 1",
        )
        .await;
        assert_eq!(row_ids(&b).await, vec![failed.clone()]);
        let team = b
            .client
            .find(fantoccini::Locator::Css("#filter-team"))
            .await
            .unwrap();
        team.select_by_value("research").await.unwrap();
        b.wait(
            "no failed research request",
            "location.hash.includes('team=research') && document.querySelector('#no-requests')",
        )
        .await;
        b.shot("filtered-none").await;
    })
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn an_approved_request_moves_to_completed_on_the_page_without_a_reload(pool: PgPool) {
    // Sim jobs take a few seconds, so the page shows `importing` on its way.
    let stack = Stack::start(pool, 4000).await;
    let research = stack.researcher("research").await;
    let hosting = stack.hosting().await;
    let sample = stack.sample.clone();
    let id = stack.submit(&research, "prod", "llama-prod", &sample).await;

    Browser::run("approve_to_completed", &stack.app, |mut b| async move {
        b.login(&hosting).await;
        b.wait(
            "the request listed as waiting for approval",
            &format!(
                "document.querySelector({})",
                js_string(&format!("{}[data-status=\"pending_approval\"]", row(&id)))
            ),
        )
        .await;
        b.wait(
            "the live indicator to say live",
            "document.querySelector('#live').dataset.state === 'live'",
        )
        .await;
        b.shot("list").await;

        // Remember this document: a reload would lose both.
        let marker = uuid::Uuid::now_v7().to_string();
        b.js(
            "window.__ferryMarker = arguments[0];
             window.__seen = [];
             const note = () => {
               const d = document.querySelector('#detail');
               const s = d && d.dataset.status;
               if (s && window.__seen[window.__seen.length - 1] !== s) window.__seen.push(s);
             };
             new MutationObserver(note).observe(document.getElementById('main'),
               { childList: true, subtree: true, attributes: true });
             return true;",
            vec![json!(marker)],
        )
        .await;

        b.click(&format!("{} a", row(&id))).await;
        b.wait(
            "the detail page",
            &format!(
                "document.querySelector('#detail[data-id=\"{id}\"][data-status=\"pending_approval\"]')"
            ),
        )
        .await;
        // The worker preflights requests waiting for approval; the report
        // reaches the open page through the event stream if it was not there yet.
        b.wait(
            "the preflight report",
            "document.querySelector('#preflight[data-state=\"passed\"]')",
        )
        .await;
        let summary = b.text("#preflight-summary").await;
        assert!(summary.starts_with("All "), "{summary}");
        assert!(
            b.text("#preflight").await.contains("BedrockCMIExecutionRole"),
            "the report says which role it checked as"
        );
        b.shot("detail-with-preflight").await;

        b.click("button[data-action=\"approve\"]").await;
        b.wait("the approve dialog", "document.getElementById('dialog').open")
            .await;
        b.type_into("#dialog-input", "preflight is clean").await;
        b.shot("approve-dialog").await;
        b.click("#dialog-ok").await;
        b.wait(
            "the dialog to close",
            "!document.getElementById('dialog').open",
        )
        .await;

        b.wait(
            "importing (or later) on the page",
            "['importing', 'verifying', 'completed'].includes(document.querySelector('#detail').dataset.status)",
        )
        .await;
        b.shot("importing").await;
        b.wait(
            "completed on the page",
            "document.querySelector('#detail').dataset.status === 'completed'",
        )
        .await;
        b.shot("completed").await;

        let still = b.js("return window.__ferryMarker", vec![]).await;
        assert_eq!(still, json!(marker), "the page was not reloaded");
        let seen: Vec<String> =
            serde_json::from_value(b.js("return window.__seen", vec![]).await).unwrap();
        assert_eq!(seen.first().map(String::as_str), Some("pending_approval"), "{seen:?}");
        assert_eq!(seen.last().map(String::as_str), Some("completed"), "{seen:?}");
        assert!(
            seen.iter().any(|s| s == "importing"),
            "the page showed the request importing on its way: {seen:?}"
        );
        // The stepper and the timeline followed.
        b.wait(
            "the last step done",
            "document.querySelector('#stepper li[data-step=\"completed\"].done')",
        )
        .await;
        let approved = b.text("#timeline li[data-kind=\"approved\"]").await;
        assert!(approved.contains("hosting-lead"), "{approved}");
        // Beside the chosen name, the credential that acted.
        assert!(approved.contains("(token:"), "{approved}");
        assert!(approved.contains("preflight is clean"), "{approved}");
        b.wait(
            "the completion in the timeline",
            "document.querySelector('#timeline li[data-to=\"completed\"]')",
        )
        .await;
        let model = b.text("[data-field=\"imported_model_arn\"]").await;
        assert!(model.starts_with("arn:aws:bedrock:us-east-1:777788889999:imported-model/"), "{model}");

        // Back to the list, still the same document.
        b.click("a.back").await;
        b.wait(
            "the row completed in the list",
            &format!(
                "document.querySelector({})",
                js_string(&format!("{}[data-status=\"completed\"]", row(&id)))
            ),
        )
        .await;
        let still = b.js("return window.__ferryMarker", vec![]).await;
        assert_eq!(still, json!(marker), "the page was not reloaded");
        b.shot("list-completed").await;
    })
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_researcher_sees_only_its_team_and_no_review_buttons(pool: PgPool) {
    let stack = Stack::start(pool, 300).await;
    let research = stack.researcher("research").await;
    let vision = stack.researcher("vision").await;
    let sample = stack.sample.clone();
    let own = stack.submit(&research, "prod", "llama-prod", &sample).await;
    let other = stack
        .submit(&vision, "dev", "vision-missing", VISION_EMPTY)
        .await;
    stack
        .wait_for(&vision, &other, "failed", |i| i["status"] == "failed")
        .await;

    Browser::run("researcher_view", &stack.app, |mut b| async move {
        b.login(&research).await;
        b.wait(
            "the team's request",
            &format!("document.querySelector({})", js_string(&row(&own))),
        )
        .await;
        assert_eq!(row_ids(&b).await, vec![own.clone()], "only its own team's");
        let who = b.text("#who").await;
        assert!(
            who.contains("researcher") && who.contains("team research"),
            "{who}"
        );
        let filter = b
            .js(
                "return document.querySelector('#filter-team') === null",
                vec![],
            )
            .await;
        assert_eq!(filter, json!(true), "no team filter for researchers");
        assert!(
            b.text("main h1").await.contains("team research"),
            "the page says whose requests these are"
        );
        b.shot("list").await;

        b.click(&format!("{} a", row(&own))).await;
        b.wait(
            "the detail page",
            "document.querySelector('#detail[data-status=\"pending_approval\"]')",
        )
        .await;
        b.wait(
            "the actions",
            "document.querySelector('button[data-action=\"cancel\"]')",
        )
        .await;
        let review = b
            .js(
                "return document.querySelectorAll('button[data-action=\"approve\"], \
                 button[data-action=\"reject\"], button[data-action=\"promote\"], \
                 button[data-action=\"delete\"]').length",
                vec![],
            )
            .await;
        assert_eq!(review, json!(0), "no review buttons for a researcher");
        assert!(
            b.text("#actions")
                .await
                .contains("Waiting for the hosting team"),
            "it says who acts next"
        );
        b.shot("detail-no-review-buttons").await;

        // Another team's request does not exist for it.
        b.js(
            "location.hash = '#/imports/' + arguments[0]; return true;",
            vec![json!(other)],
        )
        .await;
        b.wait(
            "not found",
            "document.querySelector('main h1') && \
             document.querySelector('main h1').textContent === 'Request not found'",
        )
        .await;
        b.shot("other-team-not-found").await;

        b.click("#logout").await;
        b.wait("the login form", "document.querySelector('#token')")
            .await;
        let kept = b
            .js("return sessionStorage.getItem('ferry.token')", vec![])
            .await;
        assert_eq!(kept, Value::Null, "logging out forgets the token");
    })
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rejection_with_its_reason_shows_in_the_timeline(pool: PgPool) {
    let stack = Stack::start(pool, 300).await;
    let research = stack.researcher("research").await;
    let hosting = stack.hosting().await;
    let sample = stack.sample.clone();
    let id = stack.submit(&research, "prod", "llama-prod", &sample).await;
    let reason = "weights not yet reviewed by security <b>&</b>";

    Browser::run("reject_with_reason", &stack.app, |mut b| async move {
        b.login(&hosting).await;
        b.wait("the list", "document.querySelector('#requests')")
            .await;
        b.js(
            "location.hash = '#/imports/' + arguments[0]; return true;",
            vec![json!(id)],
        )
        .await;
        b.click("button[data-action=\"reject\"]").await;
        b.wait(
            "the reject dialog",
            "document.getElementById('dialog').open",
        )
        .await;
        // A reason is required.
        b.click("#dialog-ok").await;
        let required = b.text("#dialog-error").await;
        assert_eq!(required, "Reason is required.");
        b.type_into("#dialog-input", reason).await;
        b.shot("reject-dialog").await;
        b.click("#dialog-ok").await;
        b.wait(
            "rejected",
            "document.querySelector('#detail[data-status=\"rejected\"]')",
        )
        .await;
        let event = b.text("#timeline li[data-kind=\"rejected\"]").await;
        assert!(event.contains(reason), "the reason, as text: {event}");
        assert!(event.contains("hosting-lead"), "{event}");
        let escaped = b
            .js(
                "return document.querySelector('#timeline li[data-kind=\"rejected\"] b') === null",
                vec![],
            )
            .await;
        assert_eq!(escaped, json!(true), "data never becomes markup");
        let condition = b.text("#conditions li[data-type=\"Approved\"]").await;
        assert!(condition.contains("Rejected"), "{condition}");
        assert_eq!(
            b.js(
                "return document.querySelectorAll('button[data-action]').length",
                vec![]
            )
            .await,
            json!(0),
            "nothing left to do on a rejected request"
        );
        b.shot("rejected").await;
    })
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_promotion_is_linked_and_a_refusal_shows_the_servers_reason(pool: PgPool) {
    let stack = Stack::start(pool, 300).await;
    let research = stack.researcher("research").await;
    let hosting = stack.hosting().await;
    let second = stack.app.token(Role::Hosting, None, "hosting-second").await;
    let sample = stack.sample.clone();
    let dev = stack.submit(&research, "dev", "llama-dev", &sample).await;
    stack
        .wait_for(&hosting, &dev, "completed", |i| i["status"] == "completed")
        .await;
    // The body also reads and acts through the API.
    let stack = &stack;

    Browser::run("promote_and_refusal", &stack.app, |mut b| async move {
        b.login(&hosting).await;
        b.wait("the list", "document.querySelector('#requests')")
            .await;
        b.js(
            "location.hash = '#/imports/' + arguments[0]; return true;",
            vec![json!(dev)],
        )
        .await;
        b.click("button[data-action=\"promote\"]").await;
        b.wait(
            "the promote dialog",
            "document.getElementById('dialog').open",
        )
        .await;
        let proposed = b
            .js(
                "return document.querySelector('#dialog-input').value",
                vec![],
            )
            .await;
        assert_eq!(
            proposed,
            json!("staging"),
            "the next environment is proposed"
        );
        let target = b
            .client
            .find(fantoccini::Locator::Css("#dialog-input"))
            .await
            .unwrap();
        target.select_by_value("prod").await.unwrap();
        b.shot("promote-dialog").await;
        b.click("#dialog-ok").await;
        // The page moves to the new request, linked to its source.
        b.wait(
            "the promoted request",
            "document.querySelector('#detail[data-status=\"pending_approval\"]')",
        )
        .await;
        b.wait(
            "its lineage",
            &format!(
                "document.querySelector('#lineage a[data-id=\"{dev}\"]') && \
                 document.querySelector('#lineage').textContent.includes('dev')"
            ),
        )
        .await;
        let lineage = b.text("#lineage").await;
        assert!(lineage.contains("Promoted from"), "{lineage}");
        // The promoter counts as requester, so the server does not offer it
        // the approval: the page shows no Approve button (it keeps no copy of
        // that rule), only what the request's `allowed_actions` lists.
        let promoted = b
            .js(
                "return document.querySelector('#detail').dataset.id",
                vec![],
            )
            .await;
        let promoted = promoted.as_str().unwrap().to_owned();
        let offered = stack.import(&hosting, &promoted).await["allowed_actions"].clone();
        assert!(
            !offered.as_array().unwrap().contains(&json!("approve")),
            "the server does not offer the promoter the approval: {offered}"
        );
        b.wait(
            "the actions the server offers",
            "document.querySelector('#actions button[data-action=\"reject\"]')",
        )
        .await;
        assert_eq!(
            b.js(
                "return document.querySelectorAll('button[data-action=\"approve\"]').length",
                vec![]
            )
            .await,
            json!(0),
            "no Approve button for the promoter"
        );
        assert!(
            b.text("#actions").await.contains("someone else to approve"),
            "the page says the approval is someone else's"
        );
        assert!(
            b.text("#detail").await.contains("pending approval"),
            "still waiting"
        );
        b.shot("promoted-no-approve").await;

        // A refusal shows the server's reason: another reviewer opens the
        // approve dialog, the promoter rejects the request through the API
        // before that reviewer confirms, and the server refuses the approval.
        b.click("#logout").await;
        b.login(&second).await;
        b.wait("the list", "document.querySelector('#requests')")
            .await;
        b.js(
            "location.hash = '#/imports/' + arguments[0]; return true;",
            vec![json!(promoted)],
        )
        .await;
        b.click("button[data-action=\"approve\"]").await;
        b.wait(
            "the approve dialog",
            "document.getElementById('dialog').open",
        )
        .await;
        let res = stack
            .app
            .post(
                &hosting,
                &format!("/v1/imports/{promoted}/reject"),
                &json!({ "reason": "not for prod yet" }),
            )
            .await;
        assert_eq!(res.status(), 200, "the promoter may reject");
        b.click("#dialog-ok").await;
        b.wait(
            "the refusal in the dialog",
            "!document.getElementById('dialog-error').hidden",
        )
        .await;
        let refusal = b.text("#dialog-error").await;
        assert!(
            refusal.contains("Not possible now")
                && refusal.contains("the request is rejected; it cannot become queued"),
            "{refusal}"
        );
        b.shot("refused").await;
        b.click("#dialog-cancel").await;
        b.wait(
            "the dialog closed",
            "!document.getElementById('dialog').open",
        )
        .await;
        b.wait(
            "the request shown rejected",
            "document.querySelector('#detail[data-status=\"rejected\"]')",
        )
        .await;
    })
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_bad_or_revoked_token_gets_a_clear_login_error(pool: PgPool) {
    // No worker needed: the API alone.
    let app = TestApp::spawn(pool).await;
    let viewer = ferry_api::auth::generate_token();
    let viewer_id = uuid::Uuid::now_v7();
    let mut conn = app.pool.acquire().await.unwrap();
    ferry_store::tokens::insert(
        &mut conn,
        viewer_id,
        "auditor",
        Role::Viewer,
        None,
        &viewer.digest,
        None,
    )
    .await
    .unwrap();
    let conn = &mut conn;
    let viewer = viewer.secret.clone();
    Browser::run("bad_token", &app, |mut b| async move {
        b.open("/").await;
        b.click("#login-button").await;
        assert_eq!(b.text("#login-error").await, "Paste a token first.");
        b.type_into("#token", "ferry_this-is-not-a-token").await;
        b.click("#login-button").await;
        b.wait(
            "the refusal",
            "document.querySelector('#login-error').textContent.includes('not accepted')",
        )
        .await;
        let error = b.text("#login-error").await;
        assert!(
            error.contains("unknown, revoked or expired"),
            "Ferry's own reason: {error}"
        );
        let kept = b
            .js("return sessionStorage.getItem('ferry.token')", vec![])
            .await;
        assert_eq!(kept, Value::Null, "a refused token is not kept");
        b.shot("bad-token").await;

        // A token revoked while signed in ends the session with the reason.
        b.type_into("#token", &viewer).await;
        b.click("#login-button").await;
        b.wait("signed in", "document.querySelector('#no-requests')")
            .await;
        assert!(b.text("#who").await.contains("viewer"));
        ferry_store::tokens::revoke(conn, viewer_id).await.unwrap();
        b.js("location.hash = '#/?status=failed'; return true;", vec![])
            .await;
        b.wait(
            "the session to end",
            "document.querySelector('#login-error') && \
             document.querySelector('#login-error').textContent.includes('session ended')",
        )
        .await;
        assert!(
            b.text("#login-error").await.contains("revoked"),
            "Ferry's reason is shown"
        );
        b.shot("session-ended").await;
    })
    .await;
}
