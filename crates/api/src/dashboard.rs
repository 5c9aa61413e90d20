//! The dashboard: a page shell, a stylesheet and ES modules, embedded in the
//! binary and served by Ferry itself (nothing is fetched from elsewhere, no
//! build step).
//!
//! These routes are not API: they stay out of the OpenAPI document and need
//! no token, because a browser cannot send one when it loads a page or a
//! script. They hold no data; the page asks the API for everything, with the
//! token the user pasted or the identity provider issued (`crate::sign_in`).
//! Every response carries a strict Content-Security-Policy (scripts and styles from Ferry only, nothing
//! inline), `nosniff`, and a strong `ETag` with `Cache-Control: no-cache`, so
//! browsers revalidate cheaply and never run a stale script after an upgrade.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState};

/// What the page may load and connect to: Ferry only.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../ui/index.html"),
};

/// An ES module of the page, served under `/ui/`.
macro_rules! module {
    ($name:literal) => {
        Asset {
            name: $name,
            content_type: "text/javascript; charset=utf-8",
            body: include_bytes!(concat!("../ui/", $name)),
        }
    };
}

/// Served under `/ui/`: the stylesheet, the entry module `app.js`, the
/// modules it imports (one view or concern each), and the icon.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../ui/app.css"),
    },
    module!("app.js"),
    module!("state.js"),
    module!("session.js"),
    module!("sso.js"),
    module!("routes.js"),
    module!("list.js"),
    module!("overview.js"),
    module!("detail.js"),
    module!("submit.js"),
    module!("rules.js"),
    module!("sections.js"),
    module!("preflight.js"),
    module!("card.js"),
    module!("models.js"),
    module!("model.js"),
    module!("actions.js"),
    module!("dialog.js"),
    module!("notice.js"),
    module!("parts.js"),
    module!("api.js"),
    module!("live.js"),
    module!("dom.js"),
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../ui/favicon.svg"),
    },
];

/// The dashboard's routes: `/` and `/ui/{file}`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { serve(&INDEX, &headers) }),
        )
        .route("/ui/{file}", get(asset))
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => serve(a, &headers),
        None => ApiError::not_found("route").into_response(),
    }
}

/// A strong validator per asset, computed once.
fn etag(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        std::iter::once(&INDEX)
            .chain(ASSETS)
            .map(|a| {
                let digest = Sha256::digest(a.body);
                (
                    a.name,
                    format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16])),
                )
            })
            .collect()
    });
    tags.iter()
        .find(|(name, _)| *name == asset.name)
        .map_or("\"\"", |(_, tag)| tag.as_str())
}

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let tag = etag(asset);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_shell_loads_is_served() {
        let shell = std::str::from_utf8(INDEX.body).unwrap_or_default();
        let loaded: Vec<&str> = shell
            .split("\"/ui/")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        for name in &loaded {
            assert!(
                ASSETS.iter().any(|a| a.name == *name),
                "{name} is not served"
            );
        }
        for name in ["app.js", "app.css", "favicon.svg"] {
            assert!(loaded.contains(&name), "the shell loads {name}");
        }
    }

    #[test]
    fn modules_import_only_served_modules() {
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(a.body).unwrap_or_default();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let target = line
                    .split(['"', '\''])
                    .nth(1)
                    .and_then(|p| p.strip_prefix("./"))
                    .unwrap_or_default();
                assert!(
                    ASSETS.iter().any(|b| b.name == target),
                    "{} imports {target:?}, which is not served",
                    a.name
                );
            }
        }
    }

    /// The modules `text` imports, by file name (`./x.js` → `x.js`).
    fn imports(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with("import "))
            .filter_map(|l| l.split(['"', '\'']).nth(1))
            .filter_map(|p| p.strip_prefix("./"))
            .collect()
    }

    #[test]
    fn every_module_is_reached_from_the_entry() {
        let mut reached = vec!["app.js"];
        let mut i = 0;
        while let Some(name) = reached.get(i).copied() {
            i += 1;
            let Some(module) = ASSETS.iter().find(|a| a.name == name) else {
                continue;
            };
            for target in imports(std::str::from_utf8(module.body).unwrap_or_default()) {
                if !reached.contains(&target) {
                    reached.push(target);
                }
            }
        }
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            assert!(
                reached.contains(&a.name),
                "{} is served but no module imports it",
                a.name
            );
        }
    }

    #[test]
    fn every_file_of_the_page_is_served() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let files = std::fs::read_dir(&dir).map_or_else(|_| Vec::new(), |d| d.flatten().collect());
        assert!(!files.is_empty(), "{} is readable", dir.display());
        for file in files {
            let name = file.file_name().to_string_lossy().into_owned();
            assert!(
                name == INDEX.name || ASSETS.iter().any(|a| a.name == name),
                "ui/{name} is not in ASSETS"
            );
        }
    }

    #[test]
    fn no_module_writes_markup() {
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(a.body).unwrap_or_default();
            for sink in [
                ".innerHTML",
                ".outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "import(",
            ] {
                assert!(!text.contains(sink), "{} uses {sink}", a.name);
            }
        }
    }

    #[test]
    fn the_shell_has_no_inline_script_or_style() {
        let shell = std::str::from_utf8(INDEX.body).unwrap_or_default();
        assert!(!shell.contains("<style"));
        assert!(!shell.contains("style="));
        for tag in shell.split("<script").skip(1) {
            assert!(
                tag.trim_start().starts_with("type=\"module\" src="),
                "{tag}"
            );
        }
    }

    #[test]
    fn etags_differ_per_asset() {
        assert_ne!(etag(&INDEX), etag(&ASSETS[0]));
        assert!(etag(&INDEX).len() > 10);
    }
}
