//! The PromQL a Grafana dashboard runs: its panels' targets, and the same with
//! Grafana's variables filled in the way Grafana fills them.

use serde_json::Value;

/// A dashboard whose queries cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DashboardError {
    #[error("panel {panel:?}: a target without an expression")]
    TargetWithoutExpression { panel: String },
}

/// One panel target: the panel's title and the expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub panel: String,
    pub expr: String,
}

/// Every panel target's expression, panels inside rows included; a target without
/// an expression is an error naming its panel.
pub fn queries(dashboard: &Value) -> Result<Vec<Query>, DashboardError> {
    fn walk(panels: &Value, out: &mut Vec<Query>) -> Result<(), DashboardError> {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("(untitled)").to_string();
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap_or_default();
                if expr.trim().is_empty() {
                    return Err(DashboardError::TargetWithoutExpression { panel: title });
                }
                out.push(Query {
                    panel: title.clone(),
                    expr: expr.to_string(),
                });
            }
            walk(&panel["panels"], out)?;
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out)?;
    Ok(out)
}

/// `expr` with the template variables `variables` (name, value) and Grafana's
/// interval variables substituted: `$__rate_interval` and `$__interval` by
/// `rate_interval` / `interval`, `$__range` by `range`.
pub fn substitute(
    expr: &str,
    variables: &[(&str, &str)],
    interval: &str,
    rate_interval: &str,
    range: &str,
) -> String {
    let mut out = expr
        .replace("$__rate_interval", rate_interval)
        .replace("${__rate_interval}", rate_interval)
        .replace("$__interval", interval)
        .replace("${__interval}", interval)
        .replace("$__range", range)
        .replace("${__range}", range);
    for (name, value) in variables {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_targets_in_rows_and_names_a_panel_without_expr() {
        let dashboard = serde_json::json!({"panels": [
            {"title": "a", "targets": [{"expr": "up"}, {"expr": "x"}]},
            {"title": "row", "type": "row", "panels": [{"title": "b", "targets": [{"expr": "y"}]}]},
        ]});
        let exprs: Vec<String> = queries(&dashboard)
            .unwrap()
            .into_iter()
            .map(|q| q.expr)
            .collect();
        assert_eq!(exprs, ["up", "x", "y"]);
        let broken = serde_json::json!({"panels": [{"title": "c", "targets": [{"refId": "A"}]}]});
        assert_eq!(
            queries(&broken).unwrap_err().to_string(),
            "panel \"c\": a target without an expression"
        );
    }

    #[test]
    fn substitutes_like_grafana() {
        assert_eq!(
            substitute(
                "rate(x{instance=\"$node\",n=\"${node}\"}[$__rate_interval]) / $__interval + $__range",
                &[("node", "edge-1")],
                "15s",
                "1m",
                "5m"
            ),
            "rate(x{instance=\"edge-1\",n=\"edge-1\"}[1m]) / 15s + 5m"
        );
    }
}
