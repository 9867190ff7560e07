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
