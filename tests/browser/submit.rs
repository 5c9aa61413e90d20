//! A researcher submits a request from the dashboard's form.

use ferry_store::PgPool;
use serde_json::{Value, json};

use crate::support::{Browser, Stack, js_string};

/// Sets a form field's value as a user would leave it (and tells the page).
pub(crate) async fn fill(b: &Browser, css: &str, value: &str) {
    b.wait(
        &format!("the field {css}"),
        &format!("document.querySelector({})", js_string(css)),
    )
    .await;
    b.js(
        "const el = document.querySelector(arguments[0]);
         el.value = arguments[1];
         el.dispatchEvent(new Event('input', { bubbles: true }));
         return true;",
        vec![json!(css), json!(value)],
    )
    .await;
}

/// The request id the page shows once the new request opens.
pub(crate) async fn opened_request(b: &Browser) -> String {
    let id = b
        .wait(
            "the new request's page",
            "location.hash.startsWith('#/imports/') && document.querySelector('#detail') \
             && document.querySelector('#detail').dataset.id",
        )
        .await;
    id.as_str().unwrap().to_owned()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_researcher_submits_from_the_form_with_bedrocks_rules_checked_first(pool: PgPool) {
    let stack = Stack::start(pool, 300).await;
    let research = stack.researcher("research").await;
    let sample = stack.sample.clone();
    let app = stack.app.url("");

    Browser::run("submit_form", &stack.app, |mut b| async move {
        b.login(&research).await;
        b.wait("signed in", "!document.querySelector('#who').hidden").await;
        b.click("#new-request").await;
        b.wait("the form", "document.querySelector('#new-form')").await;
        // The team's allowed sources and environments are offered.
        let sources = b
            .js(
                "return [...document.querySelectorAll('#new-source-options option')].map(o => o.value)",
                vec![],
            )
            .await;
        let sources: Vec<String> = serde_json::from_value(sources).unwrap();
        assert!(!sources.is_empty());
        assert!(
            sources.iter().any(|s| sample.starts_with(s.as_str())),
            "{sources:?} offers the sample's location {sample}"
        );
        let envs = b
            .js(
                "return [...document.querySelectorAll('#new-environment option')].map(o => o.value)",
                vec![],
            )
            .await;
        assert!(envs.as_array().unwrap().contains(&json!("prod")), "{envs}");
        // Bedrock's rules are shown before sending.
        assert!(b.text("#new-form").await.contains("Letters and digits, each optionally followed by one _ or -"));
        b.shot("form").await;

        // Count the page's POSTs with their Idempotency-Keys; with
        // `__failNext` set, the next one is lost before it reaches Ferry.
        b.js(
            "window.__posts = [];
             window.__failNext = false;
             const orig = window.fetch;
             window.fetch = (url, init) => {
               if (init && init.method === 'POST' && String(url).endsWith('/v1/imports')) {
                 window.__posts.push(init.headers['Idempotency-Key']);
                 if (window.__failNext) {
                   window.__failNext = false;
                   return Promise.reject(new TypeError('network down'));
                 }
               }
               return orig(url, init);
             };
             return true;",
            vec![],
        )
        .await;

        // Broken fields are named in the page, nothing is sent.
        fill(&b, "#new-source", "s3://Model-Artifacts/x//y/").await;
        fill(&b, "#new-model-name", "bad--name").await;
        fill(&b, "#new-model-tags", "aws:owner=me").await;
        b.click("#new-submit").await;
        let err = b.text("#new-model_name-error").await;
        assert!(err.contains("no leading or doubled separators"), "{err}");
        let err = b.text("#new-source-error").await;
        assert!(err.contains("lower case"), "{err}");
        let err = b.text("#new-model_tags-error").await;
        assert!(err.contains("reserved by AWS"), "{err}");
        assert_eq!(b.js("return window.__posts.length", vec![]).await, json!(0));
        b.shot("client-side-errors").await;

        // Corrected, sent, but the answer is lost: the retry goes with the same key.
        fill(&b, "#new-source", &sample).await;
        fill(&b, "#new-model-name", "llama-from-form").await;
        fill(&b, "#new-model-tags", "").await;
        fill(&b, "#new-job-tags", "team=research").await;
        let env = b
            .client
            .find(fantoccini::Locator::Css("#new-environment"))
            .await
            .unwrap();
        env.select_by_value("prod").await.unwrap();
        fill(&b, "#new-description", "from the dashboard").await;
        b.shot("filled").await;
        b.js("window.__failNext = true; return true;", vec![]).await;
        b.click("#new-submit").await;
        let err = b.text("#new-error").await;
        assert!(err.contains("Submitting again is safe"), "{err}");
        b.shot("lost-answer").await;
        b.click("#new-submit").await;
        let id = opened_request(&b).await;
        b.wait(
            "pending approval",
            "document.querySelector('#detail').dataset.status === 'pending_approval'",
        )
        .await;
        b.shot("opened").await;
        let keys: Vec<String> =
            serde_json::from_value(b.js("return window.__posts", vec![]).await).unwrap();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert_eq!(keys[0].len(), 36, "a UUID per form fill: {keys:?}");
        assert_eq!(keys[0], keys[1], "the retry is the same submission");

        // The request is what the form said.
        let imp: Value = reqwest::Client::new()
            .get(format!("{app}/v1/imports/{id}"))
            .bearer_auth(&research)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(imp["model_name"], "llama-from-form");
        assert_eq!(imp["environment"], "prod");
        assert_eq!(imp["source"], json!(sample));
        assert_eq!(imp["team"], "research");

        // A second fill with the server refusing it: its field error shows
        // beside the field, and the key is renewed once the user edits.
        b.click("#new-request").await;
        b.wait("the form again", "document.querySelector('#new-form') && !document.querySelector('#detail')").await;
        fill(&b, "#new-source", &sample).await;
        fill(&b, "#new-model-name", "llama-second").await;
        // Only the server knows the environment admits the team: send one it
        // does not list by adding it to the select.
        b.js(
            "const s = document.querySelector('#new-environment');
             const o = document.createElement('option'); o.value = 'nowhere'; o.textContent = 'nowhere';
             s.appendChild(o); s.value = 'nowhere'; return true;",
            vec![],
        )
        .await;
        b.click("#new-submit").await;
        let err = b.text("#new-environment-error").await;
        assert!(!err.is_empty(), "the server's 422 shows beside the environment");
        b.shot("server-field-error").await;
        let env = b
            .client
            .find(fantoccini::Locator::Css("#new-environment"))
            .await
            .unwrap();
        env.select_by_value("dev").await.unwrap();
        fill(&b, "#new-model-name", "llama-second").await;
        b.click("#new-submit").await;
        let second = opened_request(&b).await;
        assert_ne!(second, id);
        let keys: Vec<String> =
            serde_json::from_value(b.js("return window.__posts", vec![]).await).unwrap();
        assert_eq!(keys.len(), 4, "{keys:?}");
        assert_ne!(keys[2], keys[1], "a new form fill, a new key");
        assert_ne!(keys[3], keys[2], "edited after a refusal, a new submission");
        b.shot("second-opened").await;
    })
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_model_package_arn_is_submitted_from_the_form_and_its_lineage_shown(pool: PgPool) {
    let stack = Stack::start(pool, 300).await;
    let research = stack.researcher("research").await;
    let arn = ferry::dev::register_package(&stack.sim, "sample-llama", &stack.sample, true)
        .await
        .unwrap();

    Browser::run("submit_package", &stack.app, |mut b| async move {
        b.login(&research).await;
        b.wait("signed in", "!document.querySelector('#who').hidden").await;
        b.click("#new-request").await;
        b.wait("the form", "document.querySelector('#new-form')").await;
        // A malformed ARN is named in the page before sending.
        fill(
            &b,
            "#new-source",
            "arn:aws:sagemaker:us-east-1:111122223333:model-package/-bad/1",
        )
        .await;
        fill(&b, "#new-model-name", "from-registry").await;
        let env = b
            .client
            .find(fantoccini::Locator::Css("#new-environment"))
            .await
            .unwrap();
        env.select_by_value("dev").await.unwrap();
        b.click("#new-submit").await;
        let err = b.text("#new-source-error").await;
        assert!(err.contains("model package ARN"), "{err}");
        b.shot("bad-arn").await;

        // The package's ARN is accepted; the request shows where it came from.
        fill(&b, "#new-source", &arn).await;
        b.click("#new-submit").await;
        opened_request(&b).await;
        let shown = b
            .wait(
                "the package lineage",
                "(document.querySelector('#main').textContent.includes('model-package/sample-llama/1') \
                  && document.querySelector('#main').textContent)",
            )
            .await;
        let shown = shown.as_str().unwrap();
        assert!(shown.contains("version 1"), "{shown}");
        assert!(shown.contains("Approved at submit"), "{shown}");
        b.shot("lineage").await;
    })
    .await;
}
