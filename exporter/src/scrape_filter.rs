//! node_exporter's URL parameters for one scrape: `collect[]=<name>` (repeatable) runs
//! only the named collectors, `exclude[]=<name>` (since 1.9) all enabled ones but those;
//! both together are refused. Prometheus passes them from a scrape config's `params:`.
//!
//! As in node_exporter, a `collect[]` name must be an enabled collector ("missing
//! collector" when it does not exist, "disabled collector" when it is off), while an
//! `exclude[]` name that matches nothing is ignored. Each answer that refuses is a 400
//! with node_exporter's wording.

/// The most `collect[]`/`exclude[]` values one request may carry; a query with more
/// is refused (there are fewer than a hundred collectors to name).
pub const MAX_FILTER_NAMES: usize = 128;

/// Which collectors one scrape runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrapeFilter {
    All,
    Only(Vec<String>),
    Except(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("Combined collect and exclude queries are not allowed.")]
    Combined,
    #[error("Couldn't create filtered metrics handler: missing collector: {0}")]
    Missing(String),
    #[error("Couldn't create filtered metrics handler: disabled collector: {0}")]
    Disabled(String),
    #[error("more than {MAX_FILTER_NAMES} collect[]/exclude[] values")]
    TooMany,
}

impl ScrapeFilter {
    /// Reads the raw query string (`None` when the URL has none); `enabled` names the
    /// collectors this exporter runs, `known` every collector it has.
    pub fn from_query(
        query: Option<&str>,
        enabled: &[&str],
        known: &[&str],
    ) -> Result<ScrapeFilter, FilterError> {
        let (mut collect, mut exclude) = (Vec::new(), Vec::new());
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let is_collect = match key.as_ref() {
                "collect[]" => true,
                "exclude[]" => false,
                _ => continue,
            };
            if collect.len() + exclude.len() >= MAX_FILTER_NAMES {
                return Err(FilterError::TooMany);
            }
            let list = if is_collect {
                &mut collect
            } else {
                &mut exclude
            };
            list.push(value.into_owned());
        }
        match (collect.is_empty(), exclude.is_empty()) {
            (true, true) => Ok(ScrapeFilter::All),
            (false, false) => Err(FilterError::Combined),
            (false, true) => {
                for name in &collect {
                    if !enabled.contains(&name.as_str()) {
                        let exists = known.contains(&name.as_str());
                        return Err(if exists {
                            FilterError::Disabled(name.clone())
                        } else {
                            FilterError::Missing(name.clone())
                        });
                    }
                }
                Ok(ScrapeFilter::Only(collect))
            }
            (true, false) => Ok(ScrapeFilter::Except(exclude)),
        }
    }

    /// Whether collector `name` runs in this scrape.
    pub fn runs(&self, name: &str) -> bool {
        match self {
            ScrapeFilter::All => true,
            ScrapeFilter::Only(names) => names.iter().any(|n| n == name),
            ScrapeFilter::Except(names) => !names.iter().any(|n| n == name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENABLED: &[&str] = &["cpu", "meminfo", "loadavg"];
    const KNOWN: &[&str] = &["cpu", "meminfo", "loadavg", "textfile"];

    fn parse(query: &str) -> Result<ScrapeFilter, FilterError> {
        ScrapeFilter::from_query(Some(query), ENABLED, KNOWN)
    }

    #[test]
    fn collect_and_exclude_select_collectors() {
        assert_eq!(
            ScrapeFilter::from_query(None, ENABLED, KNOWN),
            Ok(ScrapeFilter::All)
        );
        assert_eq!(parse("foo=bar"), Ok(ScrapeFilter::All));
        let only = parse("collect%5B%5D=cpu&collect[]=loadavg").unwrap();
        assert!(only.runs("cpu") && only.runs("loadavg") && !only.runs("meminfo"));
        let except = parse("exclude[]=cpu&exclude[]=nosuch").unwrap();
        assert!(!except.runs("cpu") && except.runs("meminfo"));
    }

    #[test]
    fn refusals_use_node_exporters_words() {
        assert_eq!(
            parse("collect[]=cpu&exclude[]=meminfo"),
            Err(FilterError::Combined)
        );
        assert_eq!(
            parse("collect[]=nosuch").unwrap_err().to_string(),
            "Couldn't create filtered metrics handler: missing collector: nosuch"
        );
        // A real collector that is not enabled here.
        assert_eq!(
            parse("collect[]=textfile").unwrap_err().to_string(),
            "Couldn't create filtered metrics handler: disabled collector: textfile"
        );
        let many = vec!["exclude[]=x"; MAX_FILTER_NAMES + 1].join("&");
        assert_eq!(parse(&many), Err(FilterError::TooMany));
        let enough = vec!["exclude[]=x"; MAX_FILTER_NAMES].join("&");
        assert!(parse(&enough).is_ok());
    }
}
