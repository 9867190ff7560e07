//! The router end to end, through `tower::ServiceExt::oneshot`, on an in-memory fake
//! store (and once on the real SQLite store).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;
use crate::model::{
    CpuMetrics, DiskMetrics, MemoryMetrics, MetricsDataPoint, NodeMetricsSnapshot,
    TemperatureMetrics,
};
use crate::own_metrics::{OwnMetrics, CONTENT_TYPE};
use crate::store::{PushRules, StoreError};

/// A SQLite failure as the real store reports it.
fn sqlite_error(operation: &'static str, code: std::ffi::c_int, message: &str) -> StoreError {
    StoreError::Sql {
        operation,
        source: rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            Some(message.to_owned()),
        ),
    }
}

#[derive(Default)]
struct FakeData {
    latest: BTreeMap<(String, String), LatestSnapshot>,
    points: Vec<(String, MetricsDataPoint)>,
    /// (cluster, node, column, time, value) of the stored series.
    series: Vec<(String, String, &'static str, DateTime<Utc>, f64)>,
    unwritable: bool,
    broken: bool,
}

impl FakeData {
    fn fail_if_broken(&self) -> Result<(), StoreError> {
        if self.broken {
            return Err(sqlite_error(
                "reading",
                rusqlite::ffi::SQLITE_CORRUPT,
                "database disk image is malformed",
            ));
        }
        Ok(())
    }

    fn put(&mut self, cluster: &str, snapshot: NodeMetricsSnapshot, last_seen: DateTime<Utc>) {
        self.latest.insert(
            (cluster.to_owned(), snapshot.node_name.clone()),
            (snapshot, last_seen),
        );
    }
}

/// The store's calls on a map, behind a mutex as the real store keeps its own locks.
#[derive(Default)]
struct FakeStore(Mutex<FakeData>);

impl FakeStore {
    fn data(&self) -> std::sync::MutexGuard<'_, FakeData> {
        self.0.lock().unwrap()
    }
}

impl NodeStore for FakeStore {
    fn push(
        &self,
        cluster: &str,
        snapshot: &NodeMetricsSnapshot,
        seen: DateTime<Utc>,
        rules: &PushRules,
    ) -> Result<(), StoreError> {
        let mut data = self.data();
        data.fail_if_broken()?;
        let key = (cluster.to_owned(), snapshot.node_name.clone());
        if !data.latest.contains_key(&key) && data.latest.len() >= rules.max_nodes {
            return Err(StoreError::NodeLimit {
                node: snapshot.node_name.clone(),
                max_nodes: rules.max_nodes,
            });
        }
        data.points.push((
            cluster.to_owned(),
            MetricsDataPoint {
                timestamp: snapshot.timestamp,
                node_name: snapshot.node_name.clone(),
                cpu_usage: snapshot.cpu.usage_percent,
                ..MetricsDataPoint::default()
            },
        ));
        data.put(cluster, snapshot.clone(), seen);
        Ok(())
    }

    fn clusters(&self) -> Result<Vec<String>, StoreError> {
        let data = self.data();
        data.fail_if_broken()?;
        let clusters: BTreeSet<String> = data.latest.keys().map(|(c, _)| c.clone()).collect();
        Ok(clusters.into_iter().collect())
    }

    fn latest(&self, cluster: &str) -> Result<Vec<LatestSnapshot>, StoreError> {
        let data = self.data();
        data.fail_if_broken()?;
        Ok(data
            .latest
            .iter()
            .filter(|((c, _), _)| c == cluster)
            .map(|(_, latest)| latest.clone())
            .collect())
    }

    fn latest_node(&self, cluster: &str, node: &str) -> Result<Option<LatestSnapshot>, StoreError> {
        let data = self.data();
        data.fail_if_broken()?;
        Ok(data
            .latest
            .get(&(cluster.to_owned(), node.to_owned()))
            .cloned())
    }

    fn history(
        &self,
        cluster: &str,
        node: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MetricsDataPoint>, StoreError> {
        let data = self.data();
        data.fail_if_broken()?;
        let mut points: Vec<MetricsDataPoint> = data
            .points
            .iter()
            .filter(|(c, p)| {
                c == cluster && p.node_name == node && p.timestamp >= from && p.timestamp <= to
            })
            .map(|(_, p)| p.clone())
            .collect();
        points.sort_by_key(|p| p.timestamp);
        Ok(points)
    }

    fn series(
        &self,
        cluster: &str,
        node: &str,
        column: &'static crate::store::series::SeriesColumn,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, StoreError> {
        let data = self.data();
        data.fail_if_broken()?;
        let mut values: Vec<(DateTime<Utc>, f64)> = data
            .series
            .iter()
            .filter(|(c, n, col, t, _)| {
                c == cluster && n == node && *col == column.column && *t >= from && *t <= to
            })
            .map(|(_, _, _, t, v)| (*t, *v))
            .collect();
        values.sort_by_key(|(t, _)| *t);
        Ok(values)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.data().unwritable {
            return Err(sqlite_error(
                "checking the database is writable",
                rusqlite::ffi::SQLITE_READONLY,
                "attempt to write a readonly database",
            ));
        }
        Ok(())
    }
}

const CLUSTER: &str = "edge";

/// Scrapes every 10 s (offline after 30 s), 30 days of retention (hours up to 720).
fn settings() -> ApiSettings {
    ApiSettings::new(
        CLUSTER.to_owned(),
        Duration::from_secs(30 * 24 * 3600),
        Duration::from_secs(10),
    )
}

struct Api {
    router: Router,
    store: Arc<FakeStore>,
    own_metrics: Arc<OwnMetrics>,
}

impl Api {
    fn new(settings: ApiSettings) -> Api {
        let store = Arc::new(FakeStore::default());
        let own_metrics = Arc::new(OwnMetrics::new());
        let shared: SharedStore = store.clone();
        Api {
            router: router(shared, settings, Arc::clone(&own_metrics)),
            store,
            own_metrics,
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, FakeData> {
        self.store.data()
    }

    async fn get(&self, uri: &str) -> Reply {
        self.call(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn push(&self, body: impl Into<Body>, token: Option<&str>) -> Reply {
        let mut request =
            Request::post("/metrics/node").header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.call(request.body(body.into()).unwrap()).await
    }

    async fn call(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
    json: Value,
}

impl Reply {
    /// The `{"error": "…"}` body of a failure, and only that key.
    fn error(&self) -> &str {
        assert_eq!(keys(&self.json), ["error"], "body {}", self.text);
        self.json["error"].as_str().unwrap()
    }
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .map(|object| object.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    keys
}

fn sorted<'a>(keys: &[&'a str]) -> Vec<&'a str> {
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys
}

/// The v2 keys, then the additions of issue 14 (the observe blocks and nodeIP).
const SNAPSHOT_KEYS: [&str; 18] = [
    "node_name",
    "timestamp",
    "hostname",
    "os",
    "kernel",
    "uptime",
    "cpu",
    "memory",
    "disks",
    "networks",
    "temperature",
    "processes",
    "node_ip",
    "psi",
    "tcp",
    "system",
    "vmstat",
    "softnet",
];

const SUMMARY_KEYS: [&str; 19] = [
    "total_nodes",
    "online_nodes",
    "offline_nodes",
    "avg_cpu_usage",
    "avg_memory_usage",
    "avg_disk_usage",
    "max_cpu_usage",
    "max_memory_usage",
    "max_disk_usage",
    "avg_cpu_temp",
    "max_cpu_temp",
    "total_memory",
    "used_memory",
    "total_disk",
    "used_disk",
    "total_network_rx",
    "total_network_tx",
    "warning_nodes",
    "warning_node_names",
];

fn listed_node_keys() -> Vec<&'static str> {
    let mut keys = SNAPSHOT_KEYS.to_vec();
    keys.extend(["status", "last_seen"]);
    sorted(&keys)
}

fn snapshot(name: &str, cpu: f64, memory: f64, temp: f64) -> NodeMetricsSnapshot {
    NodeMetricsSnapshot {
        node_name: name.to_owned(),
        timestamp: Utc::now(),
        cpu: CpuMetrics {
            usage_percent: cpu,
            ..CpuMetrics::default()
        },
        memory: MemoryMetrics {
            usage_percent: memory,
            total: 100,
            used: memory as u64,
            ..MemoryMetrics::default()
        },
        disks: vec![DiskMetrics {
            mount_point: "/".into(),
            usage_percent: 50.0,
            ..DiskMetrics::default()
        }],
        temperature: TemperatureMetrics {
            cpu_temp: temp,
            ..TemperatureMetrics::default()
        },
        ..NodeMetricsSnapshot::default()
    }
}

#[tokio::test]
async fn the_served_cluster_lists_empty_before_its_first_snapshot() {
    let api = Api::new(settings());
    for uri in [
        "/api/v2/clusters/edge/node-metrics",
        "/api/v2/node-metrics?cluster_id=edge",
    ] {
        let reply = api.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        assert_eq!(
            reply.headers[header::CONTENT_TYPE],
            "application/json",
            "{uri}"
        );
        assert_eq!(keys(&reply.json), ["nodes", "summary"]);
        assert_eq!(reply.json["nodes"], json!([]));
        assert_eq!(keys(&reply.json["summary"]), sorted(&SUMMARY_KEYS));
        assert_eq!(reply.json["summary"]["warning_node_names"], json!([]));
        assert_eq!(reply.json["summary"]["total_nodes"], 0);
    }
}

#[tokio::test]
async fn nodes_are_listed_by_name_with_status_and_last_seen() {
    let api = Api::new(settings());
    let now = Utc::now();
    api.store()
        .put(CLUSTER, snapshot("b", 10.0, 20.0, 40.0), now);
    api.store()
        .put(CLUSTER, snapshot("a", 30.0, 40.0, 50.0), now);
    api.store().put("other", snapshot("z", 1.0, 1.0, 1.0), now);

    let new = api.get("/api/v2/clusters/edge/node-metrics").await;
    let old = api.get("/api/v2/node-metrics?cluster_id=edge").await;
    assert_eq!(new.status, StatusCode::OK);
    assert_eq!(new.json, old.json);
    let nodes = new.json["nodes"].as_array().unwrap();
    let names: Vec<&str> = nodes
        .iter()
        .map(|n| n["node_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    for node in nodes {
        assert_eq!(keys(node), listed_node_keys());
        assert_eq!(node["status"], "online");
        assert_eq!(node["processes"], json!([]));
        assert_eq!(node["networks"], json!([]));
        assert_eq!(node["cpu"]["per_core"], json!([]));
        assert_eq!(node["temperature"]["sensors"], json!([]));
        let last_seen: DateTime<Utc> = node["last_seen"].as_str().unwrap().parse().unwrap();
        assert_eq!(last_seen, now);
    }
    let summary = &new.json["summary"];
    assert_eq!(summary["total_nodes"], 2);
    assert_eq!(summary["online_nodes"], 2);
    assert_eq!(summary["avg_cpu_usage"], 20.0);
    assert_eq!(summary["max_cpu_temp"], 50.0);

    // Another cluster the store knows.
    let other = api.get("/api/v2/clusters/other/node-metrics").await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.json["nodes"][0]["node_name"], "z");
}

#[tokio::test]
async fn one_node_is_its_snapshot_with_status_and_last_seen() {
    let api = Api::new(settings());
    api.store()
        .put(CLUSTER, snapshot("n1", 10.0, 20.0, 40.0), Utc::now());
    let new = api.get("/api/v2/clusters/edge/node-metrics/n1").await;
    let old = api.get("/api/v2/node-metrics/n1?cluster_id=edge").await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.text);
    assert_eq!(new.json, old.json);
    assert_eq!(keys(&new.json), listed_node_keys());
    assert_eq!(new.json["node_name"], "n1");
    assert_eq!(new.json["status"], "online");
    assert_eq!(new.json["cpu"]["usage_percent"], 10.0);
}

#[tokio::test]
async fn unknown_clusters_and_nodes_are_404_json() {
    let api = Api::new(settings());
    api.store()
        .put(CLUSTER, snapshot("n1", 10.0, 20.0, 40.0), Utc::now());
    for (uri, says) in [
        ("/api/v2/clusters/nope/node-metrics", "cluster \"nope\""),
        ("/api/v2/clusters/nope/node-metrics/n1", "cluster \"nope\""),
        (
            "/api/v2/node-metrics/n1?cluster_id=nope",
            "cluster \"nope\"",
        ),
        ("/api/v2/clusters/edge/node-metrics/n2", "node \"n2\""),
        ("/api/v2/node-metrics/n2?cluster_id=edge", "node \"n2\""),
        (
            "/api/v2/clusters/edge/node-metrics/n2/history",
            "node \"n2\"",
        ),
        (
            "/api/v2/node-metrics/n2/history?cluster_id=edge&hours=1",
            "node \"n2\"",
        ),
        (
            "/api/v2/clusters/nope/node-metrics/n1/history",
            "cluster \"nope\"",
        ),
        ("/api/v3/anything", "no route"),
        ("/system", "no route"),
    ] {
        let reply = api.get(uri).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}: {}", reply.text);
        assert!(reply.error().contains(says), "{uri}: {}", reply.text);
    }
}

#[tokio::test]
async fn the_query_family_lists_an_unknown_cluster_as_empty() {
    // atlhyper answers `?cluster_id=<unknown>` with 200, no nodes and a zero summary;
    // its web client asks for a built-in default id before it knows ours.
    let api = Api::new(settings());
    api.store()
        .put(CLUSTER, snapshot("n1", 10.0, 20.0, 40.0), Utc::now());
    let reply = api.get("/api/v2/node-metrics?cluster_id=nope").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["nodes"], json!([]));
    let zero = serde_json::to_value(crate::model::ClusterMetricsSummary::default()).unwrap();
    assert_eq!(reply.json["summary"], zero);
    assert!(!reply.text.contains("-0.0"), "{}", reply.text);
    // The cluster-scoped family keeps its 404.
    let scoped = api.get("/api/v2/clusters/nope/node-metrics").await;
    assert_eq!(scoped.status, StatusCode::NOT_FOUND);
    assert_eq!(scoped.error(), "cluster \"nope\" not found");
}

#[tokio::test]
async fn clusters_lists_every_cluster_in_both_key_generations() {
    let api = Api::new(settings());
    let now = Utc::now();
    let seen = now - TimeDelta::seconds(5);
    {
        let mut store = api.store();
        store.put(CLUSTER, snapshot("a", 10.0, 20.0, 40.0), now);
        store.put(CLUSTER, snapshot("b", 10.0, 20.0, 40.0), seen);
        store.put(
            CLUSTER,
            snapshot("gone", 1.0, 1.0, 1.0),
            now - TimeDelta::hours(1),
        );
        store.put(
            "other",
            snapshot("z", 1.0, 1.0, 1.0),
            now - TimeDelta::hours(2),
        );
    }
    let reply = api.get("/api/v2/clusters").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(keys(&reply.json), ["clusters", "total"]);
    assert_eq!(reply.json["total"], 2);
    let clusters = reply.json["clusters"].as_array().unwrap();
    let iso = |t: DateTime<Utc>| serde_json::to_value(t).unwrap();
    assert_eq!(
        clusters[0],
        json!({
            "cluster_id": "edge", "status": "online", "last_seen": iso(now),
            "node_count": 3, "pod_count": 0,
            "clusterId": "edge", "lastSeen": iso(now), "nodeCount": 3, "podCount": 0,
            "otelAvailable": true,
        })
    );
    assert_eq!(clusters[1]["cluster_id"], "other");
    assert_eq!(clusters[1]["status"], "offline");
    assert_eq!(clusters[1]["nodeCount"], 1);
    // Node counts equal the lists'.
    for cluster in clusters {
        let id = cluster["cluster_id"].as_str().unwrap();
        let list = api
            .get(&format!("/api/v2/node-metrics?cluster_id={id}"))
            .await;
        assert_eq!(
            cluster["node_count"], list.json["summary"]["total_nodes"],
            "{id}"
        );
        assert_eq!(
            cluster["node_count"],
            json!(list.json["nodes"].as_array().unwrap().len())
        );
    }
}

#[tokio::test]
async fn the_served_cluster_is_listed_before_its_first_snapshot() {
    let api = Api::new(settings());
    let reply = api.get("/api/v2/clusters").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["total"], 1);
    let cluster = &reply.json["clusters"][0];
    assert_eq!(cluster["cluster_id"], "edge");
    assert_eq!(cluster["status"], "offline");
    assert_eq!(cluster["last_seen"], Value::Null);
    assert_eq!(cluster["nodeCount"], 0);
}

#[tokio::test]
async fn every_route_answers_cors_and_preflights() {
    let api = Api::new(settings());
    api.store()
        .put(CLUSTER, snapshot("n1", 10.0, 20.0, 40.0), Utc::now());
    for uri in [
        "/api/v2/clusters",
        "/api/v2/node-metrics?cluster_id=edge",
        "/api/v2/clusters/edge/node-metrics/n1",
        "/api/v2/clusters/nope/node-metrics",
    ] {
        let reply = api
            .call(
                Request::get(uri)
                    .header(header::ORIGIN, "http://127.0.0.1:3000")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(
            reply.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "*",
            "{uri}: {:?}",
            reply.headers
        );
        let preflight = api
            .call(
                Request::builder()
                    .method(Method::OPTIONS)
                    .uri(uri)
                    .header(header::ORIGIN, "http://127.0.0.1:3000")
                    .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
                    .header(
                        header::ACCESS_CONTROL_REQUEST_HEADERS,
                        "authorization,content-type",
                    )
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(preflight.status, StatusCode::OK, "{uri}");
        assert_eq!(preflight.text, "", "{uri}");
        let allowed = preflight.headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(
            allowed.contains("authorization") && allowed.contains("content-type"),
            "{uri}: {allowed}"
        );
        assert_eq!(preflight.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }
}

#[tokio::test]
async fn cors_can_be_limited_to_named_origins() {
    let mut settings = settings();
    settings.allowed_origins = AllowedOrigins::parse(["http://console.example:3000"]).unwrap();
    let api = Api::new(settings);
    let ask = |origin: &'static str| {
        Request::get("/api/v2/clusters")
            .header(header::ORIGIN, origin)
            .body(Body::empty())
            .unwrap()
    };
    let allowed = api.call(ask("http://console.example:3000")).await;
    assert_eq!(
        allowed.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://console.example:3000"
    );
    let other = api.call(ask("http://evil.example")).await;
    assert!(other
        .headers
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());
}

#[tokio::test]
async fn history_has_the_window_and_the_points_in_both_shapes() {
    let api = Api::new(settings());
    let now = Utc::now();
    {
        let mut store = api.store();
        store.put(CLUSTER, snapshot("n1", 10.0, 20.0, 40.0), now);
        for (minutes_ago, cpu) in [(5, 1.0), (90, 2.0), (25 * 60, 3.0)] {
            store.points.push((
                CLUSTER.to_owned(),
                MetricsDataPoint {
                    timestamp: now - TimeDelta::minutes(minutes_ago),
                    node_name: "n1".into(),
                    cpu_usage: cpu,
                    ..MetricsDataPoint::default()
                },
            ));
        }
    }

    let new = api
        .get("/api/v2/clusters/edge/node-metrics/n1/history")
        .await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.text);
    assert_eq!(
        keys(&new.json),
        ["end", "history", "hours", "node_name", "start"]
    );
    assert_eq!(new.json["node_name"], "n1");
    assert_eq!(new.json["hours"], 24);
    let start: DateTime<Utc> = new.json["start"].as_str().unwrap().parse().unwrap();
    let end: DateTime<Utc> = new.json["end"].as_str().unwrap().parse().unwrap();
    assert_eq!(end - start, TimeDelta::hours(24));
    let cpu: Vec<f64> = new.json["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["cpu_usage"].as_f64().unwrap())
        .collect();
    assert_eq!(cpu, [2.0, 1.0], "ascending, within 24 h");

    let old = api
        .get("/api/v2/node-metrics/n1/history?cluster_id=edge&hours=48")
        .await;
    assert_eq!(old.status, StatusCode::OK, "{}", old.text);
    assert_eq!(keys(&old.json), ["data", "end", "node_name", "start"]);
    assert_eq!(old.json["data"].as_array().unwrap().len(), 3);

    let one_hour = api
        .get("/api/v2/clusters/edge/node-metrics/n1/history?hours=1")
        .await;
    assert_eq!(one_hour.json["hours"], 1);
    assert_eq!(one_hour.json["history"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn history_without_points_is_an_empty_array() {
    let api = Api::new(settings());
    api.store()
        .put(CLUSTER, snapshot("n1", 10.0, 20.0, 40.0), Utc::now());
    let new = api
        .get("/api/v2/clusters/edge/node-metrics/n1/history?hours=2")
        .await;
    assert_eq!(new.json["history"], json!([]));
    let old = api
        .get("/api/v2/node-metrics/n1/history?cluster_id=edge")
        .await;
    assert_eq!(old.json["data"], json!([]));
}

#[tokio::test]
async fn bad_hours_and_missing_cluster_id_are_400_saying_what_is_allowed() {
    let api = Api::new(settings());
    api.store()
        .put(CLUSTER, snapshot("n1", 10.0, 20.0, 40.0), Utc::now());
    for hours in [
        "abc",
        "0",
        "1e3",
        "721",
        "-1",
        "2.5",
        "",
        "%20",
        "99999999999999999999",
    ] {
        for uri in [
            format!("/api/v2/clusters/edge/node-metrics/n1/history?hours={hours}"),
            format!("/api/v2/node-metrics/n1/history?cluster_id=edge&hours={hours}"),
        ] {
            let reply = api.get(&uri).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
            let error = reply.error();
            assert!(
                error.contains("hours") && error.contains("from 1 to 720"),
                "{uri}: {error}"
            );
        }
    }
    for uri in [
        "/api/v2/node-metrics",
        "/api/v2/node-metrics?cluster_id=",
        "/api/v2/node-metrics?clusterId=edge",
        "/api/v2/node-metrics/n1",
        "/api/v2/node-metrics/n1/history?hours=2",
    ] {
        let reply = api.get(uri).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(reply.error().contains("cluster_id"), "{uri}");
    }
}

#[tokio::test]
async fn hours_are_bounded_by_the_retention() {
    let mut short = settings();
    short.retention = Duration::from_secs(6 * 3600);
    let api = Api::new(short);
    api.store()
        .put(CLUSTER, snapshot("n1", 10.0, 20.0, 40.0), Utc::now());
    let default = api
        .get("/api/v2/clusters/edge/node-metrics/n1/history")
        .await;
    assert_eq!(default.json["hours"], 6);
    let reply = api
        .get("/api/v2/clusters/edge/node-metrics/n1/history?hours=7")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.error().contains("from 1 to 6"));
}

#[tokio::test]
async fn other_methods_are_405_json() {
    let api = Api::new(settings());
    for (method, uri) in [
        (Method::POST, "/api/v2/node-metrics?cluster_id=edge"),
        (Method::DELETE, "/api/v2/clusters/edge/node-metrics/n1"),
        (Method::PUT, "/api/v2/node-metrics/n1/history"),
        (Method::GET, "/metrics/node"),
        (Method::POST, "/healthz"),
    ] {
        let reply = api
            .call(
                Request::builder()
                    .method(method.clone())
                    .uri(uri)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}"
        );
        assert_eq!(reply.error(), "method not allowed");
        assert!(reply.headers.contains_key(header::ALLOW), "{method} {uri}");
    }
}

#[tokio::test]
async fn a_pushed_snapshot_is_listed() {
    let api = Api::new(settings());
    let body = json!({"node_name": "pushed", "cpu": {"usage_percent": 12.5}}).to_string();
    let reply = api.push(body, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json, json!({"status": "ok"}));

    let list = api.get("/api/v2/clusters/edge/node-metrics").await;
    assert_eq!(list.json["nodes"][0]["node_name"], "pushed");
    assert_eq!(list.json["nodes"][0]["status"], "online");
    assert_eq!(list.json["nodes"][0]["cpu"]["usage_percent"], 12.5);
    // Pushed without a timestamp: taken as of the push, so it is in the history.
    let history = api
        .get("/api/v2/clusters/edge/node-metrics/pushed/history?hours=1")
        .await;
    assert_eq!(history.json["history"][0]["cpu_usage"], 12.5);
    assert_eq!(list.json["summary"]["online_nodes"], 1);
    assert_eq!(
        api.own_metrics
            .render()
            .lines()
            .find(|l| l.starts_with("edge_master_store_write_duration_seconds_count")),
        Some("edge_master_store_write_duration_seconds_count 1")
    );
}

#[tokio::test]
async fn pushes_without_a_node_name_or_json_are_400() {
    let api = Api::new(settings());
    for body in [
        "",
        "{",
        "not json",
        "[]",
        "{}",
        r#"{"node_name": ""}"#,
        r#"{"node_name": 5}"#,
    ] {
        let reply = api.push(body, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body:?}");
        let error = reply.error();
        assert!(
            error.contains("node_name") || error.contains("JSON"),
            "{body:?}: {error}"
        );
    }
    assert!(api.store().latest.is_empty());
}

#[tokio::test]
async fn pushes_over_one_mib_are_413() {
    let api = Api::new(settings());
    let padding = "x".repeat(PUSH_BODY_LIMIT);
    let body = format!(r#"{{"node_name":"big","hostname":"{padding}"}}"#);
    let reply = api.push(body, None).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.error().contains("larger than"));
    // Just under the limit is read, and refused for the field that is too long.
    let padding = "x".repeat(PUSH_BODY_LIMIT - 100);
    let body = format!(r#"{{"node_name":"big","hostname":"{padding}"}}"#);
    let reply = api.push(body, None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error(), "hostname: longer than 253 bytes");
}

#[tokio::test]
async fn pushes_need_the_token_when_one_is_set() {
    let mut with_token = settings();
    with_token.push_token = Some("s3cret".into());
    let api = Api::new(with_token);
    let body = || json!({"node_name": "n1"}).to_string();
    for token in [None, Some("wrong"), Some("s3cre"), Some("")] {
        let reply = api.push(body(), token).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
        reply.error();
    }
    // Checked before the body: an unauthorised oversized push is still 401.
    let reply = api
        .push("x".repeat(2 * PUSH_BODY_LIMIT), Some("nope"))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(api.store().latest.is_empty());
    assert_eq!(
        api.push(body(), Some("s3cret")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn nodes_not_seen_for_offline_after_are_offline_and_counted() {
    let api = Api::new(settings());
    let now = Utc::now();
    api.store()
        .put(CLUSTER, snapshot("fresh", 10.0, 10.0, 40.0), now);
    api.store().put(
        CLUSTER,
        snapshot("gone", 99.0, 99.0, 99.0),
        now - TimeDelta::seconds(31),
    );
    let list = api.get("/api/v2/clusters/edge/node-metrics").await;
    let nodes = list.json["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "offline nodes stay listed");
    assert_eq!(nodes[0]["status"], "online");
    assert_eq!(nodes[1]["node_name"], "gone");
    assert_eq!(nodes[1]["status"], "offline");
    assert_eq!(nodes[1]["cpu"]["usage_percent"], 99.0, "last snapshot kept");
    let summary = &list.json["summary"];
    assert_eq!(summary["total_nodes"], 2);
    assert_eq!(summary["online_nodes"], 1);
    assert_eq!(summary["offline_nodes"], 1);
    assert_eq!(summary["max_cpu_usage"], 10.0, "offline values are stale");
    assert_eq!(summary["warning_nodes"], 0);

    let one = api.get("/api/v2/node-metrics/gone?cluster_id=edge").await;
    assert_eq!(one.json["status"], "offline");
}

#[tokio::test]
async fn warning_nodes_are_named_with_the_configured_thresholds() {
    let now = Utc::now();
    let fill = |api: &Api| {
        let mut store = api.store();
        store.put(CLUSTER, snapshot("busy", 80.0, 10.0, 40.0), now);
        store.put(CLUSTER, snapshot("calm", 79.9, 79.9, 74.9), now);
        store.put(CLUSTER, snapshot("full", 10.0, 85.0, 40.0), now);
        store.put(CLUSTER, snapshot("hot", 10.0, 10.0, 75.0), now);
    };
    let api = Api::new(settings());
    fill(&api);
    let summary = api.get("/api/v2/clusters/edge/node-metrics").await.json["summary"].clone();
    assert_eq!(summary["warning_nodes"], 3);
    assert_eq!(
        summary["warning_node_names"],
        json!(["busy", "full", "hot"])
    );

    let mut strict = settings();
    strict.warn_cpu = 50.0;
    strict.warn_memory = 90.0;
    strict.warn_temp = 70.0;
    let api = Api::new(strict);
    fill(&api);
    let summary = api.get("/api/v2/clusters/edge/node-metrics").await.json["summary"].clone();
    assert_eq!(
        summary["warning_node_names"],
        json!(["busy", "calm", "hot"])
    );
}

#[tokio::test]
async fn health_readiness_and_own_metrics() {
    let api = Api::new(settings());
    let health = api.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json, json!({"status": "ok"}));
    let ready = api.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);

    api.store().unwritable = true;
    let not_ready = api.get("/readyz").await;
    assert_eq!(not_ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(not_ready.error().contains("readonly"));
    // Health does not depend on the store.
    assert_eq!(api.get("/healthz").await.status, StatusCode::OK);

    api.get("/api/v2/node-metrics").await;
    api.get("/api/v2/node-metrics/some-node?cluster_id=edge")
        .await;
    api.get("/no/such/path").await;
    let metrics = api.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert_eq!(metrics.headers[header::CONTENT_TYPE], CONTENT_TYPE);
    for line in [
        "edge_master_http_requests_total{route=\"/healthz\",code=\"200\"} 2",
        "edge_master_http_requests_total{route=\"/readyz\",code=\"200\"} 1",
        "edge_master_http_requests_total{route=\"/readyz\",code=\"503\"} 1",
        "edge_master_http_requests_total{route=\"/api/v2/node-metrics\",code=\"400\"} 1",
        "edge_master_http_requests_total{route=\"/api/v2/node-metrics/{node_name}\",code=\"404\"} 1",
        "edge_master_http_requests_total{route=\"unmatched\",code=\"404\"} 1",
    ] {
        assert!(
            metrics.text.lines().any(|l| l == line),
            "missing {line} in\n{}",
            metrics.text
        );
    }
}

#[tokio::test]
async fn store_failures_are_500_json() {
    let api = Api::new(settings());
    api.store().broken = true;
    for uri in [
        "/api/v2/clusters/edge/node-metrics",
        "/api/v2/node-metrics/n1?cluster_id=edge",
        "/api/v2/clusters/edge/node-metrics/n1/history",
    ] {
        let reply = api.get(uri).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
        assert!(reply.error().contains("malformed"), "{uri}");
    }
    let reply = api.push(json!({"node_name": "n1"}).to_string(), None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    reply.error();
}

#[tokio::test]
async fn odd_paths_do_not_panic() {
    let api = Api::new(settings());
    for uri in [
        "/api/v2/node-metrics/%FF%FE?cluster_id=edge",
        "/api/v2/clusters/%FF/node-metrics",
        "/api/v2/node-metrics/n1/history?cluster_id=%FF&hours=%FF",
        "/api/v2/clusters/edge/node-metrics/a%2Fb",
    ] {
        let reply = api.get(uri).await;
        assert!(
            reply.status.is_client_error(),
            "{uri}: {} {}",
            reply.status,
            reply.text
        );
        reply.error();
    }
}

#[tokio::test]
async fn the_real_store_serves_the_same_routes() {
    let store = crate::store::Store::open_in_memory().unwrap();
    let shared: SharedStore = Arc::new(store);
    let router = router(shared, settings(), Arc::new(OwnMetrics::new()));
    let api = Api {
        router,
        store: Arc::new(FakeStore::default()),
        own_metrics: Arc::new(OwnMetrics::new()),
    };
    let body = serde_json::to_string(&snapshot("real", 42.0, 21.0, 55.0)).unwrap();
    assert_eq!(api.push(body, None).await.status, StatusCode::OK);
    let node = api.get("/api/v2/clusters/edge/node-metrics/real").await;
    assert_eq!(node.status, StatusCode::OK, "{}", node.text);
    assert_eq!(node.json["cpu"]["usage_percent"], 42.0);
    assert_eq!(node.json["status"], "online");
    let history = api
        .get("/api/v2/node-metrics/real/history?cluster_id=edge&hours=1")
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text);
    assert_eq!(history.json["data"][0]["cpu_usage"], 42.0);
    assert_eq!(api.get("/readyz").await.status, StatusCode::OK);
    let elsewhere = api.get("/api/v2/node-metrics?cluster_id=elsewhere").await;
    assert_eq!(elsewhere.status, StatusCode::OK);
    assert_eq!(elsewhere.json["nodes"], json!([]));
    let clusters = api.get("/api/v2/clusters").await;
    assert_eq!(clusters.json["clusters"][0]["node_count"], 1);
    assert_eq!(
        api.get("/api/v2/clusters/elsewhere/node-metrics")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_read_token_guards_reads_and_metrics_but_not_probes_or_preflights() {
    let mut guarded = settings();
    guarded.read_token = Some("rt".into());
    let api = Api::new(guarded);
    api.store()
        .put(CLUSTER, snapshot("n1", 10.0, 20.0, 40.0), Utc::now());
    let with_token = |uri: &str, token: &str| {
        Request::get(uri)
            .header(header::ORIGIN, "http://127.0.0.1:3000")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    for uri in [
        "/api/v2/clusters",
        "/api/v2/clusters/edge/node-metrics",
        "/api/v2/clusters/edge/node-metrics/n1",
        "/api/v2/clusters/edge/node-metrics/n1/history",
        "/api/v2/node-metrics?cluster_id=edge",
        "/api/v2/node-metrics/n1?cluster_id=edge",
        "/api/v2/node-metrics/n1/history?cluster_id=edge",
        "/metrics",
    ] {
        let refused = api.get(uri).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(refused.headers[header::WWW_AUTHENTICATE], "Bearer");
        refused.error();
        let wrong = api.call(with_token(uri, "nope")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{uri}");
        // A 401 still carries CORS, so a page on another origin can read it.
        assert_eq!(wrong.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let read = api.call(with_token(uri, "rt")).await;
        assert_eq!(read.status, StatusCode::OK, "{uri}: {}", read.text);
        let preflight = api
            .call(
                Request::builder()
                    .method(Method::OPTIONS)
                    .uri(uri)
                    .header(header::ORIGIN, "http://127.0.0.1:3000")
                    .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
                    .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(preflight.status, StatusCode::OK, "{uri}");
    }
    for open in ["/healthz", "/readyz"] {
        assert_eq!(api.get(open).await.status, StatusCode::OK, "{open}");
    }
    // The read token does not open pushes, nor does a push need it.
    assert_eq!(
        api.push(json!({"node_name": "n2"}).to_string(), None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn pushes_beyond_max_nodes_are_507_and_known_nodes_still_update() {
    let mut limited = settings();
    limited.max_nodes = 2;
    let api = Api::new(limited);
    for node in ["a", "b"] {
        let reply = api.push(json!({"node_name": node}).to_string(), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{node}");
    }
    let refused = api.push(json!({"node_name": "c"}).to_string(), None).await;
    assert_eq!(refused.status, StatusCode::INSUFFICIENT_STORAGE);
    assert!(refused.error().contains("--max-nodes"), "{}", refused.text);
    let again = api
        .push(
            json!({"node_name": "a", "cpu": {"usage_percent": 5.0}}).to_string(),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
}

#[tokio::test]
async fn pushes_out_of_bounds_are_400_naming_the_field_and_redacted_when_stored() {
    let api = Api::new(settings());
    let many = vec![json!({}); 1000];
    for (body, field) in [
        (json!({"node_name": "n1", "processes": many}), "processes"),
        (json!({"node_name": "x".repeat(300)}), "node_name"),
        (
            json!({"node_name": "n1", "timestamp": "9999-12-31T23:59:59Z"}),
            "timestamp",
        ),
        (
            json!({"node_name": "n1", "memory": {"usage_percent": 101.0}}),
            "memory.usage_percent",
        ),
    ] {
        let reply = api.push(body.to_string(), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(reply.error().contains(field), "{field}: {}", reply.text);
    }
    assert!(api.store().latest.is_empty());
    let body = json!({"node_name": "n1", "processes": [{"pid": 1, "cmdline": "app --db-password=hunter2-SECRET"}]});
    assert_eq!(
        api.push(body.to_string(), None).await.status,
        StatusCode::OK
    );
    let node = api.get("/api/v2/clusters/edge/node-metrics/n1").await;
    assert_eq!(
        node.json["processes"][0]["cmdline"],
        "app --db-password=***"
    );
}

#[tokio::test]
async fn the_real_store_refuses_a_push_under_a_scraped_name() {
    let store = Arc::new(crate::store::Store::open_in_memory().unwrap());
    store
        .write_round(
            CLUSTER,
            &[(snapshot("scraped", 1.0, 1.0, 1.0), Utc::now())],
            Duration::from_secs(10),
        )
        .unwrap();
    let shared: SharedStore = store;
    let api = Api {
        router: router(shared, settings(), Arc::new(OwnMetrics::new())),
        store: Arc::new(FakeStore::default()),
        own_metrics: Arc::new(OwnMetrics::new()),
    };
    let reply = api
        .push(
            json!({"node_name": "scraped", "cpu": {"usage_percent": 99.0}}).to_string(),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert!(reply.error().contains("scraped"), "{}", reply.text);
    let node = api.get("/api/v2/clusters/edge/node-metrics/scraped").await;
    assert_eq!(node.json["cpu"]["usage_percent"], 1.0);
}

// ---- atlhyper's observe routes (issue 14) ----

/// `{"message": "获取成功", "data": …}` and only those keys.
fn observe_data(reply: &Reply) -> &Value {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(keys(&reply.json), ["data", "message"], "{}", reply.text);
    assert_eq!(reply.json["message"], "获取成功");
    &reply.json["data"]
}

#[tokio::test]
async fn observe_summary_counts_online_nodes_and_takes_the_hottest() {
    let api = Api::new(settings());
    let now = Utc::now();
    {
        let mut store = api.store();
        store.put(CLUSTER, snapshot("b", 90.123, 30.0, 58.04), now);
        store.put(CLUSTER, snapshot("a", 20.0, 50.0, 61.26), now);
        store.put(CLUSTER, snapshot("c", 10.0, 10.0, 0.0), now);
        // Offline: counted in totalNodes, in nothing else.
        store.put(
            CLUSTER,
            snapshot("d", 99.0, 99.0, 99.0),
            now - TimeDelta::minutes(5),
        );
    }
    let reply = api
        .get("/api/v2/observe/metrics/summary?cluster_id=edge")
        .await;
    assert_eq!(
        *observe_data(&reply),
        json!({"totalNodes": 4, "onlineNodes": 3, "avgCpuPct": 40.04, "avgMemPct": 30.0,
               "maxCpuPct": 90.12, "maxMemPct": 50.0, "maxCpuTemp": 61.3})
    );
    // A served cluster without nodes: zeros, 200.
    let empty = Api::new(settings());
    let reply = empty
        .get("/api/v2/observe/metrics/summary?cluster_id=edge")
        .await;
    assert_eq!(
        *observe_data(&reply),
        json!({"totalNodes": 0, "onlineNodes": 0, "avgCpuPct": 0.0, "avgMemPct": 0.0,
               "maxCpuPct": 0.0, "maxMemPct": 0.0, "maxCpuTemp": 0.0})
    );
}

#[tokio::test]
async fn observe_nodes_are_sorted_views_and_an_empty_cluster_is_an_empty_array() {
    let api = Api::new(settings());
    let reply = api
        .get("/api/v2/observe/metrics/nodes?cluster_id=edge")
        .await;
    assert_eq!(*observe_data(&reply), json!([]));
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    let now = Utc::now();
    {
        let mut store = api.store();
        store.put(CLUSTER, snapshot("zeta", 10.0, 20.0, 40.0), now);
        store.put(CLUSTER, snapshot("alpha", 30.0, 40.0, 0.0), now);
    }
    let reply = api
        .get("/api/v2/observe/metrics/nodes?cluster_id=edge")
        .await;
    let nodes = observe_data(&reply).as_array().unwrap();
    let names: Vec<&str> = nodes
        .iter()
        .map(|n| n["nodeName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);
    let zeta = &nodes[1];
    assert_eq!(zeta["cpu"]["usagePct"], 10.0);
    assert_eq!(zeta["memory"]["usagePct"], 20.0);
    assert_eq!(zeta["temperature"]["cpuTempC"], 40.0);
    assert_eq!(zeta["temperature"]["sensors"], json!([]));
    assert_eq!(zeta["networks"], json!([]));
    assert_eq!(zeta["status"], "online");
    for block in ["psi", "tcp", "system", "vmstat", "softnet"] {
        assert!(zeta[block].is_object(), "{block}");
    }
    // Its root disk: total 0 → usage 0, I/O fields present.
    assert_eq!(zeta["disks"][0]["mountPoint"], "/");
    assert_eq!(zeta["disks"][0]["readIOPS"], 0.0);
}

#[tokio::test]
async fn observe_node_and_its_errors() {
    let api = Api::new(settings());
    api.store()
        .put(CLUSTER, snapshot("n1", 12.345, 20.0, 40.0), Utc::now());
    let reply = api
        .get("/api/v2/observe/metrics/nodes/n1?cluster_id=edge")
        .await;
    let node = observe_data(&reply);
    assert_eq!(node["nodeName"], "n1");
    assert_eq!(node["cpu"]["usagePct"], 12.35);

    for (uri, status, message) in [
        (
            "/api/v2/observe/metrics/summary",
            StatusCode::BAD_REQUEST,
            "cluster_id is required",
        ),
        (
            "/api/v2/observe/metrics/nodes?cluster_id=",
            StatusCode::BAD_REQUEST,
            "cluster_id is required",
        ),
        (
            "/api/v2/observe/metrics/nodes/",
            StatusCode::BAD_REQUEST,
            "cluster_id is required",
        ),
        (
            "/api/v2/observe/metrics/nodes/?cluster_id=edge",
            StatusCode::BAD_REQUEST,
            "node name is required",
        ),
        (
            "/api/v2/observe/metrics/summary?cluster_id=nope",
            StatusCode::NOT_FOUND,
            "数据尚未就绪",
        ),
        (
            "/api/v2/observe/metrics/nodes?cluster_id=nope",
            StatusCode::NOT_FOUND,
            "数据尚未就绪",
        ),
        (
            "/api/v2/observe/metrics/nodes/n1?cluster_id=nope",
            StatusCode::NOT_FOUND,
            "数据尚未就绪",
        ),
        (
            "/api/v2/observe/metrics/nodes/n2?cluster_id=edge",
            StatusCode::NOT_FOUND,
            "节点未找到",
        ),
        (
            "/api/v2/observe/metrics/nodes/n2/series?cluster_id=edge",
            StatusCode::NOT_FOUND,
            "时序数据未就绪",
        ),
        (
            "/api/v2/observe/metrics/nodes/n1/series?cluster_id=nope",
            StatusCode::NOT_FOUND,
            "数据尚未就绪",
        ),
        (
            "/api/v2/observe/metrics/nodes/n1/series?cluster_id=edge&metric=psi_cpu",
            StatusCode::NOT_FOUND,
            "时序数据未就绪",
        ),
    ] {
        let reply = api.get(uri).await;
        assert_eq!(reply.status, status, "{uri}: {}", reply.text);
        assert_eq!(reply.error(), message, "{uri}");
        assert_eq!(
            reply.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "*",
            "{uri}"
        );
    }
    for uri in [
        "/api/v2/observe/metrics/summary?cluster_id=edge",
        "/api/v2/observe/metrics/nodes/n1?cluster_id=edge",
        "/api/v2/observe/metrics/nodes/n1/series?cluster_id=edge",
    ] {
        let reply = api
            .call(Request::post(uri).body(Body::empty()).unwrap())
            .await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
        assert_eq!(reply.error(), "Method not allowed", "{uri}");
        // A plain OPTIONS (no preflight headers): 200, empty.
        let reply = api
            .call(
                Request::builder()
                    .method(Method::OPTIONS)
                    .uri(uri)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
        assert_eq!(reply.text, "", "{uri}");
    }
}

#[tokio::test]
async fn observe_series_from_history() {
    let api = Api::new(settings());
    let now = Utc::now();
    api.store()
        .put(CLUSTER, snapshot("n1", 10.0, 20.0, 40.0), now);
    {
        let mut store = api.store();
        for (minutes_ago, cpu, temp) in [(45, 1.0, 50.0), (20, 22.126, 51.5), (5, 24.9, -1.0)] {
            store.points.push((
                CLUSTER.to_owned(),
                MetricsDataPoint {
                    timestamp: now - TimeDelta::minutes(minutes_ago),
                    node_name: "n1".into(),
                    cpu_usage: cpu,
                    cpu_temp: temp,
                    ..MetricsDataPoint::default()
                },
            ));
        }
    }
    // Default: CPU usage over 30 minutes.
    let reply = api
        .get("/api/v2/observe/metrics/nodes/n1/series?cluster_id=edge")
        .await;
    let data = observe_data(&reply);
    assert_eq!(data["metric"], "");
    let values: Vec<f64> = data["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [22.13, 24.9]);
    assert!(data["points"][0]["timestamp"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    // An hour of temperature: the negative reading is left out.
    let reply = api
        .get("/api/v2/observe/metrics/nodes/n1/series?cluster_id=edge&metric=cpu_temp&minutes=60")
        .await;
    let data = observe_data(&reply);
    assert_eq!(data["metric"], "cpu_temp");
    let values: Vec<f64> = data["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [50.0, 51.5]);
    // A column kept for these series: PSI.
    for (minutes_ago, value) in [(50, 1.0), (10, 2.5)] {
        api.store().series.push((
            CLUSTER.to_owned(),
            "n1".to_owned(),
            "psi_cpu",
            now - TimeDelta::minutes(minutes_ago),
            value,
        ));
    }
    let reply = api
        .get("/api/v2/observe/metrics/nodes/n1/series?cluster_id=edge&metric=psi_cpu")
        .await;
    let data = observe_data(&reply);
    assert_eq!(data["metric"], "psi_cpu");
    assert_eq!(data["points"].as_array().unwrap().len(), 1);
    assert_eq!(data["points"][0]["value"], 2.5);
    // Nothing in the last 2 minutes.
    let reply = api
        .get("/api/v2/observe/metrics/nodes/n1/series?cluster_id=edge&minutes=2")
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error(), "时序数据未就绪");
}

#[tokio::test]
async fn the_current_history_shape_is_bucketed_per_metric() {
    let mut current = settings();
    current.history_shape = HistoryShape::Current;
    let api = Api::new(current);
    let now = Utc::now();
    api.store()
        .put(CLUSTER, snapshot("n1", 10.0, 20.0, 40.0), now);
    // Two points in one minute, 20 minutes ago; one 5 minutes ago; one 2 hours ago
    // (outside hours=1).
    let minute = |ago: i64| {
        let t = now - TimeDelta::minutes(ago);
        t - TimeDelta::seconds(t.timestamp().rem_euclid(60))
    };
    {
        let mut store = api.store();
        for (at, cpu, temp) in [
            (minute(20), 10.0, 50.0),
            (minute(20) + TimeDelta::seconds(30), 20.0, 52.0),
            (minute(5), 30.0, 0.0),
            (minute(120), 99.0, 99.0),
        ] {
            store.points.push((
                CLUSTER.to_owned(),
                MetricsDataPoint {
                    timestamp: at,
                    node_name: "n1".into(),
                    cpu_usage: cpu,
                    memory_usage: 40.0,
                    disk_usage: 34.77,
                    cpu_temp: temp,
                    ..MetricsDataPoint::default()
                },
            ));
        }
    }
    let reply = api
        .get("/api/v2/node-metrics/n1/history?cluster_id=edge&hours=1")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(keys(&reply.json), ["data", "end", "nodeName", "start"]);
    assert_eq!(reply.json["nodeName"], "n1");
    let data = &reply.json["data"];
    assert_eq!(keys(data), ["cpu", "disk", "memory", "temp"]);
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        data["cpu"],
        json!([{"timestamp": stamp(minute(20)), "value": 15.0},
               {"timestamp": stamp(minute(5)), "value": 30.0}])
    );
    assert_eq!(data["memory"][1]["value"], 40.0);
    let missing = api.get("/api/v2/node-metrics/n1/history?hours=1").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error(), "cluster_id is required");
    assert_eq!(data["disk"][0]["value"], 34.77);
    // The hottest of the minute; no point for the minute without a temperature.
    assert_eq!(
        data["temp"],
        json!([{"timestamp": stamp(minute(20)), "value": 52.0}])
    );
    // The v2 shape is the default.
    let v2 = Api::new(settings());
    v2.store()
        .put(CLUSTER, snapshot("n1", 10.0, 20.0, 40.0), now);
    let reply = v2
        .get("/api/v2/node-metrics/n1/history?cluster_id=edge&hours=1")
        .await;
    assert_eq!(keys(&reply.json), ["data", "end", "node_name", "start"]);
    assert!(reply.json["data"].is_array());
}

/// The list routes of the real store answer from memory, and a kept body never shows
/// an old snapshot or an old status: a write shows at once, and a node turns offline
/// with no write at all.
#[tokio::test]
async fn kept_list_bodies_follow_writes_and_the_clock() {
    let store = Arc::new(crate::store::Store::open_in_memory().unwrap());
    let mut settings = settings();
    settings.offline_after = Duration::from_millis(1500);
    let shared: SharedStore = store.clone();
    let api = Api {
        router: router(shared, settings, Arc::new(OwnMetrics::new())),
        store: Arc::new(FakeStore::default()),
        own_metrics: Arc::new(OwnMetrics::new()),
    };
    let write = |name: &str, cpu: f64| {
        let now = Utc::now();
        let mut s = snapshot(name, cpu, 10.0, 40.0);
        s.timestamp = now;
        store
            .write_round(CLUSTER, &[(s, now)], Duration::from_secs(60))
            .unwrap();
    };
    write("n1", 10.0);
    write("n2", 20.0);
    let routes = [
        "/api/v2/clusters/edge/node-metrics",
        "/api/v2/node-metrics?cluster_id=edge",
        "/api/v2/observe/metrics/nodes?cluster_id=edge",
        "/api/v2/observe/metrics/summary?cluster_id=edge",
    ];
    let first: Vec<Reply> = get_each(&api, &routes).await;
    for reply in &first {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            reply.headers[header::CONTENT_TYPE],
            "application/json",
            "{}",
            reply.text
        );
    }
    assert_eq!(first[0].json["summary"]["online_nodes"], 2);
    assert_eq!(first[0].json["nodes"][0]["cpu"]["usage_percent"], 10.0);
    assert_eq!(first[1].text, first[0].text);
    assert_eq!(first[2].json["data"][1]["status"], "online");
    assert_eq!(first[3].json["data"]["onlineNodes"], 2);
    // Asked again with no change: the same bytes.
    assert_eq!(get_each(&api, &routes).await[0].text, first[0].text);

    write("n1", 70.0);
    let after_write = get_each(&api, &routes).await;
    assert_eq!(
        after_write[0].json["nodes"][0]["cpu"]["usage_percent"],
        70.0
    );
    assert_eq!(after_write[3].json["data"]["avgCpuPct"], 45.0);

    // Past offline_after with no write, both are offline.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let later = get_each(&api, &routes).await;
    assert_eq!(later[0].json["summary"]["offline_nodes"], 2);
    assert_eq!(later[0].json["nodes"][1]["status"], "offline");
    assert_eq!(later[2].json["data"][0]["status"], "offline");
    assert_eq!(later[3].json["data"]["onlineNodes"], 0);
    // n2 comes back.
    write("n2", 30.0);
    let back = get_each(&api, &routes).await;
    assert_eq!(back[0].json["summary"]["online_nodes"], 1);
    assert_eq!(back[0].json["nodes"][1]["status"], "online");
}

/// Each route's reply, one after the other.
async fn get_each(api: &Api, routes: &[&str]) -> Vec<Reply> {
    let mut replies = Vec::new();
    for route in routes {
        replies.push(api.get(route).await);
    }
    replies
}
