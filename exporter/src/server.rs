//! The HTTP side: `/metrics` (or `--web.telemetry-path`), `/` and `/healthz`.
//!
//! A scrape runs on a blocking-pool thread, never on the runtime's one thread: any file
//! system call can block (a dead network mount, a FIFO where a file was expected), and
//! `/healthz` must answer whatever a scrape is waiting for. The calls that can block
//! for long have deadlines of their own (statfs: `--collector.filesystem.mount-timeout`,
//! the textfile directories: `--collector.textfile.timeout`), so a scrape ends; the
//! hand-over costs two context switches per scrape. Scrapes are serialised by the
//! scraper's lock (collectors keep state between scrapes, e.g. CPU counters).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cli::{parse_listen_address, ListenAddress, MetricsEndpoint};
use crate::collector::Scraper;
use crate::scrape_filter::ScrapeFilter;
use edge_common::exposition::write::{negotiate, render};
use edge_common::exposition::{MetricKind, MetricSet};
use edge_server::compression::{accepts_gzip, gzip};

pub struct AppState {
    scraper: Mutex<Scraper>,
    /// The enabled collectors' names and every collector's, for `collect[]`.
    collector_names: Vec<&'static str>,
    known_collectors: Vec<&'static str>,
    endpoint: MetricsEndpoint,
    /// `None` without a limit.
    in_flight_limit: Option<Semaphore>,
    handler_metrics: HandlerMetrics,
    /// Size of the last body, to allocate the next one once.
    last_body_len: AtomicUsize,
}

/// client_golang's promhttp handler families, which node_exporter serves with its own
/// metrics: requests in flight and requests answered, by status code.
#[derive(Default)]
struct HandlerMetrics {
    in_flight: AtomicUsize,
    /// Answers with 200, 500 and 503: the codes promhttp counts from the start.
    answered: [AtomicU64; 3],
    /// Bodies that could not be encoded (compressed); gathering never fails here: a
    /// failing collector reports `node_scrape_collector_success 0` instead.
    encoding_errors: AtomicU64,
}

const COUNTED_CODES: [StatusCode; 3] = [
    StatusCode::OK,
    StatusCode::INTERNAL_SERVER_ERROR,
    StatusCode::SERVICE_UNAVAILABLE,
];

impl HandlerMetrics {
    fn count(&self, code: StatusCode) {
        if let Some(i) = COUNTED_CODES.iter().position(|c| *c == code) {
            self.answered[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn record(&self, out: &mut MetricSet) {
        out.gauge(
            "promhttp_metric_handler_requests_in_flight",
            "Current number of scrapes being served.",
            &[],
            self.in_flight.load(Ordering::Relaxed) as f64,
        );
        let family = out.family(
            "promhttp_metric_handler_requests_total",
            "Total number of scrapes by HTTP status code.",
            MetricKind::Counter,
        );
        for (code, count) in COUNTED_CODES.iter().zip(&self.answered) {
            family.push(
                &[("code", code.as_str())],
                count.load(Ordering::Relaxed) as f64,
            );
        }
        let errors = out.family(
            "promhttp_metric_handler_errors_total",
            "Total number of internal errors encountered by the promhttp metric handler.",
            MetricKind::Counter,
        );
        errors.push(
            &[("cause", "encoding")],
            self.encoding_errors.load(Ordering::Relaxed) as f64,
        );
        errors.push(&[("cause", "gathering")], 0.0);
    }
}

/// Counts a request in flight until it is dropped: also when the client goes away and
/// the handler's future is dropped half-way.
struct InFlight(Arc<AppState>);

impl InFlight {
    fn enter(state: &Arc<AppState>) -> Self {
        state
            .handler_metrics
            .in_flight
            .fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(state))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .handler_metrics
            .in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

pub fn router(scraper: Scraper, endpoint: &MetricsEndpoint) -> Router {
    let state = Arc::new(AppState {
        collector_names: scraper.collector_names(),
        known_collectors: crate::collectors::ALL
            .iter()
            .map(|spec| spec.name)
            .collect(),
        scraper: Mutex::new(scraper),
        endpoint: endpoint.clone(),
        in_flight_limit: (endpoint.max_requests > 0).then(|| Semaphore::new(endpoint.max_requests)),
        handler_metrics: HandlerMetrics::default(),
        last_body_len: AtomicUsize::new(0),
    });
    Router::new()
        .route("/", get(landing))
        .route("/healthz", get(|| async { "ok\n" }))
        .route(&endpoint.path, get(metrics))
        .with_state(state)
}

async fn landing(State(state): State<Arc<AppState>>) -> Html<String> {
    Html(format!(
        "<html><head><title>Edge Exporter</title></head><body><h1>Edge Exporter</h1>\
         <p><a href=\"{0}\">Metrics</a> · <a href=\"/healthz\">Health</a></p></body></html>\n",
        state.endpoint.path
    ))
}

async fn metrics(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let filter = match ScrapeFilter::from_query(
        query.as_deref(),
        &state.collector_names,
        &state.known_collectors,
    ) {
        Ok(filter) => filter,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    };
    // promhttp's MaxRequestsInFlight: beyond the limit, 503 at once rather than a queue.
    let _permit = match &state.in_flight_limit {
        Some(limit) => match limit.try_acquire() {
            Ok(permit) => Some(permit),
            Err(_) => {
                state.handler_metrics.count(StatusCode::SERVICE_UNAVAILABLE);
                let message = format!(
                    "Limit of concurrent requests reached ({}), try again later.\n",
                    state.endpoint.max_requests
                );
                return (StatusCode::SERVICE_UNAVAILABLE, message).into_response();
            }
        },
        None => None,
    };
    let format = negotiate(
        headers
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok()),
    );
    let compress = accepts_gzip(
        headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|value| value.to_str().ok()),
    );
    let _in_flight = InFlight::enter(&state);
    let scraping = Arc::clone(&state);
    let body = tokio::task::spawn_blocking(move || {
        let mut set = scraping
            .scraper
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .scrape_filtered(&filter);
        if scraping.endpoint.exporter_metrics {
            let mut handler = MetricSet::new();
            scraping.handler_metrics.record(&mut handler);
            set.append(handler);
        }
        let mut body = String::with_capacity(scraping.last_body_len.load(Ordering::Relaxed) + 4096);
        render(&set, format, &mut body);
        scraping.last_body_len.store(body.len(), Ordering::Relaxed);
        if compress {
            gzip(body.as_bytes())
        } else {
            Ok(body.into_bytes())
        }
    })
    .await;
    let response = match body {
        Ok(Ok(bytes)) => {
            let mut response =
                ([(header::CONTENT_TYPE, format.content_type())], bytes).into_response();
            if compress {
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            }
            response
        }
        Ok(Err(error)) => {
            state
                .handler_metrics
                .encoding_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(%error, "compressing the scrape failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "scrape failed\n").into_response()
        }
        Err(error) => {
            tracing::error!(%error, "the scrape failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "scrape failed\n").into_response()
        }
    };
    state.handler_metrics.count(response.status());
    response
}

/// Binds `--web.listen-address`. `:port` listens on every IPv6 and IPv4 address,
/// falling back to IPv4 alone where IPv6 is disabled.
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    let parsed = parse_listen_address(address)
        .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidInput, m))?;
    match parsed {
        ListenAddress::AnyHost(port) => {
            match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
                Ok(listener) => Ok(listener),
                Err(_) => TcpListener::bind(SocketAddr::from(([0u8; 4], port))).await,
            }
        }
        ListenAddress::Host(host_port) => TcpListener::bind(host_port.as_str()).await,
    }
}

/// Serves until SIGTERM or Ctrl-C, with edge-server's limits, timeouts, TLS and
/// basic auth.
pub async fn serve(
    listeners: Vec<TcpListener>,
    app: Router,
    options: edge_server::ServerOptions,
) -> Result<(), edge_server::ServeError> {
    edge_server::serve_many(listeners, app, options, edge_server::shutdown_signal()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::Collector;
    use crate::error::CollectError;
    use crate::sources::Sources;
    use axum::body::Body;
    use axum::http::Request;
    use std::sync::mpsc;
    use tower::ServiceExt;

    /// A collector that says when it has started and then waits to be released.
    struct Gate {
        entered: mpsc::Sender<()>,
        release: mpsc::Receiver<()>,
    }

    impl Collector for Gate {
        fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
            let _ = self.entered.send(());
            let _ = self.release.recv();
            out.gauge("gate_open", "Released.", &[], 1.0);
            Ok(())
        }
    }

    fn endpoint(max_requests: usize) -> MetricsEndpoint {
        MetricsEndpoint {
            path: "/metrics".into(),
            max_requests,
            exporter_metrics: true,
        }
    }

    async fn get(
        app: &Router,
        uri: &str,
        encoding: Option<&str>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = Request::get(uri);
        if let Some(encoding) = encoding {
            request = request.header(header::ACCEPT_ENCODING, encoding);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        (status, headers, body.to_vec())
    }

    #[tokio::test]
    async fn beyond_max_requests_a_scrape_gets_503_at_once() {
        let (entered_tx, entered) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let gate = Gate {
            entered: entered_tx,
            release: release_rx,
        };
        let app = router(
            Scraper::new(vec![("gate", Box::new(gate))], MetricSet::new()),
            &endpoint(1),
        );
        let first = tokio::spawn({
            let app = app.clone();
            async move { get(&app, "/metrics", None).await }
        });
        // Wait (off the runtime's thread) until the first scrape is inside the collector.
        tokio::task::spawn_blocking(move || entered.recv().unwrap())
            .await
            .unwrap();
        let (status, _, body) = get(&app, "/metrics", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "Limit of concurrent requests reached (1), try again later.\n"
        );
        release.send(()).unwrap();
        let (status, _, body) = first.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("gate_open 1\n"), "{text}");
        assert!(
            text.contains("promhttp_metric_handler_requests_in_flight 1\n"),
            "{text}"
        );
        assert!(
            text.contains("promhttp_metric_handler_requests_total{code=\"503\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("promhttp_metric_handler_requests_total{code=\"200\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("promhttp_metric_handler_errors_total{cause=\"encoding\"} 0\n"),
            "{text}"
        );
        // The next scrape counts the first one's 200.
        release.send(()).unwrap();
        let (_, _, body) = get(&app, "/metrics", None).await;
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.contains("promhttp_metric_handler_requests_total{code=\"200\"} 1\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn gzip_collect_and_exclude() {
        let (entered, _keep) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        for _ in 0..8 {
            release.send(()).unwrap();
        }
        let gate = Gate {
            entered,
            release: release_rx,
        };
        struct Load;
        impl Collector for Load {
            fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
                out.gauge("node_load1", "1m load average.", &[], 0.5);
                Ok(())
            }
        }
        let scraper = Scraper::new(
            vec![("gate", Box::new(gate)), ("loadavg", Box::new(Load))],
            MetricSet::new(),
        );
        let app = router(
            scraper,
            &MetricsEndpoint {
                exporter_metrics: false,
                ..endpoint(0)
            },
        );

        let (status, headers, body) = get(&app, "/metrics", Some("gzip")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers.get(header::CONTENT_ENCODING).unwrap(), "gzip");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
            .unwrap();
        assert!(
            text.contains("node_load1 0.5\n") && text.contains("gate_open 1\n"),
            "{text}"
        );
        assert!(
            !text.contains("promhttp_"),
            "exporter metrics are off: {text}"
        );

        let (_, headers, body) =
            get(&app, "/metrics?collect%5B%5D=loadavg", Some("identity")).await;
        assert!(headers.get(header::CONTENT_ENCODING).is_none());
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.contains("node_load1 0.5\n") && !text.contains("gate_open"),
            "{text}"
        );
        assert!(text.contains("node_scrape_collector_success{collector=\"loadavg\"} 1\n"));
        assert!(!text.contains("collector=\"gate\""), "{text}");

        let (_, _, body) = get(&app, "/metrics?exclude[]=loadavg", None).await;
        let text = String::from_utf8(body).unwrap();
        assert!(
            !text.contains("node_load1") && text.contains("gate_open 1\n"),
            "{text}"
        );

        let (status, _, body) = get(&app, "/metrics?collect[]=loadavg&exclude[]=gate", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            b"Combined collect and exclude queries are not allowed.\n"
        );
        let (status, _, body) = get(&app, "/metrics?collect[]=nosuch", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            b"Couldn't create filtered metrics handler: missing collector: nosuch\n"
        );
    }
}
