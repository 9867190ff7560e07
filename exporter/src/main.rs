//! edge-exporter's entry point: parse flags, start logging, serve. The work lives in
//! the library.

use std::process::ExitCode;

use edge_exporter::{cli, server};

/// Threads that run scrapes (one at a time, under the scraper's lock); the others
/// wait their turn off the thread that answers `/healthz`.
const SCRAPE_THREADS: usize = 4;

fn main() -> ExitCode {
    // A handful of threads allocate a few kB each; one malloc arena instead of one per
    // thread keeps the resident size down on small boards.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let matches = cli::command().get_matches();
    tracing_subscriber::fmt()
        .with_max_level(cli::log_level(&matches))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let config = match cli::Config::from_matches(&matches) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("edge-exporter: error: {error}");
            return ExitCode::from(2);
        }
    };
    // The parsed command line (several hundred flags) is not needed any more.
    drop(matches);

    // By default one thread serves HTTP (node_exporter's GOMAXPROCS=1); scrapes run on
    // a small blocking pool (see server.rs). Keeps RSS small.
    let mut builder = if config.runtime_workers > 1 {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(config.runtime_workers);
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder
        .max_blocking_threads(SCRAPE_THREADS)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("edge-exporter: error: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let mut listeners = Vec::with_capacity(config.listen_addresses.len());
        for address in &config.listen_addresses {
            match server::bind(address).await {
                Ok(listener) => {
                    tracing::info!(
                        address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
                        "listening"
                    );
                    listeners.push(listener);
                }
                Err(error) => {
                    eprintln!("edge-exporter: error: listening on {address}: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
        tracing::info!(
            node_name = %config.node_name,
            collectors = ?config.scraper.collector_names(),
            "started"
        );
        let app = server::router(config.scraper, &config.endpoint);
        // Startup is over: what only it needed need not stay resident.
        edge_exporter::resident::release_startup_pages();
        match server::serve(listeners, app, config.server).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("edge-exporter: error: serving: {error}");
                ExitCode::FAILURE
            }
        }
    })
}
