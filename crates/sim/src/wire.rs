//! Protocol plumbing shared by the services: the request the handlers see, error shapes per
//! protocol, XML escaping and timestamps.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

/// The services the sim speaks, named by their SigV4 signing names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    S3,
    Sts,
    Iam,
    Kms,
    Bedrock,
    /// Service Quotas (JSON 1.1, `X-Amz-Target: ServiceQuotasV20190624.<Op>`).
    Quotas,
    /// CloudWatch (JSON 1.0, `X-Amz-Target: GraniteServiceVersion20100801.<Op>`).
    CloudWatch,
    /// SageMaker's Model Registry (JSON 1.1, `X-Amz-Target: SageMaker.<Op>`).
    SageMaker,
}

impl Service {
    pub(crate) fn from_signing_name(name: &str) -> Option<Self> {
        Some(match name {
            "s3" => Self::S3,
            "sts" => Self::Sts,
            "iam" => Self::Iam,
            "kms" => Self::Kms,
            "bedrock" => Self::Bedrock,
            "servicequotas" => Self::Quotas,
            "monitoring" => Self::CloudWatch,
            "sagemaker" => Self::SageMaker,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Sts => "sts",
            Self::Iam => "iam",
            Self::Kms => "kms",
            Self::Bedrock => "bedrock",
            Self::Quotas => "servicequotas",
            Self::CloudWatch => "monitoring",
            Self::SageMaker => "sagemaker",
        }
    }
}

/// A buffered request, as every handler sees it.
#[derive(Debug)]
pub(crate) struct SimRequest {
    pub(crate) method: Method,
    /// The raw (still percent-encoded) path.
    pub(crate) path: String,
    /// Path and query exactly as received (what the client signed).
    pub(crate) raw_path_and_query: String,
    /// Decoded query parameters in wire order.
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    pub(crate) request_id: String,
}

impl SimRequest {
    pub(crate) fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn has_query(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Form parameters of a Query-protocol body (STS, IAM), merged with the URL query.
    pub(crate) fn form(&self) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&self.body).unwrap_or_default();
        params.extend(self.query.iter().cloned());
        params
    }
}

/// An error a handler returns; rendered in the protocol of the service that raised it.
#[derive(Debug, Clone)]
pub(crate) struct SimError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
    /// The resource named in S3 error bodies.
    pub(crate) resource: Option<String>,
}

impl SimError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            resource: None,
        }
    }

    pub(crate) fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Renders the error the way `service`'s SDK deserializer expects it.
    pub(crate) fn render(&self, service: Service, request_id: &str) -> Response {
        let mut builder = Response::builder()
            .status(self.status)
            .header("x-amzn-requestid", request_id);
        let body = match service {
            Service::S3 => {
                builder = builder
                    .header("content-type", "application/xml")
                    .header("x-amz-request-id", request_id);
                let resource = self
                    .resource
                    .as_deref()
                    .map(|r| format!("<Resource>{}</Resource>", xml_escape(r)))
                    .unwrap_or_default();
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>{resource}<RequestId>{request_id}</RequestId></Error>",
                    xml_escape(&self.code),
                    xml_escape(&self.message)
                )
            }
            Service::Sts | Service::Iam => {
                builder = builder.header("content-type", "text/xml");
                let kind = if self.status.is_server_error() {
                    "Receiver"
                } else {
                    "Sender"
                };
                format!(
                    "<ErrorResponse xmlns=\"{}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                    if service == Service::Sts {
                        STS_NS
                    } else {
                        IAM_NS
                    },
                    xml_escape(&self.code),
                    xml_escape(&self.message)
                )
            }
            Service::Kms | Service::Quotas | Service::SageMaker => {
                builder = builder.header("content-type", "application/x-amz-json-1.1");
                serde_json::json!({"__type": self.code, "message": self.message}).to_string()
            }
            Service::CloudWatch => {
                // awsQueryCompatible: the Query protocol's code and fault beside `__type`.
                let fault = if self.status.is_server_error() {
                    "Receiver"
                } else {
                    "Sender"
                };
                let query = format!("{};{fault}", crate::cloudwatch::query_code(&self.code));
                builder = builder
                    .header("content-type", "application/x-amz-json-1.0")
                    .header("x-amzn-query-error", query);
                serde_json::json!({"__type": self.code, "message": self.message}).to_string()
            }
            Service::Bedrock => {
                builder = builder
                    .header("content-type", "application/json")
                    .header("x-amzn-errortype", self.code.as_str());
                // TooManyTagsException carries `resourceName` (botocore's bedrock model).
                match &self.resource {
                    Some(r) => serde_json::json!({"message": self.message, "resourceName": r}),
                    None => serde_json::json!({"message": self.message}),
                }
                .to_string()
            }
        };
        if self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status == StatusCode::SERVICE_UNAVAILABLE
        {
            builder = builder.header("retry-after", HeaderValue::from_static("1"));
        }
        builder
            .body(Body::from(body))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }
}

pub(crate) type SimResult<T = Response> = Result<T, SimError>;

pub(crate) const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub(crate) const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `2026-11-28T18:00:00Z` (STS, IAM, Bedrock).
pub(crate) fn iso8601(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// `2026-11-28T18:00:00.000Z` (S3 listings).
pub(crate) fn iso8601_millis(t: OffsetDateTime) -> String {
    let ms = t.millisecond();
    let base = iso8601(t);
    base.strip_suffix('Z')
        .map_or(base.clone(), |b| format!("{b}.{ms:03}Z"))
}

/// `Sat, 28 Nov 2026 18:00:00 GMT` (S3 `Last-Modified`).
pub(crate) fn http_date(t: OffsetDateTime) -> String {
    t.format(&Rfc2822)
        .map(|s| s.replace("+0000", "GMT"))
        .unwrap_or_default()
}

/// An XML success response for the Query protocol (STS, IAM).
pub(crate) fn query_response(
    action: &str,
    ns: &str,
    result_xml: &str,
    request_id: &str,
) -> Response {
    let body = format!(
        "<{action}Response xmlns=\"{ns}\"><{action}Result>{result_xml}</{action}Result><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    );
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/xml")
        .header("x-amzn-requestid", request_id)
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// A JSON success response.
pub(crate) fn json_response(
    status: StatusCode,
    content_type: &str,
    value: &serde_json::Value,
) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::from(value.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// A random id of `len` characters drawn from `alphabet`.
pub(crate) fn random_id(alphabet: &[u8], len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

pub(crate) const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub(crate) const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

pub(crate) fn access_denied(service: Service, message: String) -> SimError {
    let (status, code) = match service {
        Service::S3 | Service::Sts | Service::Iam => (StatusCode::FORBIDDEN, "AccessDenied"),
        Service::Kms | Service::Quotas | Service::SageMaker => {
            (StatusCode::BAD_REQUEST, "AccessDeniedException")
        }
        // Query code AccessDenied (HTTP 403) in x-amzn-query-error.
        Service::CloudWatch => (StatusCode::FORBIDDEN, "AccessDeniedException"),
        Service::Bedrock => (StatusCode::FORBIDDEN, "AccessDeniedException"),
    };
    SimError::new(status, code, message)
}

pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Percent-encodes everything but unreserved characters (IAM policy documents, S3 `url`
/// encoding type).
pub(crate) fn percent_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}
