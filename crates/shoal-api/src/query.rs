//! Query strings: a handler's parameters parsed with JSON 400s, without the `?token=`
//! the auth layer reads (so a client that authenticates that way is not refused by a
//! handler that knows only its own parameters).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The name of the query parameter that carries a token (see `auth.rs`).
const TOKEN: &str = "token";

/// A handler's query parameters: `T` (usually `deny_unknown_fields`) from the query
/// string without `token`; one that does not fit is a JSON 400.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        from_pairs(&pairs(parts.uri.query())?).map(Params)
    }
}

/// The decoded `key=value` pairs of a query string, in order, without `token`.
pub fn pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let all: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| bad(&e))?;
    Ok(all.into_iter().filter(|(k, _)| k != TOKEN).collect())
}

/// `pairs` as `T`.
pub fn from_pairs<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<T, ApiError> {
    let text = serde_urlencoded::to_string(pairs).map_err(|e| bad(&e))?;
    serde_urlencoded::from_str(&text).map_err(|e| bad(&e))
}

fn bad(e: &dyn std::fmt::Display) -> ApiError {
    ApiError::bad_request("bad query string").detail(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct P {
        limit: Option<u32>,
    }

    #[test]
    fn the_token_is_left_to_the_auth_layer() {
        let p: Result<P, _> = from_pairs(&pairs(Some("token=abc&limit=3")).unwrap_or_default());
        assert_eq!(p.ok(), Some(P { limit: Some(3) }));
        let p: Result<P, _> = from_pairs(&pairs(Some("limit=x")).unwrap_or_default());
        assert_eq!(p.map_err(|e| e.status.as_u16()).err(), Some(400));
        let p: Result<P, _> = from_pairs(&pairs(Some("other=1")).unwrap_or_default());
        assert!(p.is_err());
    }
}
