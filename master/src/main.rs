//! edge-master's entry point: flags, logging and the store, then the scraper and
//! cleanup threads and the HTTP app wired together. The work lives in the library.

use std::process::ExitCode;
use std::sync::Arc;

use edge_master::api::SharedStore;
use edge_master::app;
use edge_master::cli;
use edge_master::own_metrics::OwnMetrics;
use edge_master::source::batch::BatchWriter;
use edge_master::source::promql::{self, PromqlSource};
use edge_master::source::schedule::{self, ScrapeSettings};
use edge_master::source::targets::TargetSet;
use edge_master::source::RoundWriter;
use edge_master::store::{self, LatestRules, Store};

/// mimalloc instead of glibc's malloc: at 1,000 scrape targets a profile of the master
/// spent ~40 % of its CPU in glibc's allocator (`_int_malloc`, `malloc_consolidate`,
/// `_int_free`), churning each scrape's ~70 KB body and its parse.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let matches = cli::command().get_matches();
    let mut settings = match cli::settings(&matches) {
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
    let rules = LatestRules {
        offline_after: settings.api_settings().offline_after,
        max_nodes: settings.max_nodes,
    };
    let store = match Store::open_with(&settings.db, rules) {
        Ok(store) => Arc::new(store),
        Err(error) => {
            eprintln!(
                "edge-master: error: --db {}: {error}",
                settings.db.display()
            );
            return ExitCode::from(2);
        }
    };
    let own_metrics = Arc::new(OwnMetrics::new());

    // In PromQL mode `/history` may come from the backend (`--source.history`).
    let shared: SharedStore = match &settings.promql {
        Some(config) => PromqlSource::history_store(
            config,
            Arc::clone(&store) as SharedStore,
            settings.cluster_id.clone(),
            settings.scrape_timeout,
            settings.api_settings().offline_after,
        ),
        None => Arc::clone(&store) as SharedStore,
    };
    let scraper: Box<dyn FnOnce() + Send> = match settings.promql.take() {
        // The scrape source on a runtime of its own, so that parsing scrapes never
        // delays the API's answers.
        None => {
            let targets = TargetSet::new(
                std::mem::take(&mut settings.targets),
                settings.targets_file.take(),
                settings.discover_dns.take(),
            );
            let scrape_settings = ScrapeSettings {
                interval: settings.scrape_interval,
                timeout: settings.scrape_timeout,
                concurrency: settings.scrape_concurrency,
                admission: settings.api_settings().admission(),
            };
            let writer = BatchWriter {
                store: Arc::clone(&store),
                own_metrics: Arc::clone(&own_metrics),
                cluster_id: settings.cluster_id.clone(),
                sample_interval: settings.sample_interval,
            };
            Box::new(move || {
                match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("scrape")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => {
                        runtime.block_on(schedule::run(targets, scrape_settings, writer))
                    }
                    Err(error) => tracing::error!(%error, "starting the scrape runtime failed"),
                }
            })
        }
        // Rounds of instant queries to a Prometheus-compatible backend.
        Some(config) => {
            let writer = RoundWriter::new(
                Arc::clone(&store),
                Arc::clone(&own_metrics),
                settings.api_settings().admission(),
                settings.cluster_id.clone(),
                settings.sample_interval,
            )
            .seen_at_sample_time(config.delay);
            let source = PromqlSource::new(
                config,
                settings.scrape_interval,
                settings.scrape_timeout,
                settings.api_settings().offline_after,
            );
            Box::new(move || promql::run(source, writer))
        }
    };
    let cleanup = {
        let store = Arc::clone(&store);
        let (interval, retention, latest_retention) = (
            settings.cleanup_interval,
            settings.retention,
            settings.latest_retention,
        );
        move || store::run_cleanup(&store, interval, retention, latest_retention)
    };
    let persist = {
        let (store, interval) = (Arc::clone(&store), settings.latest_persist_interval);
        move || store::run_latest_persist(&store, interval)
    };
    for (name, work) in [
        ("scraper", scraper),
        ("cleanup", Box::new(cleanup)),
        ("persist", Box::new(persist)),
    ] {
        if let Err(error) = std::thread::Builder::new().name(name.into()).spawn(work) {
            eprintln!("edge-master: error: starting the {name} thread: {error}");
            return ExitCode::FAILURE;
        }
    }

    let app = app::router(shared, settings.api_settings(), own_metrics);
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
    let served = runtime.block_on(async move {
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
        let serve = edge_server::serve(
            listener,
            app,
            settings.server.clone(),
            edge_server::shutdown_signal(),
        );
        match serve.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("edge-master: error: serving: {error}");
                ExitCode::FAILURE
            }
        }
    });
    // SIGTERM or Ctrl-C ended the server: what is in memory goes to disk.
    if let Err(error) = store.persist_latest() {
        eprintln!("edge-master: error: persisting the latest snapshots: {error}");
    }
    served
}
