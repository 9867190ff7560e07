//! Writes `manifests/all-in-one.yaml` and `grafana/dashboards-configmap.yaml` from
//! `manifests/parts/`. `--check` writes nothing and exits 1 when a file is stale.

use std::path::Path;
use std::process::ExitCode;

use edge_deploy::assemble;

fn main() -> ExitCode {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => {
            eprintln!("assemble-manifests: unknown argument {other:?} (only --check)");
            return ExitCode::from(2);
        }
    };
    // The repository root: this crate's parent directory.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match run(&root, check) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("assemble-manifests: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Whether every output is (or now is) up to date.
fn run(root: &Path, check: bool) -> Result<bool, Box<dyn std::error::Error>> {
    let mut fresh = true;
    for output in assemble::outputs(root)? {
        let text = assemble::render(root, &output)?;
        let path = root.join(&output.path);
        if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
            println!("{}: up to date", output.path.display());
        } else if check {
            println!("{}: stale", output.path.display());
            fresh = false;
        } else {
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            println!("{}: written", output.path.display());
        }
    }
    Ok(fresh)
}
