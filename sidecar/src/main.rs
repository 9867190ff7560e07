//! edge-sidecar's entry point: parse flags, then wire the scheduler, the writer,
//! the reloader and the optional listener together. The work lives in the library.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use edge_sidecar::cli;
use edge_sidecar::names::ValueNames;
use edge_sidecar::output::{remove_stale_temp_files, run_writer, OutputSettings};
use edge_sidecar::runner::{self, start_orphan_reaper_if_pid1};
use edge_sidecar::schedule::{RunSettings, Scheduler};
use edge_sidecar::script_env::ScriptEnv;
use edge_sidecar::source_states::SourceStates;
use edge_sidecar::watch::Reloader;

fn main() -> ExitCode {
    let matches = cli::command().get_matches();
    if let Some(("scan", scan_matches)) = matches.subcommand() {
        return scan(scan_matches);
    }
    let settings = match cli::settings(&matches) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("edge-sidecar: error: {error}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(settings.log_level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    if settings.check {
        return match cli::check(&settings) {
            Ok(report) => {
                print!("{report}");
                if report.is_clean() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(error) => {
                println!("{error}");
                ExitCode::FAILURE
            }
        };
    }
    start_orphan_reaper_if_pid1();
    remove_stale_temp_files(&settings.output);

    let states = Arc::new(SourceStates::default());
    let names = Arc::new(ValueNames::new(&settings.prefix));
    let scheduler = Scheduler::new(
        Arc::clone(&states),
        RunSettings {
            scripts_dir: settings.scripts_dir.clone(),
            sysfs: settings.sysfs.clone(),
            env: ScriptEnv::new(
                &settings.node_name,
                &settings.script_path,
                &settings.script_env,
                |name| std::env::var_os(name),
            ),
            run_as: settings.run_as.clone(),
            timeout: settings.timeout,
            grace: settings.kill_grace,
            output_limit: runner::STDOUT_LIMIT,
            stderr_limit: runner::STDERR_LIMIT,
            max_keys: settings.max_keys_per_run,
            names: Arc::clone(&names),
        },
    );
    let mut reloader = Reloader {
        config_path: settings.config.clone(),
        default_interval: settings.default_interval,
        node_name: settings.node_name.clone(),
        states: Arc::clone(&states),
        scheduler,
    };
    reloader.reload();

    let published = Arc::new(Mutex::new(String::new()));
    let output = OutputSettings {
        path: settings.output.clone(),
        names,
        node_name: settings.node_name.clone(),
        stale_after: settings.stale_after,
        max_file_bytes: settings.max_file_bytes,
    };
    let spawned = [
        std::thread::Builder::new().name("writer".into()).spawn({
            let (states, published) = (Arc::clone(&states), Arc::clone(&published));
            move || run_writer(states, output, published)
        }),
        std::thread::Builder::new()
            .name("reloader".into())
            .spawn(move || reloader.watch(settings.reload_poll)),
    ];
    for result in spawned {
        if let Err(error) = result {
            eprintln!("edge-sidecar: error: starting a thread: {error}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(address) = &settings.listen {
        if let Err(error) =
            edge_sidecar::http::serve_in_background(address, published, settings.server.clone())
        {
            eprintln!("edge-sidecar: error: --listen {address}: {error}");
            return ExitCode::from(2);
        }
    }
    tracing::info!(
        node = %settings.node_name,
        output = %settings.output.display(),
        run_as = settings.run_as.as_ref().map(|r| r.spec.as_str()),
        "running"
    );

    match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ]) {
        Ok(mut signals) => {
            if let Some(signal) = signals.forever().next() {
                tracing::info!(signal, "stopping");
            }
            // Scripts run in process groups of their own, so the signal did not reach
            // them: end them before we go.
            runner::stop_all_scripts(settings.kill_grace);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("edge-sidecar: error: signal handling: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `edge-sidecar scan`: the report on stdout; exit 1 when a bus could not be scanned
/// to the end or the files not written.
fn scan(matches: &clap::ArgMatches) -> ExitCode {
    let settings = match cli::scan_settings(matches) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("edge-sidecar scan: error: {error}");
            return ExitCode::from(2);
        }
    };
    match edge_sidecar::scan::run(&settings, &mut std::io::stdout().lock()) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("edge-sidecar scan: error: {error}");
            ExitCode::FAILURE
        }
    }
}
