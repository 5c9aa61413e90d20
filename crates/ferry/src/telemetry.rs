//! Logging: human-readable text or JSON lines, filtered by `RUST_LOG` or the
//! config's `log.filter`. With `[telemetry.otlp]` (or the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT`), the same spans are also exported as
//! OpenTelemetry traces over OTLP/HTTP, batched, and flushed by
//! [`Telemetry::shutdown`].

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use secrecy::ExposeSecret;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogConfig, LogFormat, OtlpExport};

/// What [`init`] set up; export ends (and what is batched is sent) at
/// [`Telemetry::shutdown`].
#[derive(Debug, Default)]
#[must_use = "call shutdown() so the last spans are exported"]
pub(crate) struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends what is still batched and stops exporting. Call it outside the
    /// async runtime: the exporter's HTTP client blocks.
    pub(crate) fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "could not flush the last trace spans");
        }
    }
}

/// Installs the process's subscriber. Call it outside the async runtime when
/// `otlp` is set (the exporter's blocking HTTP client is built here).
pub(crate) fn init(log: &LogConfig, otlp: Option<&OtlpExport>) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = match log.format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let (provider, failed) = match otlp.map(provider).transpose() {
        Ok(p) => (p, None),
        Err(e) => (None, Some(e)),
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(env!("CARGO_PKG_NAME"))));
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init();
    if let Some(e) = failed {
        tracing::error!(error = %e, "cannot export traces over OTLP; running without");
    }
    if let Some(otlp) = otlp.filter(|_| provider.is_some()) {
        tracing::info!(endpoint = %otlp.traces_url, service = %otlp.service_name, sampling_ratio = otlp.sampling_ratio, "exporting traces over OTLP/HTTP");
    }
    Telemetry { provider }
}

/// The exporter's HTTP client: reqwest's blocking client, called on the
/// batch processor's own thread (no async runtime there), so the export
/// needs no HTTP stack besides the one Ferry already has.
#[derive(Debug)]
struct BlockingClient(reqwest::blocking::Client);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for BlockingClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let res = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body.to_vec())
            .send()?;
        let mut out = Response::builder().status(res.status());
        if let Some(headers) = out.headers_mut() {
            headers.extend(res.headers().clone());
        }
        Ok(out.body(res.bytes()?)?)
    }
}

/// A tracer provider exporting to `otlp` in batches.
fn provider(otlp: &OtlpExport) -> anyhow::Result<SdkTracerProvider> {
    let client = reqwest::blocking::Client::builder()
        .timeout(otlp.timeout)
        .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let headers = otlp
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
        .collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(BlockingClient(client))
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(otlp.traces_url.clone())
        .with_timeout(otlp.timeout)
        .with_headers(headers)
        .build()?;
    // A caller's traceparent decides for its trace; new traces are kept at
    // the configured ratio.
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(otlp.sampling_ratio)));
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(
            Resource::builder()
                .with_service_name(otlp.service_name.clone())
                .build(),
        )
        .build())
}
