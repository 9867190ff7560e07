//! edge-deploy: what turns the repository's configuration files into the Kubernetes
//! manifests users apply, and reads those manifests back for the tests.
//!
//! - [`assemble`] builds `manifests/all-in-one.yaml` (and the Grafana dashboards'
//!   ConfigMap) from `manifests/parts/*.yaml`, filling each ConfigMap from the files
//!   its `# @files:` line names, so `nodes.conf`, the scripts, the Prometheus and
//!   vmagent configs and the dashboards have one source each.
//! - [`dashboard`] lists a Grafana dashboard's queries and fills in its variables.
//! - [`manifest`] finds objects, container flags and ConfigMap files in a manifest.
//!
//! Not here: any program of the pipeline; the tests under `tests/` run the real ones
//! (edge-exporter, edge-sidecar, vmagent, Prometheus) with the manifests' settings.

pub mod assemble;
pub mod dashboard;
pub mod manifest;
