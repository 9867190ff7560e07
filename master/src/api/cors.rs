//! CORS for every route, as atlhyper's own server answers: `Access-Control-Allow-Origin`
//! on every response (`*` by default) and preflight `OPTIONS` answered with the methods
//! and headers its web client sends (`Authorization`, `Content-Type`). atlhyper_web is
//! often served from another origin than the API (a dev server, a separate host), and
//! without these headers the browser blocks every call.
//!
//! tower-http's `CorsLayer` does the protocol (preflight detection, `Vary`, the origin
//! match); this module only turns the flag into it.

use std::time::Duration;

use axum::http::{header, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The flag value that allows every origin.
pub const ANY_ORIGIN: &str = "*";

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Which origins may read the API from a browser page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// `Access-Control-Allow-Origin: *` (atlhyper's default).
    Any,
    /// Only these origins (`scheme://host[:port]`), echoed back when they ask.
    Only(Vec<HeaderValue>),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OriginError {
    #[error("{0:?}: an origin is scheme://host[:port] (no path), or * for any")]
    NotAnOrigin(String),
    #[error("* cannot be combined with other origins")]
    AnyAmongOthers,
}

impl AllowedOrigins {
    /// Parses the values of `--cors.allowed-origin`: `*`, or one origin per value.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Self, OriginError> {
        let values: Vec<&str> = values.into_iter().collect();
        if values.is_empty() || values == [ANY_ORIGIN] {
            return Ok(AllowedOrigins::Any);
        }
        if values.contains(&ANY_ORIGIN) {
            return Err(OriginError::AnyAmongOthers);
        }
        values
            .into_iter()
            .map(|origin| {
                is_origin(origin)
                    .then(|| HeaderValue::from_str(origin).ok())
                    .flatten()
                    .ok_or_else(|| OriginError::NotAnOrigin(origin.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(AllowedOrigins::Only)
    }

    pub fn layer(&self) -> CorsLayer {
        let origin = match self {
            AllowedOrigins::Any => AllowOrigin::any(),
            AllowedOrigins::Only(origins) => AllowOrigin::list(origins.iter().cloned()),
        };
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(PREFLIGHT_MAX_AGE)
    }
}

/// `http(s)://host[:port]` with nothing after the authority: what browsers send in
/// `Origin`.
fn is_origin(text: &str) -> bool {
    let Some((scheme, authority)) = text.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !authority.is_empty()
        && !authority.contains(['/', '?', '#', '@'])
        && authority.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_any_or_a_list_of_origins() {
        assert_eq!(AllowedOrigins::parse([]), Ok(AllowedOrigins::Any));
        assert_eq!(AllowedOrigins::parse(["*"]), Ok(AllowedOrigins::Any));
        assert_eq!(
            AllowedOrigins::parse(["http://127.0.0.1:3000", "https://atlhyper.example"]),
            Ok(AllowedOrigins::Only(vec![
                HeaderValue::from_static("http://127.0.0.1:3000"),
                HeaderValue::from_static("https://atlhyper.example"),
            ]))
        );
        assert_eq!(
            AllowedOrigins::parse(["*", "http://a"]),
            Err(OriginError::AnyAmongOthers)
        );
        for bad in [
            "atlhyper.example",
            "http://a/path",
            "ftp://a",
            "http://",
            "http://a b",
        ] {
            assert_eq!(
                AllowedOrigins::parse([bad]),
                Err(OriginError::NotAnOrigin(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
