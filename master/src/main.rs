//! edge-master's entry point: flags, then the store, the scrape loop, the cleanup
//! loop and the API wired together. The work lives in the library.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use edge_master::api::{router, ApiSettings, OwnMetrics, SharedStore};
use edge_master::cli::{self, Settings};
use edge_master::source::scrape::ScrapeSource;
use edge_master::source::targets::{DnsDiscovery, TargetSet};
use edge_master::source::NodeSource;
use edge_master::store::Store;

fn main() -> ExitCode {
    let matches = cli::command().get_matches();
    let settings = match cli::settings(&matches) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("edge-master: error: {error}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(settings.log_level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let mut store = match Store::open(&settings.db) {
        Ok(store) => store,
        Err(error) => {
            eprintln!(
                "edge-master: error: --db {}: {error}",
                settings.db.display()
            );
            return ExitCode::from(2);
        }
    };
    if let Err(error) = store.cleanup(Utc::now(), settings.retention, settings.latest_retention) {
        tracing::error!(%error, "cleanup at start failed");
    }
    let store = Arc::new(Mutex::new(store));
    let own_metrics = Arc::new(OwnMetrics::new());

    let source = ScrapeSource::new(
        TargetSet::new(
            settings.targets.clone(),
            settings.targets_file.clone(),
            settings
                .discover_dns
                .as_deref()
                .and_then(|hp| DnsDiscovery::new(hp, settings.dns_refresh).ok()),
        ),
        settings.scrape_timeout,
        settings.scrape_concurrency,
    );
    for (name, work) in [
        (
            "scraper",
            Box::new({
                let (store, metrics, settings) = (
                    Arc::clone(&store),
                    Arc::clone(&own_metrics),
                    settings.clone(),
                );
                move || scrape_loop(source, store, metrics, settings)
            }) as Box<dyn FnOnce() + Send>,
        ),
        (
            "cleanup",
            Box::new({
                let (store, settings) = (Arc::clone(&store), settings.clone());
                move || cleanup_loop(store, settings)
            }),
        ),
    ] {
        if let Err(error) = std::thread::Builder::new().name(name.into()).spawn(work) {
            eprintln!("edge-master: error: starting the {name} thread: {error}");
            return ExitCode::FAILURE;
        }
    }

    let mut api = ApiSettings::new(
        settings.cluster_id.clone(),
        settings.retention,
        settings.scrape_interval,
    );
    api.offline_after = settings
        .scrape_interval
        .saturating_mul(settings.offline_after_missed);
    api.warn_cpu = settings.warn_cpu;
    api.warn_memory = settings.warn_memory;
    api.warn_temp = settings.warn_temp;
    api.push_token = settings.push_token.clone();
    api.sample_interval = settings.sample_interval;
    api.allowed_origins = settings.allowed_origins.clone();
    let shared: SharedStore = store;
    let app = router(shared, api, own_metrics);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("edge-master: error: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&settings.listen).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("edge-master: error: --listen {}: {error}", settings.listen);
                return ExitCode::FAILURE;
            }
        };
        let address = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(%address, db = %settings.db.display(), "serving");
        println!(
            "edge-master: API at http://{address}/api/v2/clusters/{}/node-metrics",
            settings.cluster_id
        );
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            tokio::select! {
                _ = shutdown => {},
                _ = terminate => {},
            }
        });
        match serve.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("edge-master: error: serving: {error}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Every scrape interval: one round from the source, written in one transaction.
fn scrape_loop(
    mut source: ScrapeSource,
    store: Arc<Mutex<Store>>,
    metrics: Arc<OwnMetrics>,
    settings: Settings,
) {
    let mut known_targets: Vec<String> = Vec::new();
    loop {
        let started = Instant::now();
        let round = source.collect();
        for report in &round.targets {
            match &report.error {
                None => metrics.record_scrape_success(
                    &report.url,
                    report.node.as_deref(),
                    report.duration,
                    report.samples,
                ),
                Some(error) => metrics.record_scrape_failure(
                    &report.url,
                    report.node.as_deref(),
                    report.duration,
                    error,
                ),
            }
        }
        for gone in known_targets
            .iter()
            .filter(|url| !round.targets.iter().any(|r| &r.url == *url))
        {
            metrics.forget_target(gone);
        }
        known_targets = round.targets.iter().map(|r| r.url.clone()).collect();
        if !round.snapshots.is_empty() {
            let seen = Utc::now();
            let batch: Vec<_> = round.snapshots.into_iter().map(|s| (s, seen)).collect();
            let write_started = Instant::now();
            let result = store
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .write_round(&settings.cluster_id, &batch, settings.sample_interval);
            metrics.record_store_write(write_started.elapsed(), result.is_ok());
            if let Err(error) = result {
                tracing::error!(%error, "writing the round failed");
            }
        }
        std::thread::sleep(settings.scrape_interval.saturating_sub(started.elapsed()));
    }
}

/// Retention and downsampling every cleanup interval (the first ran at start).
fn cleanup_loop(store: Arc<Mutex<Store>>, settings: Settings) {
    loop {
        std::thread::sleep(settings.cleanup_interval.max(Duration::from_secs(1)));
        let result = store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .cleanup(Utc::now(), settings.retention, settings.latest_retention);
        if let Err(error) = result {
            tracing::error!(%error, "cleanup failed");
        }
    }
}
