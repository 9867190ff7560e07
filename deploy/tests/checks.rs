//! Static checks of everything a user applies or installs, with the real tools:
//! the generated manifests are up to date and carry their source files byte for
//! byte; kubernetes-validate --strict; promtool check config / check rules / test
//! rules; vmagent -dryRun; systemd-analyze verify; the dashboards' shape.

mod support;

use std::path::Path;

use edge_deploy::manifest::{flag_value, Manifest};
use edge_deploy::{assemble, dashboard};
use support::{all_in_one, read, root, succeeds, tool, workspace_binary};

#[test]
fn generated_manifests_are_up_to_date() {
    let root = root();
    for output in assemble::outputs(&root).unwrap() {
        let expected = assemble::render(&root, &output).unwrap();
        let committed = read(output.path.to_str().unwrap());
        assert!(
            committed == expected,
            "{} is stale: run `cargo run -p edge-deploy --bin assemble-manifests`",
            output.path.display()
        );
    }
}

/// Each ConfigMap a part fills from files holds, once parsed as Kubernetes parses
/// it, exactly those files.
#[test]
fn config_maps_hold_their_source_files() {
    let manifest = all_in_one();
    let mut checked = Vec::new();
    for part in &assemble::outputs(&root()).unwrap()[0].parts {
        let text = read(part.to_str().unwrap());
        for document in text.split("\n---\n") {
            let files: Vec<&str> = document
                .lines()
                .filter_map(|l| l.trim_start().strip_prefix("# @files:"))
                .flat_map(str::split_whitespace)
                .collect();
            if files.is_empty() {
                continue;
            }
            let parsed = Manifest::parse(document).unwrap();
            let [config_map] = parsed.objects.as_slice() else {
                panic!("{}: # @files outside a ConfigMap", part.display());
            };
            assert_eq!(config_map["kind"].as_str(), Some("ConfigMap"));
            let name = config_map["metadata"]["name"].as_str().unwrap();
            for file in files {
                let key = Path::new(file).file_name().unwrap().to_str().unwrap();
                assert_eq!(
                    manifest.config_map_file(name, key).unwrap(),
                    read(file),
                    "{name}/{key}"
                );
                checked.push(format!("{name}/{key}"));
            }
        }
    }
    for expected in [
        "edge-sidecar-config/nodes.conf",
        "edge-sidecar-config/space_server.sh",
        "vmagent-config/scrape.yml",
        "prometheus-config/prometheus.yml",
        "prometheus-config/alerts.yml",
        "grafana-dashboards-edge-metrics/node-overview.json",
        "grafana-dashboards-edge-metrics/edge-sensors.json",
    ] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected}: {checked:?}"
        );
    }
}

#[test]
fn manifests_pass_kubernetes_validate_strict() {
    let files = [
        "manifests/all-in-one.yaml",
        "grafana/dashboards-configmap.yaml",
    ];
    let output = succeeds(
        tool("kubernetes-validate", "PyPI kubernetes-validate")
            .current_dir(root())
            .arg("--strict")
            .args(files),
    );
    let report = String::from_utf8_lossy(&output.stdout);
    // One "passed" line per object: nothing was skipped as unknown.
    let objects: usize = files
        .iter()
        .map(|f| Manifest::parse(&read(f)).unwrap().objects.len())
        .sum();
    let passed = report
        .lines()
        .filter(|l| l.contains(" passed for resource "))
        .count();
    assert_eq!(passed, objects, "{report}");
    assert!(objects >= 20, "{objects} objects");
}

/// The workloads the issue names, with what they must have.
#[test]
fn the_workloads_have_what_users_rely_on() {
    let manifest = all_in_one();
    let daemon_set = manifest.object("DaemonSet", "node-exporter-arm64").unwrap();
    assert_eq!(
        daemon_set["metadata"]["namespace"].as_str(),
        Some("monitoring")
    );
    let pod = &daemon_set["spec"]["template"]["spec"];
    let containers = pod["containers"].as_sequence().unwrap();
    let names: Vec<&str> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["node-exporter", "metric-sidecar"]);
    for container in containers {
        let name = container["name"].as_str().unwrap();
        for probe in ["livenessProbe", "readinessProbe"] {
            assert!(!container[probe].is_null(), "{name}: {probe}");
        }
        for key in ["requests", "limits"] {
            assert!(
                !container["resources"][key]["memory"].is_null(),
                "{name}: {key}"
            );
        }
        let env = container["env"].as_sequence().unwrap();
        let node_name = env
            .iter()
            .find(|e| e["name"].as_str() == Some("NODE_NAME"))
            .unwrap();
        assert_eq!(
            node_name["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
            Some("spec.nodeName"),
            "{name}"
        );
        assert!(
            env.iter().any(|e| e["name"].as_str() == Some("TZ")),
            "{name}: TZ"
        );
        let mounts = container["volumeMounts"].as_sequence().unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m["mountPath"].as_str() == Some("/etc/localtime")),
            "{name}: /etc/localtime"
        );
    }
    // No architecture pinning: the DaemonSet runs on amd64 nodes too.
    assert!(!format!("{:?}", pod["nodeSelector"]).contains("arch"));
    let tolerations = format!("{:?}", pod["tolerations"]);
    assert!(
        tolerations.contains("node-role.kubernetes.io/control-plane"),
        "{tolerations}"
    );

    // The textfile directory the sidecar writes is the one the exporter reads.
    let exporter = manifest
        .container_args("DaemonSet", "node-exporter-arm64", "node-exporter")
        .unwrap();
    let sidecar = manifest
        .container_args("DaemonSet", "node-exporter-arm64", "metric-sidecar")
        .unwrap();
    let directory = flag(&exporter, "--collector.textfile.directory");
    let output = flag(&sidecar, "--output");
    assert_eq!(Path::new(output).parent().unwrap(), Path::new(directory));
    for (flag_name, host) in [
        ("--path.procfs", "/proc"),
        ("--path.sysfs", "/sys"),
        ("--path.rootfs", "/"),
    ] {
        let mounted = flag(&exporter, flag_name);
        let volume = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["hostPath"]["path"].as_str() == Some(host))
            .unwrap_or_else(|| panic!("no hostPath volume for {host}"));
        let mount = containers[0]["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["name"] == volume["name"])
            .unwrap();
        assert_eq!(mount["mountPath"].as_str(), Some(mounted), "{flag_name}");
        assert_eq!(mount["readOnly"].as_bool(), Some(true), "{flag_name}");
    }

    // edge-master: one replica (SQLite), its data on a claim, discovery through the
    // headless Service over the exporters.
    let master = manifest.object("Deployment", "edge-master").unwrap();
    assert_eq!(master["spec"]["replicas"].as_u64(), Some(1));
    let headless = manifest.object("Service", "node-exporter").unwrap();
    assert_eq!(headless["spec"]["clusterIP"].as_str(), Some("None"));
    let master_args = manifest
        .container_args("Deployment", "edge-master", "edge-master")
        .unwrap();
    assert!(
        flag(&master_args, "--discover-dns").starts_with("node-exporter.monitoring.svc"),
        "{master_args:?}"
    );
    manifest
        .object("PersistentVolumeClaim", "edge-master-data")
        .unwrap();

    // Prometheus takes remote writes; vmagent keeps its queue on the host.
    let prometheus = manifest
        .container_args("Deployment", "prometheus", "prometheus")
        .unwrap();
    assert!(prometheus
        .iter()
        .any(|a| a == "--web.enable-remote-write-receiver"));
    let vmagent = manifest
        .container_args("DaemonSet", "vmagent", "vmagent")
        .unwrap();
    flag(&vmagent, "-remoteWrite.maxDiskUsagePerURL");
    let queue = flag(&vmagent, "-remoteWrite.tmpDataPath");
    let vmagent_pod = &manifest.object("DaemonSet", "vmagent").unwrap()["spec"]["template"]["spec"];
    let queue_mount = vmagent_pod["containers"][0]["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| queue.starts_with(m["mountPath"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("{queue} is not on a volume"));
    let queue_volume = vmagent_pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == queue_mount["name"])
        .unwrap();
    assert!(!queue_volume["hostPath"].is_null(), "{queue_volume:?}");
}

/// Our images in the manifests are the Dockerfile's targets, and each program's
/// container runs the binary that image holds.
#[test]
fn our_images_are_the_dockerfiles_targets() {
    let dockerfile = read("Dockerfile");
    let text = read("manifests/all-in-one.yaml");
    let mut images: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: ghcr.io/edge-metrics/"))
        .collect();
    images.sort();
    images.dedup();
    let names: Vec<&str> = images
        .iter()
        .map(|i| i.split(':').next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["edge-exporter", "edge-master", "edge-sidecar"],
        "{images:?}"
    );
    for name in names {
        assert!(
            dockerfile.contains(&format!(" AS {name}\n")),
            "no target {name}"
        );
        assert!(
            dockerfile.contains(&format!("ENTRYPOINT [\"/usr/local/bin/{name}\"]")),
            "{name}"
        );
    }
}

/// The value of `name=value` among `args`, which must be there.
fn flag<'a>(args: &'a [String], name: &str) -> &'a str {
    flag_value(args, name).unwrap_or_else(|| panic!("{name} is not among {args:?}"))
}

#[test]
fn prometheus_config_and_rules_pass_promtool() {
    let dir = root().join("manifests/prometheus");
    let promtool = || {
        let mut command = tool("promtool", "Debian prometheus");
        command.current_dir(&dir);
        command
    };
    let config = succeeds(promtool().args(["check", "config", "prometheus.yml"]));
    let said = String::from_utf8_lossy(&config.stdout);
    assert!(said.contains("SUCCESS: 1 rule files found"), "{said}");
    let rules = succeeds(promtool().args(["check", "rules", "alerts.yml"]));
    let said = String::from_utf8_lossy(&rules.stdout);
    assert!(said.contains("SUCCESS: 8 rules found"), "{said}");
    // The rules' own unit tests: each alert fires above its threshold and not below.
    let tests = succeeds(promtool().args(["test", "rules", "alerts_test.yml"]));
    assert!(String::from_utf8_lossy(&tests.stdout).contains("SUCCESS"));
}

#[test]
fn vmagent_accepts_the_scrape_config() {
    let config = root().join("manifests/vmagent/scrape.yml");
    let output = succeeds(
        tool("vmagent", "Debian victoria-metrics")
            .env("NODE_NAME", "edge-1")
            .arg("-dryRun")
            .arg("-loggerLevel=ERROR")
            .arg(format!("-promscrape.config={}", config.display())),
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The units as installed, with `ExecStart` pointing at this workspace's binaries
/// so that systemd-analyze checks the rest for real.
#[test]
fn systemd_units_verify() {
    let dir = tempfile::tempdir().unwrap();
    let units = ["edge-exporter", "edge-sidecar", "edge-master"];
    for unit in units {
        let text = read(&format!("manifests/systemd/{unit}.service"));
        let installed = format!("/usr/local/bin/{unit}");
        assert!(
            text.contains(&format!("ExecStart={installed}")),
            "{unit}: {text}"
        );
        // Above systemd's default 1,024 and the servers' connection cap (256).
        assert!(
            text.lines().any(|l| l == "LimitNOFILE=8192"),
            "{unit}: no LimitNOFILE"
        );
        let binary = workspace_binary(unit);
        let text = text.replace(&installed, binary.to_str().unwrap());
        std::fs::write(dir.path().join(format!("{unit}.service")), text).unwrap();
    }
    let output = tool("systemd-analyze", "Debian systemd")
        .arg("verify")
        .arg("--man=no")
        .args(units.map(|u| dir.path().join(format!("{u}.service"))))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    // Outside a booted systemd, verify also reports the host's own units; only lines
    // about ours count.
    let ours: Vec<&str> = said.lines().filter(|l| l.contains("edge-")).collect();
    assert!(ours.is_empty(), "{said}");
    assert!(output.status.success(), "{said}");
}

#[test]
fn dashboards_are_grafana_json_queried_by_node() {
    for (file, uid) in [
        (
            "grafana/dashboards/node-overview.json",
            "edge-node-overview",
        ),
        ("grafana/dashboards/edge-sensors.json", "edge-sensors"),
    ] {
        let dashboard: serde_json::Value = serde_json::from_str(&read(file)).unwrap();
        assert_eq!(dashboard["uid"].as_str(), Some(uid), "{file}");
        assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36, "{file}");
        let variables = dashboard["templating"]["list"].as_array().unwrap();
        assert!(
            variables
                .iter()
                .any(|v| v["name"] == "node" && v["type"] == "query"),
            "{file}"
        );
        let queries = dashboard::queries(&dashboard).unwrap();
        assert!(queries.len() >= 8, "{file}: {} queries", queries.len());
        for dashboard::Query { expr, .. } in queries {
            assert!(expr.contains("$node"), "{file}: {expr}");
            for function in ["rate(", "increase("] {
                if expr.contains(function) {
                    assert!(expr.contains("[$__rate_interval]"), "{file}: {expr}");
                }
            }
        }
    }
    // The provider reads the directory the Grafana Deployment mounts the dashboards at.
    let provider = read("grafana/provisioning/dashboards/edge-metrics.yaml");
    let provider: yaml_serde::Value = yaml_serde::from_str(&provider).unwrap();
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let manifest = all_in_one();
    let grafana = &manifest.object("Deployment", "grafana").unwrap()["spec"]["template"]["spec"];
    let mount = format!("{:?}", grafana["containers"][0]["volumeMounts"]);
    assert!(mount.contains(path), "{path} not mounted: {mount}");
}
