//! `/mcp`: the MCP tools behind the API's own authentication, calling its own
//! handlers as the authenticated caller. (The whole conversation through the
//! official MCP Python SDK, over HTTP and stdio, is `scripts/mcp.sh`.)

use ferry_domain::auth::Role;
use ferry_e2e::{TestApp, problem, valid_body};
use ferry_store::PgPool;
use serde_json::{Value, json};

/// One JSON-RPC call of `/mcp` (stateless: no session to open first).
async fn rpc(app: &TestApp, token: Option<&str>, method: &str, params: Value) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/mcp"))
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

async fn result(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["result"].clone()
}

#[sqlx::test(migrations = "../migrations")]
async fn mcp_needs_a_token_like_every_endpoint(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let init = json!({"protocolVersion": "2025-06-18", "capabilities": {},
                      "clientInfo": {"name": "test", "version": "1"}});
    let refused = problem(rpc(&app, None, "initialize", init.clone()).await, 401).await;
    assert_eq!(refused["code"], "unauthorized");
    problem(
        rpc(&app, Some("ferry_unknown"), "initialize", init.clone()).await,
        401,
    )
    .await;

    let researcher = app.researcher("research").await;
    let info = result(rpc(&app, Some(&researcher), "initialize", init).await).await;
    assert_eq!(info["serverInfo"]["name"], "ferry");
}

#[sqlx::test(migrations = "../migrations")]
async fn tools_act_as_the_caller_with_the_apis_rules(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    let vision = app.researcher("vision").await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;
    let mut body = valid_body("mcp-m1");
    body["environment"] = json!("prod");
    let created = app.create(&researcher, &body).await;
    let id = created["id"].as_str().unwrap();

    let call = |name: &str, args: Value| json!({"name": name, "arguments": args});
    let refused = result(
        rpc(
            &app,
            Some(&researcher),
            "tools/call",
            call("approve_import", json!({"id": id})),
        )
        .await,
    )
    .await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert_eq!(refused["structuredContent"]["status"], 403);
    assert_eq!(refused["structuredContent"]["code"], "forbidden");

    let hidden = result(
        rpc(
            &app,
            Some(&vision),
            "tools/call",
            call("get_import", json!({"id": id})),
        )
        .await,
    )
    .await;
    assert_eq!(hidden["structuredContent"]["status"], 404, "{hidden}");

    let approved = result(
        rpc(
            &app,
            Some(&hosting),
            "tools/call",
            call("approve_import", json!({"id": id, "comment": "ok"})),
        )
        .await,
    )
    .await;
    assert_eq!(approved["isError"], false, "{approved}");
    assert_eq!(approved["structuredContent"]["status"], "queued");
    // The same change the REST route makes: the audit trail names the hosting token.
    let events: Value = app
        .get(&hosting, &format!("/v1/imports/{id}/events"))
        .await
        .json()
        .await
        .unwrap();
    let approval = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "approved")
        .unwrap();
    assert_eq!(approval["actor"], "hosting-lead");
}
