//! OIDC JWTs beside Ferry's own tokens: a real Ferry over HTTP, a real
//! Postgres, and the issuer's key set served over real HTTP by a small server
//! started in each test (or read from a file). The signing keys are the
//! test-only keys of `tests/fixtures/oidc/`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ferry_api::oidc::{ASYMMETRIC_ALGORITHMS, JwksSource, OidcSettings, OidcVerifier};
use ferry_domain::auth::Role;
use ferry_domain::names::TeamName;
use ferry_domain::oidc::ClaimMapping;
use ferry_e2e::{TestApp, problem, repo_root, valid_body};
use ferry_store::PgPool;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.test.example";
const AUDIENCE: &str = "ferry";

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/oidc").join(name)
}

/// The DER inside a PEM file.
fn der(name: &str) -> Vec<u8> {
    let pem = std::fs::read_to_string(fixture(name)).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// A signing key of the test issuer.
struct Signer {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
}

impl Signer {
    fn new(file: &str, kid: &str, alg: Algorithm) -> Self {
        let der = der(file);
        let key = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_der(&der),
            Algorithm::EdDSA => EncodingKey::from_ed_der(&der),
            _ => EncodingKey::from_rsa_der(&der),
        };
        Self {
            kid: kid.into(),
            alg,
            key,
        }
    }

    fn rsa1() -> Self {
        Self::new("rsa-1.pem", "rsa-1", Algorithm::RS256)
    }

    fn rsa2() -> Self {
        Self::new("rsa-2.pem", "rsa-2", Algorithm::RS256)
    }

    /// The public half, as the issuer publishes it.
    fn jwk(&self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).unwrap();
        jwk.common.key_id = Some(self.kid.clone());
        serde_json::to_value(jwk).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// Signed with this key, but naming another key's id.
    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

fn jwks(signers: &[&Signer]) -> Value {
    json!({"keys": signers.iter().map(|s| s.jwk()).collect::<Vec<_>>()})
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Claims of a valid token for `sub`.
fn claims(sub: &str, role: &str, team: Option<&str>) -> Value {
    let mut c = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "name": format!("{sub} (oidc)"),
        "iat": now(),
        "exp": now() + 300,
        "ferry_role": role,
    });
    if let Some(team) = team {
        c["ferry_team"] = json!(team);
    }
    c
}

/// The identity provider's key endpoint: serves whatever JWKS it holds now
/// and counts the fetches.
struct KeyServer {
    addr: SocketAddr,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl KeyServer {
    async fn start(jwks: Value) -> Self {
        let jwks = Arc::new(Mutex::new(jwks));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (j, f) = (Arc::clone(&jwks), Arc::clone(&fetches));
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (j, f) = (Arc::clone(&j), Arc::clone(&f));
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    axum::Json(j.lock().unwrap().clone())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            jwks,
            fetches,
            server,
        }
    }

    fn source(&self) -> JwksSource {
        JwksSource::Url(format!("http://{}/jwks", self.addr).parse().unwrap())
    }

    fn publish(&self, jwks: Value) {
        *self.jwks.lock().unwrap() = jwks;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn settings(jwks: JwksSource) -> OidcSettings {
    OidcSettings {
        issuer: ISSUER.into(),
        audiences: vec![AUDIENCE.into()],
        jwks,
        clock_skew: Duration::from_secs(60),
        algorithms: ASYMMETRIC_ALGORITHMS.to_vec(),
        refresh_interval: Duration::from_secs(900),
        min_refresh_interval: Duration::ZERO,
        mapping: ClaimMapping::default(),
        dashboard: None,
    }
}

async fn app_with(pool: PgPool, settings: OidcSettings) -> TestApp {
    let verifier = OidcVerifier::new(settings).unwrap();
    verifier.load().await.unwrap();
    TestApp::builder(pool)
        .oidc(Arc::new(verifier))
        .spawn()
        .await
}

/// The 401 for `token`, its detail checked to contain `want` and never the token.
async fn refused(app: &TestApp, token: &str, want: &str) -> Value {
    let res = app.get(token, "/v1/imports").await;
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"ferry\", error=\"invalid_token\""
    );
    let p = problem(res, 401).await;
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(want), "{detail:?} should say {want:?}");
    assert!(
        !p.to_string().contains(token),
        "the problem echoes the token"
    );
    p
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn oidc_researchers_are_held_to_their_team_and_ferry_tokens_still_work(pool: PgPool) {
    let rsa = Signer::rsa1();
    let idp = KeyServer::start(jwks(&[&rsa])).await;
    let app = app_with(pool, settings(idp.source())).await;
    let research = rsa.sign(&claims("user-a", "researcher", Some("research")));
    let vision = rsa.sign(&claims("user-b", "researcher", Some("vision")));

    let created = app.create(&research, &valid_body("oidc-model")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["team"], "research");
    assert_eq!(created["requested_by"], "user-a (oidc)");

    let mut vbody = valid_body("vision-model");
    vbody["source"] = json!("s3://model-artifacts-111122223333/vision/vit/");
    let vision_req = app.create(&vision, &vbody).await;
    // The vision researcher may not create for research's bucket.
    let res = app
        .post(&vision, "/v1/imports", &valid_body("sneaky"))
        .await;
    assert_ne!(res.status(), 201);

    problem(app.get(&vision, &format!("/v1/imports/{id}")).await, 404).await;
    let page: Value = app.get(&vision, "/v1/imports").await.json().await.unwrap();
    assert_eq!(ids(&page), vec![vision_req["id"].as_str().unwrap()]);
    let page: Value = app
        .get(&research, "/v1/imports")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![id.clone()]);

    // Ferry's own tokens keep working beside the JWTs.
    let admin = app.token(Role::Admin, None, "admin").await;
    let page: Value = app.get(&admin, "/v1/imports").await.json().await.unwrap();
    assert_eq!(ids(&page).len(), 2);
    let ferry_researcher = app.researcher("research").await;
    let res = app
        .get(&ferry_researcher, &format!("/v1/imports/{id}"))
        .await;
    assert_eq!(res.status(), 200);

    // Keys of ES256 and EdDSA work as well as RSA's.
    let ec = Signer::new("ec-1.pem", "ec-1", Algorithm::ES256);
    let ed = Signer::new("ed-1.pem", "ed-1", Algorithm::EdDSA);
    idp.publish(jwks(&[&rsa, &ec, &ed]));
    for signer in [&ec, &ed] {
        let token = signer.sign(&claims("user-c", "viewer", None));
        let res = app.get(&token, "/v1/imports").await;
        assert_eq!(res.status(), 200, "{:?}", signer.alg);
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn oidc_times_hold_within_the_clock_skew(pool: PgPool) {
    let rsa = Signer::rsa1();
    let idp = KeyServer::start(jwks(&[&rsa])).await;
    let app = app_with(pool, settings(idp.source())).await;

    let mut c = claims("user-a", "viewer", None);
    c["exp"] = json!(now() - 20);
    assert_eq!(app.get(&rsa.sign(&c), "/v1/imports").await.status(), 200);

    c["exp"] = json!(now() - 600);
    let p = refused(&app, &rsa.sign(&c), "the token expired at ").await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("clock skew allowed: 60 s")
    );

    let mut c = claims("user-a", "viewer", None);
    c["nbf"] = json!(now() + 600);
    refused(&app, &rsa.sign(&c), "not valid before").await;
    c["nbf"] = json!(now() + 20);
    assert_eq!(app.get(&rsa.sign(&c), "/v1/imports").await.status(), 200);

    let mut c = claims("user-a", "viewer", None);
    c["iat"] = json!(now() + 600);
    refused(&app, &rsa.sign(&c), "issued in the future").await;
    c.as_object_mut().unwrap().remove("exp");
    refused(&app, &rsa.sign(&c), "no \"exp\" claim").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn oidc_refuses_other_audiences_issuers_and_signers(pool: PgPool) {
    let rsa = Signer::rsa1();
    let idp = KeyServer::start(jwks(&[&rsa])).await;
    let app = app_with(pool, settings(idp.source())).await;

    let mut c = claims("user-a", "viewer", None);
    c["aud"] = json!(["grafana", "billing"]);
    refused(
        &app,
        &rsa.sign(&c),
        "audience [\"grafana\", \"billing\"] does not include \"ferry\"",
    )
    .await;

    let mut c = claims("user-a", "viewer", None);
    c["iss"] = json!("https://evil.example");
    refused(
        &app,
        &rsa.sign(&c),
        "issuer \"https://evil.example\" is not",
    )
    .await;

    // Signed by another key under the issuer's key id.
    let forged = Signer::rsa2().sign_as("rsa-1", &claims("intruder", "admin", None));
    refused(&app, &forged, "signature does not verify").await;

    // A valid token with its payload swapped.
    let good = rsa.sign(&claims("user-a", "viewer", None));
    let admin_payload = URL_SAFE_NO_PAD.encode(claims("user-a", "admin", None).to_string());
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!("{}.{admin_payload}.{}", parts[0], parts[2]);
    refused(&app, &tampered, "signature does not verify").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn oidc_refuses_unsigned_and_hmac_tokens(pool: PgPool) {
    let rsa = Signer::rsa1();
    let idp = KeyServer::start(jwks(&[&rsa])).await;
    let app = app_with(pool, settings(idp.source())).await;
    let admin = claims("intruder", "admin", None);

    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#),
        URL_SAFE_NO_PAD.encode(admin.to_string())
    );
    refused(&app, &unsigned, "alg \"none\"").await;

    // The classic confusion: HMAC keyed with the issuer's public key.
    let public_pem = std::fs::read(fixture("rsa-1.pub.pem")).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let hmac = jsonwebtoken::encode(
        &header,
        &admin,
        &EncodingKey::from_secret(&public_pem).unwrap(),
    )
    .unwrap();
    refused(&app, &hmac, "algorithm \"HS256\" is not accepted").await;

    // An RSA key does not verify an ES256 token, even one naming it.
    let ec = Signer::new("ec-1.pem", "rsa-1", Algorithm::ES256);
    refused(&app, &ec.sign(&admin), "is not for ES256").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn oidc_picks_up_a_rotated_key_and_limits_refreshes(pool: PgPool) {
    let (old, new) = (Signer::rsa1(), Signer::rsa2());
    let idp = KeyServer::start(jwks(&[&old])).await;
    let app = app_with(pool.clone(), settings(idp.source())).await;
    let before = app
        .get(&old.sign(&claims("a", "viewer", None)), "/v1/imports")
        .await;
    assert_eq!(before.status(), 200);
    assert_eq!(idp.fetches(), 1);

    // The issuer rotates: tokens now name a key Ferry has not seen.
    idp.publish(jwks(&[&new]));
    let res = app
        .get(&new.sign(&claims("a", "viewer", None)), "/v1/imports")
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(idp.fetches(), 2, "one refresh for the unknown key");
    refused(
        &app,
        &old.sign(&claims("a", "viewer", None)),
        "unknown key \"rsa-1\"",
    )
    .await;

    // With a rate limit, a flood of unknown key ids costs one fetch.
    let limited = OidcSettings {
        min_refresh_interval: Duration::from_secs(3600),
        ..settings(idp.source())
    };
    let app = app_with(pool, limited).await;
    let fetched = idp.fetches();
    for i in 0..10 {
        let token = new.sign_as(&format!("bogus-{i}"), &claims("a", "viewer", None));
        refused(&app, &token, &format!("unknown key \"bogus-{i}\"")).await;
    }
    assert_eq!(idp.fetches(), fetched + 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn oidc_keys_from_a_file_are_reread_for_an_unknown_key(pool: PgPool) {
    let (old, new) = (Signer::rsa1(), Signer::rsa2());
    let path = std::env::temp_dir().join(format!("ferry-jwks-{}.json", uuid::Uuid::now_v7()));
    std::fs::write(&path, jwks(&[&old]).to_string()).unwrap();
    let app = app_with(pool, settings(JwksSource::File(path.clone()))).await;
    let token = old.sign(&claims("a", "viewer", None));
    assert_eq!(app.get(&token, "/v1/imports").await.status(), 200);

    std::fs::write(&path, jwks(&[&new]).to_string()).unwrap();
    let token = new.sign(&claims("a", "viewer", None));
    assert_eq!(app.get(&token, "/v1/imports").await.status(), 200);
    std::fs::remove_file(&path).unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn oidc_maps_groups_to_roles_and_teams(pool: PgPool) {
    let rsa = Signer::rsa1();
    let idp = KeyServer::start(jwks(&[&rsa])).await;
    let mapped = OidcSettings {
        mapping: ClaimMapping {
            role_claim: "groups".into(),
            role_map: [
                ("ml-research".to_owned(), Role::Researcher),
                ("ml-platform".to_owned(), Role::Hosting),
            ]
            .into(),
            team_claim: "groups".into(),
            team_map: [("vision-team".to_owned(), TeamName::parse("vision").unwrap())].into(),
            ..ClaimMapping::default()
        },
        ..settings(idp.source())
    };
    let app = app_with(pool, mapped).await;
    let with_groups = |sub: &str, groups: Value| {
        let mut c = claims(sub, "ignored", None);
        c["groups"] = groups;
        rsa.sign(&c)
    };

    // A researcher of vision, by group membership.
    let researcher = with_groups("dana", json!(["everyone", "ml-research", "vision-team"]));
    let mut body = valid_body("vision-model");
    body["source"] = json!("s3://model-artifacts-111122223333/vision/vit/");
    let created = app.create(&researcher, &body).await;
    assert_eq!(created["team"], "vision");

    // Hosting by group: reads every request, may not create.
    let hosting = with_groups("erin", json!(["ml-platform"]));
    let page: Value = app.get(&hosting, "/v1/imports").await.json().await.unwrap();
    assert_eq!(ids(&page).len(), 1);
    problem(app.post(&hosting, "/v1/imports", &body).await, 403).await;

    // No mapped group: no role.
    let nobody = with_groups("frank", json!(["everyone"]));
    refused(
        &app,
        &nobody,
        "names no Ferry role in the configured role_map",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn oidc_researchers_need_a_declared_team(pool: PgPool) {
    let rsa = Signer::rsa1();
    let idp = KeyServer::start(jwks(&[&rsa])).await;
    let app = app_with(pool, settings(idp.source())).await;
    refused(
        &app,
        &rsa.sign(&claims("user-a", "researcher", None)),
        "a researcher acts for one team, but the token has no \"ferry_team\" claim",
    )
    .await;
    refused(
        &app,
        &rsa.sign(&claims("user-a", "researcher", Some("robotics"))),
        "team robotics is not a team declared",
    )
    .await;
    refused(
        &app,
        &rsa.sign(&claims("user-a", "superuser", None)),
        "names no Ferry role",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn jwts_are_refused_when_oidc_is_not_configured(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = Signer::rsa1().sign(&claims("user-a", "admin", None));
    refused(&app, &token, "OIDC is not configured").await;
    refused(&app, "not-a-token", "neither a Ferry token").await;
}

#[sqlx::test(migrations = "../migrations")]
async fn oidc_separation_of_duties_follows_the_subject(pool: PgPool) {
    let rsa = Signer::rsa1();
    let idp = KeyServer::start(jwks(&[&rsa])).await;
    let app = app_with(pool, settings(idp.source())).await;
    let mut body = valid_body("prod-model");
    body["environment"] = json!("prod");

    // User A submits as a researcher...
    let user_a = rsa.sign(&claims("user-a", "researcher", Some("research")));
    let created = app.create(&user_a, &body).await;
    assert_eq!(created["status"], "pending_approval");
    let path = format!("/v1/imports/{}/approve", created["id"].as_str().unwrap());

    // ...and cannot approve with a hosting token of the same subject.
    let user_a_hosting = rsa.sign(&claims("user-a", "hosting", None));
    let p = problem(app.post(&user_a_hosting, &path, &json!({})).await, 403).await;
    assert_eq!(p["code"], "separation_of_duties");

    // Another subject of the hosting team can.
    let user_b = rsa.sign(&claims("user-b", "hosting", None));
    let res = app.post(&user_b, &path, &json!({})).await;
    assert_eq!(res.status(), 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn oidc_without_reachable_keys_is_503_while_ferry_tokens_work(pool: PgPool) {
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", closed.local_addr().unwrap());
    drop(closed);
    let verifier = OidcVerifier::new(settings(JwksSource::Url(url.parse().unwrap()))).unwrap();
    assert!(verifier.load().await.is_err());
    let app = TestApp::builder(pool)
        .oidc(Arc::new(verifier))
        .spawn()
        .await;

    let token = Signer::rsa1().sign(&claims("user-a", "viewer", None));
    let p = problem(app.get(&token, "/v1/imports").await, 503).await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("keys could not be loaded")
    );
    let viewer = app.token(Role::Viewer, None, "viewer").await;
    assert_eq!(app.get(&viewer, "/v1/imports").await.status(), 200);
}
