//! Temperatures: every hwmon temperature sensor (`node_hwmon_temp_*_celsius{chip,sensor}`)
//! and the CPU temperature, from a CPU chip's sensors or else a CPU thermal zone
//! (`node_thermal_zone_temp{type,zone}`).

use std::collections::HashMap;

use super::series::Series;
use crate::model::{SensorTemperature, TemperatureMetrics};

/// hwmon chip names (`/sys/class/hwmon/*/name`) that measure the CPU.
const CPU_CHIPS: [&str; 7] = [
    "k10temp",
    "coretemp",
    "zenpower",
    "cpu_thermal",
    "cpu-thermal",
    "soc_thermal",
    "soc-thermal",
];
/// Thermal zone types that measure the CPU.
const CPU_ZONES: [&str; 4] = ["cpu-thermal", "soc-thermal", "x86_pkg_temp", "acpitz"];
/// `cpu_temp_max` when the CPU sensor gives no critical or maximum temperature.
const DEFAULT_CPU_MAX: f64 = 100.0;

pub(super) fn record(series: &Series) -> TemperatureMetrics {
    // node_exporter's `chip` label is the device path (platform_coretemp_0) when
    // there is one; the chip's own name is in node_hwmon_chip_names.
    let chip_names: HashMap<&str, &str> = series
        .samples("node_hwmon_chip_names")
        .filter_map(|s| Some((s.label("chip")?, s.label("chip_name")?)))
        .collect();
    let limit = |family: &str, chip: &str, sensor: &str| {
        series
            .samples(family)
            .find(|s| s.label("chip") == Some(chip) && s.label("sensor") == Some(sensor))
            .map(|s| s.value)
    };

    let mut sensors = Vec::new();
    // The hottest CPU sensor: (current, its limit).
    let mut cpu: Option<(f64, Option<f64>)> = None;
    for sample in series.samples("node_hwmon_temp_celsius") {
        let (Some(chip), Some(sensor)) = (sample.label("chip"), sample.label("sensor")) else {
            continue;
        };
        let name = chip_names.get(chip).copied().unwrap_or(chip);
        let max = limit("node_hwmon_temp_max_celsius", chip, sensor);
        let critical = limit("node_hwmon_temp_crit_celsius", chip, sensor);
        if CPU_CHIPS.contains(&name) && cpu.is_none_or(|(hottest, _)| sample.value > hottest) {
            cpu = Some((sample.value, critical.or(max)));
        }
        let label = series
            .samples("node_hwmon_sensor_label")
            .find(|s| s.label("chip") == Some(chip) && s.label("sensor") == Some(sensor))
            .and_then(|s| s.label("label"))
            .unwrap_or(sensor);
        sensors.push(SensorTemperature {
            name: name.to_string(),
            label: label.to_string(),
            current: sample.value,
            max: max.unwrap_or(0.0),
            critical: critical.unwrap_or(0.0),
        });
    }

    let zones: Vec<(&str, &str, f64)> = series
        .samples("node_thermal_zone_temp")
        .filter_map(|s| Some((s.label("type")?, s.label_or_empty("zone"), s.value)))
        .collect();
    if cpu.is_none() {
        cpu = zones
            .iter()
            .filter(|(kind, _, _)| CPU_ZONES.contains(kind))
            .map(|(_, _, celsius)| *celsius)
            .reduce(f64::max)
            .map(|celsius| (celsius, None));
    }
    // Thermal zones usually repeat what hwmon shows; list them only when hwmon is silent.
    if sensors.is_empty() {
        sensors.extend(zones.iter().map(|(kind, zone, celsius)| SensorTemperature {
            name: kind.to_string(),
            label: format!("thermal_zone{zone}"),
            current: *celsius,
            ..SensorTemperature::default()
        }));
    }

    let (cpu_temp, cpu_max) = cpu.unwrap_or((0.0, None));
    TemperatureMetrics {
        cpu_temp,
        cpu_temp_max: cpu_max.unwrap_or(DEFAULT_CPU_MAX),
        sensors,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;

    fn temperature(text: &str) -> TemperatureMetrics {
        let scrape = scrape(text, 0);
        record(&Series::new(&scrape.families))
    }

    #[test]
    fn hwmon_sensors_of_the_edge_fixture() {
        let metrics = temperature(EDGE);
        // Both cpu_thermal (51.54) and coretemp (46, 44) are CPU chips; cpu_thermal
        // gives no limit.
        assert_eq!((metrics.cpu_temp, metrics.cpu_temp_max), (51.54, 100.0));
        // 10, plus a GPU and three radios of one wifi card (chip labels of node_exporter
        // 1.12: ieee80211_phy0_mt7996_phy0_N).
        assert_eq!(metrics.sensors.len(), 14);
        let package = metrics
            .sensors
            .iter()
            .find(|s| s.label == "Package id 0")
            .unwrap();
        assert_eq!(
            *package,
            SensorTemperature {
                name: "coretemp".into(),
                label: "Package id 0".into(),
                current: 46.0,
                max: 100.0,
                critical: 100.0,
            }
        );
        let sht = metrics.sensors.iter().find(|s| s.name == "sht3x").unwrap();
        assert_eq!(
            (
                sht.name.as_str(),
                sht.label.as_str(),
                sht.current,
                sht.max,
                sht.critical
            ),
            ("sht3x", "temp1", 23.45, 60.0, 0.0)
        );
    }

    #[test]
    fn coretemp_by_its_chip_name_with_its_critical_limit() {
        let text = without(
            EDGE,
            "node_hwmon_temp_celsius{chip=\"cpu_thermal\",sensor=\"temp1\"}",
        );
        let text = with_value(
            &text,
            "node_hwmon_temp_crit_celsius{chip=\"platform_coretemp_0\",sensor=\"temp1\"}",
            105.0,
        );
        let metrics = temperature(&text);
        // The hottest coretemp sensor is the package (46 °C), not the thermal zone
        // cpu-thermal (51.54) nor the hotter PCH (47.5).
        assert_eq!((metrics.cpu_temp, metrics.cpu_temp_max), (46.0, 105.0));
    }

    #[test]
    fn max_when_no_critical_and_chip_label_when_no_names() {
        let text =
            "node_hwmon_temp_celsius{chip=\"pci0000:00_0000:00:18_3\",sensor=\"temp1\"} 61.25
node_hwmon_temp_max_celsius{chip=\"pci0000:00_0000:00:18_3\",sensor=\"temp1\"} 70
node_hwmon_chip_names{chip=\"pci0000:00_0000:00:18_3\",chip_name=\"k10temp\"} 1
node_hwmon_temp_celsius{chip=\"soc_thermal\",sensor=\"temp1\"} 40
";
        let metrics = temperature(text);
        assert_eq!((metrics.cpu_temp, metrics.cpu_temp_max), (61.25, 70.0));
        let soc = without(
            text,
            "node_hwmon_temp_celsius{chip=\"pci0000:00_0000:00:18_3\",sensor=\"temp1\"}",
        );
        let metrics = temperature(&soc);
        assert_eq!((metrics.cpu_temp, metrics.cpu_temp_max), (40.0, 100.0));
        assert_eq!(metrics.sensors[0].name, "soc_thermal");
    }

    #[test]
    fn thermal_zones_when_no_cpu_chip() {
        let text = "node_thermal_zone_temp{type=\"acpitz\",zone=\"0\"} 27.8
node_thermal_zone_temp{type=\"x86_pkg_temp\",zone=\"1\"} 48.5
node_thermal_zone_temp{type=\"iwlwifi_1\",zone=\"2\"} 55
";
        let metrics = temperature(text);
        assert_eq!((metrics.cpu_temp, metrics.cpu_temp_max), (48.5, 100.0));
        let zones: Vec<(&str, &str, f64)> = metrics
            .sensors
            .iter()
            .map(|s| (s.name.as_str(), s.label.as_str(), s.current))
            .collect();
        assert_eq!(
            zones,
            [
                ("acpitz", "thermal_zone0", 27.8),
                ("x86_pkg_temp", "thermal_zone1", 48.5),
                ("iwlwifi_1", "thermal_zone2", 55.0)
            ]
        );
        // With a non-CPU hwmon chip, zones still give the CPU but are not listed.
        let nvme = format!(
            "{text}node_hwmon_temp_celsius{{chip=\"nvme_nvme0\",sensor=\"temp1\"}} 38.85\n"
        );
        let metrics = temperature(&nvme);
        assert_eq!(metrics.cpu_temp, 48.5);
        assert_eq!(metrics.sensors.len(), 1);
    }

    #[test]
    fn nothing_to_read() {
        let metrics = temperature("node_load1 0.5\n");
        assert_eq!((metrics.cpu_temp, metrics.cpu_temp_max), (0.0, 100.0));
        assert!(metrics.sensors.is_empty());
    }
}
