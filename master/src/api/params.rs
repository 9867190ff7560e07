//! The one extractor of the read routes: their path parameters and their query
//! string in one step, refused as an [`ApiError`] (a status and `{"error": …}`).

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `P` is the route's path parameters (`()` for none, `String` for one, a tuple for
/// several); the query is kept as its name/value pairs, which each route reads.
#[derive(Debug)]
pub struct Params<P> {
    pub path: P,
    pub query: HashMap<String, String>,
}

impl<P, S> FromRequestParts<S> for Params<P>
where
    P: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(path) = Path::<P>::from_request_parts(parts, state).await?;
        let Query(query) = Query::from_request_parts(parts, state).await?;
        Ok(Params { path, query })
    }
}

/// The `cluster_id` query parameter, which the `?cluster_id=` routes require (not
/// empty); `missing` is the 400's message, which differs between the route families.
pub fn cluster_id(query: &HashMap<String, String>, missing: &str) -> Result<String, ApiError> {
    match query.get("cluster_id") {
        Some(cluster) if !cluster.is_empty() => Ok(cluster.clone()),
        _ => Err(ApiError::BadRequest(missing.to_owned())),
    }
}

/// atlhyper's 400 message for a missing `cluster_id` today (observe routes, and the
/// current history shape).
pub const CLUSTER_ID_REQUIRED: &str = "cluster_id is required";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_is_required_and_not_empty() {
        let query = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            cluster_id(&query(&[("cluster_id", "edge")]), "m").ok(),
            Some("edge".to_owned())
        );
        for bad in [query(&[]), query(&[("cluster_id", "")])] {
            assert_eq!(
                cluster_id(&bad, "needed").unwrap_err().to_string(),
                "needed"
            );
        }
    }
}
