//! The Prometheus HTTP query API as a client: `POST /api/v1/query` with `query` and
//! `time` (an instant vector), and `POST /api/v1/query_range` with `start`, `end` and
//! `step` (a matrix, for history), answered by Prometheus, VictoriaMetrics (single node, or a cluster's
//! `select/<tenant>/prometheus` URL), Thanos Query and anything else that speaks it.
//!
//! Everything read is bounded: the body ([`MAX_ANSWER_BYTES`]), the series of one
//! answer ([`MAX_SERIES_PER_ANSWER`]), the labels of one series and their length (a
//! series over them is left out and counted, not an error: one odd series must not
//! cost the round). Every error names the query.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::backend_tls::BackendTls;
use crate::own_metrics::ScrapeFailure;

/// The most one answer's body may be.
pub const MAX_ANSWER_BYTES: u64 = 256 << 20;
/// The most series one answer may have (10,000 nodes × 100 series of one group).
pub const MAX_SERIES_PER_ANSWER: usize = 1_000_000;
/// The most labels one series may have; a series with more is left out.
pub const MAX_LABELS_PER_SERIES: usize = 64;
/// The longest label name or value kept (command lines are the long ones); a series
/// with a longer one is left out.
pub const MAX_LABEL_BYTES: usize = 4096;
/// The longest secret file read (a bearer token or a password).
pub const MAX_SECRET_FILE_BYTES: u64 = 16 << 10;
/// The most points one series of a range answer may have (Prometheus refuses more
/// than 11,000 steps; the history asks for fewer, see `history::MAX_STEPS`).
pub const MAX_POINTS_PER_SERIES: usize = 11_000;
/// How much of a query, and of the backend's error text, an error message shows.
const SHOWN_CHARS: usize = 200;

/// How the backend wants to be authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BackendAuth {
    #[default]
    None,
    /// `Authorization: Bearer <the file's content, trimmed>`, read every round so a
    /// rotated token is picked up.
    BearerTokenFile(PathBuf),
    /// `Authorization: Basic`, the password read from a file every round.
    Basic {
        username: String,
        password_file: PathBuf,
    },
}

/// One series of an instant vector: its labels (sorted by name, `__name__` included
/// when the backend kept it) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// An instant vector as read, with the series left out for their size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vector {
    pub samples: Vec<VectorSample>,
    pub left_out: usize,
}

/// One series of a range answer: its labels (sorted by name) and its points,
/// ascending, as (Unix milliseconds, value).
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSeries {
    pub labels: Vec<(String, String)>,
    pub points: Vec<(i64, f64)>,
}

/// A range answer as read, with the series left out for their size.
#[derive(Debug, Default, PartialEq)]
pub struct Matrix {
    pub series: Vec<MatrixSeries>,
    pub left_out: usize,
}

/// Why a query failed; shown with the query it was.
#[derive(Debug, thiserror::Error)]
#[error("query {query}: {failure}")]
pub struct QueryError {
    /// The query, cut to [`SHOWN_CHARS`] characters.
    pub query: String,
    pub failure: QueryFailure,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryFailure {
    #[error("reading {path}: {error}")]
    Secret { path: String, error: std::io::Error },
    #[error("connecting: {0}")]
    Connect(#[source] ureq::Error),
    /// The handshake failed: a certificate not trusted, or refused by the backend.
    #[error("TLS: {0}")]
    Tls(#[source] ureq::Error),
    #[error("timed out: {0}")]
    Timeout(#[source] ureq::Error),
    #[error("not an HTTP answer: {0}")]
    Protocol(#[source] ureq::Error),
    #[error("HTTP {status}: {message}")]
    HttpStatus {
        status: ureq::http::StatusCode,
        message: String,
    },
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("reading the answer: {0}")]
    Read(#[source] ureq::Error),
    #[error("the answer is not the query API's JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the backend answered {status}: {message}")]
    Backend { status: String, message: String },
    #[error("expected an instant vector, got {0:?}")]
    NotAVector(String),
    #[error("expected a range vector (matrix), got {0:?}")]
    NotAMatrix(String),
    #[error("more than {limit} series")]
    TooManySeries { limit: usize },
    #[error("a value {0:?} is not a number")]
    BadValue(String),
    #[error("a series with more than {limit} points")]
    TooManyPoints { limit: usize },
    #[error("the query's thread panicked")]
    Lost,
}

impl QueryFailure {
    /// The kind, for the master's own metrics (`edge_master_scrape_*`).
    pub fn kind(&self) -> ScrapeFailure {
        match self {
            QueryFailure::Connect(_) | QueryFailure::Tls(_) | QueryFailure::Secret { .. } => {
                ScrapeFailure::Connect
            }
            QueryFailure::Timeout(_) => ScrapeFailure::Timeout,
            QueryFailure::Protocol(_) => ScrapeFailure::Protocol,
            QueryFailure::HttpStatus { .. } => ScrapeFailure::HttpStatus,
            QueryFailure::TooLarge { .. } => ScrapeFailure::TooLarge,
            QueryFailure::Read(_) => ScrapeFailure::Read,
            QueryFailure::Json(_)
            | QueryFailure::Backend { .. }
            | QueryFailure::NotAVector(_)
            | QueryFailure::NotAMatrix(_)
            | QueryFailure::TooManySeries { .. }
            | QueryFailure::TooManyPoints { .. }
            | QueryFailure::BadValue(_)
            | QueryFailure::Lost => ScrapeFailure::Parse,
        }
    }

    fn of_request(error: ureq::Error) -> QueryFailure {
        match error {
            ureq::Error::Timeout(_) => QueryFailure::Timeout(error),
            _ if is_tls(&error) => QueryFailure::Tls(error),
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Io(_) => {
                QueryFailure::Connect(error)
            }
            _ => QueryFailure::Protocol(error),
        }
    }

    fn of_body(error: ureq::Error) -> QueryFailure {
        match error {
            ureq::Error::Timeout(_) => QueryFailure::Timeout(error),
            _ if is_tls(&error) => QueryFailure::Tls(error),
            ureq::Error::BodyExceedsLimit(limit) => QueryFailure::TooLarge { limit },
            _ => QueryFailure::Read(error),
        }
    }
}

/// Whether `error` is rustls' (ureq passes a handshake's failure on as an I/O error
/// holding it; a client certificate the backend refuses shows when reading, in TLS 1.3).
fn is_tls(error: &ureq::Error) -> bool {
    match error {
        ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_) => true,
        ureq::Error::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>()),
        _ => false,
    }
}

/// A backend's query API: its base URL (`http://prometheus:9090`,
/// `https://vmselect:8481/select/0/prometheus`), credentials, TLS settings and a
/// timeout per query.
#[derive(Clone)]
pub struct QueryApi {
    query_url: String,
    range_url: String,
    auth: BackendAuth,
    agent: ureq::Agent,
}

impl QueryApi {
    pub fn new(base_url: &str, auth: BackendAuth, tls: &BackendTls, timeout: Duration) -> QueryApi {
        let agent = ureq::Agent::config_builder()
            .tls_config(tls.tls_config())
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let base = base_url.trim_end_matches('/');
        QueryApi {
            query_url: format!("{base}/api/v1/query"),
            range_url: format!("{base}/api/v1/query_range"),
            auth,
            agent,
        }
    }

    pub fn query_url(&self) -> &str {
        &self.query_url
    }

    /// The instant vector `expr` gives at `time`.
    pub fn instant(&self, expr: &str, time: DateTime<Utc>) -> Result<Vector, QueryError> {
        self.ask(expr, time).map_err(|failure| QueryError {
            query: expr.chars().take(SHOWN_CHARS).collect(),
            failure,
        })
    }

    /// The range vector `expr` gives from `start` to `end` every `step`.
    pub fn range(
        &self,
        expr: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Result<Matrix, QueryError> {
        let (start, end) = (unix_seconds_text(start), unix_seconds_text(end));
        let step = format!("{}", step.as_secs().max(1));
        self.post(
            &self.range_url,
            &[
                ("query", expr),
                ("start", &start),
                ("end", &end),
                ("step", &step),
            ],
            parse_matrix_answer,
        )
        .map_err(|failure| QueryError {
            query: expr.chars().take(SHOWN_CHARS).collect(),
            failure,
        })
    }

    fn ask(&self, expr: &str, time: DateTime<Utc>) -> Result<Vector, QueryFailure> {
        let time = unix_seconds_text(time);
        self.post(
            &self.query_url,
            &[("query", expr), ("time", time.as_str())],
            parse_answer,
        )
    }

    /// Posts `form` to `url` and reads the answer with `parse`.
    fn post<T>(
        &self,
        url: &str,
        form: &[(&str, &str)],
        parse: fn(&[u8]) -> Result<T, QueryFailure>,
    ) -> Result<T, QueryFailure> {
        let mut request = self.agent.post(url);
        if let Some(value) = authorization(&self.auth)? {
            request = request.header("Authorization", value);
        }
        let asked = Instant::now();
        let mut response = request
            .send_form(form.iter().copied())
            .map_err(QueryFailure::of_request)?;
        let status = response.status();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(QueryFailure::of_body)?;
        let answered = Instant::now();
        let parsed = parse(&body);
        // Where a round's time goes: the backend (and the transfer) or our decoding.
        tracing::debug!(
            query = %form.first().map_or("", |(_, q)| q).chars().take(60).collect::<String>(),
            bytes = body.len(),
            backend_seconds = (answered - asked).as_secs_f64(),
            decode_seconds = answered.elapsed().as_secs_f64(),
            "PromQL answer"
        );
        // The API answers errors with JSON too (400 for a bad query, 422, 503); its
        // `error` says more than the status.
        match parsed {
            Err(QueryFailure::Json(_)) if !status.is_success() => Err(QueryFailure::HttpStatus {
                status,
                message: shown(&String::from_utf8_lossy(&body)),
            }),
            Ok(_) if !status.is_success() => Err(QueryFailure::HttpStatus {
                status,
                message: String::new(),
            }),
            other => other,
        }
    }
}

/// The `Authorization` header `auth` asks for, its secret read now.
fn authorization(auth: &BackendAuth) -> Result<Option<String>, QueryFailure> {
    Ok(match auth {
        BackendAuth::None => None,
        BackendAuth::BearerTokenFile(path) => Some(format!("Bearer {}", read_secret(path)?)),
        BackendAuth::Basic {
            username,
            password_file,
        } => {
            let password = read_secret(password_file)?;
            Some(format!(
                "Basic {}",
                base64(format!("{username}:{password}").as_bytes())
            ))
        }
    })
}

fn read_secret(path: &std::path::Path) -> Result<String, QueryFailure> {
    use std::io::Read;
    let failure = |error| QueryFailure::Secret {
        path: path.display().to_string(),
        error,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(failure)?
        .take(MAX_SECRET_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(failure)?;
    Ok(text.trim().to_owned())
}

/// Standard base64 with padding (RFC 4648), for the basic-auth header.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Unix seconds with milliseconds, as the API's `time` parameter takes them.
pub fn unix_seconds_text(time: DateTime<Utc>) -> String {
    let millis = time.timestamp_millis();
    format!("{}.{:03}", millis.div_euclid(1000), millis.rem_euclid(1000))
}

fn shown(text: &str) -> String {
    text.chars().take(SHOWN_CHARS).collect()
}

#[derive(Deserialize)]
struct Answer<S> {
    status: String,
    #[serde(default = "Option::default")]
    data: Option<AnswerData<S>>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct AnswerData<S> {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default = "Vec::new")]
    result: Vec<S>,
}

#[derive(Deserialize)]
struct AnswerSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// `[unix seconds, "value"]`.
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatrixAnswerSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// `[[unix seconds, "value"], …]`.
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// The data of a successful answer, or the backend's error.
fn answer_data<S: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<Option<AnswerData<S>>, QueryFailure> {
    let answer: Answer<S> = serde_json::from_slice(body)?;
    if answer.status != "success" {
        return Err(QueryFailure::Backend {
            status: shown(&format!(
                "{} ({})",
                answer.status,
                answer.error_type.as_deref().unwrap_or("no errorType")
            )),
            message: shown(answer.error.as_deref().unwrap_or("")),
        });
    }
    Ok(answer.data)
}

fn oversized(metric: &BTreeMap<String, String>) -> bool {
    metric.len() > MAX_LABELS_PER_SERIES
        || metric
            .iter()
            .any(|(name, value)| name.len() > MAX_LABEL_BYTES || value.len() > MAX_LABEL_BYTES)
}

/// Reads a `query_range` answer: a matrix, or the backend's error.
pub fn parse_matrix_answer(body: &[u8]) -> Result<Matrix, QueryFailure> {
    let data = answer_data::<MatrixAnswerSeries>(body)?
        .ok_or_else(|| QueryFailure::NotAMatrix("no data".into()))?;
    if data.result_type != "matrix" {
        return Err(QueryFailure::NotAMatrix(shown(&data.result_type)));
    }
    if data.result.len() > MAX_SERIES_PER_ANSWER {
        return Err(QueryFailure::TooManySeries {
            limit: MAX_SERIES_PER_ANSWER,
        });
    }
    let mut matrix = Matrix {
        series: Vec::with_capacity(data.result.len()),
        left_out: 0,
    };
    for series in data.result {
        if oversized(&series.metric) {
            matrix.left_out += 1;
            continue;
        }
        if series.values.len() > MAX_POINTS_PER_SERIES {
            return Err(QueryFailure::TooManyPoints {
                limit: MAX_POINTS_PER_SERIES,
            });
        }
        let points = series
            .values
            .into_iter()
            .map(|(seconds, text)| {
                let value =
                    parse_value(&text).ok_or_else(|| QueryFailure::BadValue(shown(&text)))?;
                Ok(((seconds * 1000.0).round() as i64, value))
            })
            .collect::<Result<_, QueryFailure>>()?;
        matrix.series.push(MatrixSeries {
            labels: series.metric.into_iter().collect(),
            points,
        });
    }
    Ok(matrix)
}

/// Reads a query API answer: an instant vector, or the backend's error.
pub fn parse_answer(body: &[u8]) -> Result<Vector, QueryFailure> {
    let data = answer_data::<AnswerSeries>(body)?
        .ok_or_else(|| QueryFailure::NotAVector("no data".into()))?;
    if data.result_type != "vector" {
        return Err(QueryFailure::NotAVector(shown(&data.result_type)));
    }
    if data.result.len() > MAX_SERIES_PER_ANSWER {
        return Err(QueryFailure::TooManySeries {
            limit: MAX_SERIES_PER_ANSWER,
        });
    }
    let mut vector = Vector {
        samples: Vec::with_capacity(data.result.len()),
        left_out: 0,
    };
    for series in data.result {
        if oversized(&series.metric) {
            vector.left_out += 1;
            continue;
        }
        let text = series.value.1;
        let value = parse_value(&text).ok_or_else(|| QueryFailure::BadValue(shown(&text)))?;
        vector.samples.push(VectorSample {
            labels: series.metric.into_iter().collect(),
            value,
        });
    }
    Ok(vector)
}

/// A sample value as the API writes it: a decimal, `NaN`, `+Inf` or `-Inf`.
fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from Prometheus 2.42 (`{__name__=~"node_load1|edge_node_info"}`).
    const PROMETHEUS: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"edge_node_info","instance":"127.0.0.1:19100","job":"edge-exporter","node_name":"edge-a"},"value":[1796317852,"1"]},{"metric":{"__name__":"node_load1","instance":"127.0.0.1:19100","job":"edge-exporter"},"value":[1796317852,"3"]}]}}"#;

    #[test]
    fn reads_an_instant_vector() {
        let vector = parse_answer(PROMETHEUS.as_bytes()).unwrap();
        assert_eq!(vector.left_out, 0);
        assert_eq!(vector.samples.len(), 2);
        assert_eq!(
            vector.samples[0].labels,
            [
                ("__name__".to_owned(), "edge_node_info".to_owned()),
                ("instance".to_owned(), "127.0.0.1:19100".to_owned()),
                ("job".to_owned(), "edge-exporter".to_owned()),
                ("node_name".to_owned(), "edge-a".to_owned()),
            ]
        );
        assert_eq!(vector.samples[1].value, 3.0);
    }

    #[test]
    fn special_values_and_oversized_series() {
        let long = "x".repeat(MAX_LABEL_BYTES + 1);
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[
            {{"metric":{{"a":"1"}},"value":[1,"NaN"]}},
            {{"metric":{{"a":"2"}},"value":[1,"+Inf"]}},
            {{"metric":{{"a":"{long}"}},"value":[1,"1"]}},
            {{"metric":{{"a":"3"}},"value":[1,"-1.5e3"]}}]}}}}"#
        );
        let vector = parse_answer(body.as_bytes()).unwrap();
        assert_eq!(vector.left_out, 1);
        let values: Vec<f64> = vector.samples.iter().map(|s| s.value).collect();
        assert!(values[0].is_nan());
        assert_eq!(values[1..], [f64::INFINITY, -1500.0]);
    }

    #[test]
    fn errors_say_what_the_backend_said() {
        let error = parse_answer(
            br#"{"status":"error","errorType":"bad_data","error":"1:6: parse error: unexpected end of input"}"#,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the backend answered error (bad_data): 1:6: parse error: unexpected end of input"
        );
        assert_eq!(error.kind(), ScrapeFailure::Parse);
        let matrix =
            parse_answer(br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#)
                .unwrap_err();
        assert_eq!(
            matrix.to_string(),
            "expected an instant vector, got \"matrix\""
        );
        let bad = parse_answer(
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"one"]}]}}"#,
        )
        .unwrap_err();
        assert_eq!(bad.to_string(), "a value \"one\" is not a number");
        assert!(matches!(
            parse_answer(b"<html>"),
            Err(QueryFailure::Json(_))
        ));
    }

    #[test]
    fn basic_auth_and_time_text() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
        let time = DateTime::from_timestamp_millis(1_796_317_852_005).unwrap();
        assert_eq!(unix_seconds_text(time), "1796317852.005");
    }

    #[test]
    fn an_unreachable_backend_names_the_query() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let api = QueryApi::new(
            &url,
            BackendAuth::None,
            &BackendTls::default(),
            Duration::from_secs(5),
        );
        let error = api.instant("up", Utc::now()).unwrap_err();
        assert!(
            error.to_string().starts_with("query up: connecting"),
            "{error}"
        );
        assert_eq!(error.failure.kind(), ScrapeFailure::Connect);
        let secret = QueryApi::new(
            &url,
            BackendAuth::BearerTokenFile("/nonexistent/token".into()),
            &BackendTls::default(),
            Duration::from_secs(5),
        );
        let error = secret.instant("up", Utc::now()).unwrap_err().to_string();
        assert!(
            error.starts_with("query up: reading /nonexistent/token:"),
            "{error}"
        );
    }
}
