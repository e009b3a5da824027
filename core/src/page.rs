//! Bounded reads: every list takes `limit` (default 50, at most 200) and an opaque
//! `cursor`, and answers `next_cursor`. Lists are read by keyset (the sort key of the
//! last row shown), so a page costs the same wherever it is, and a cursor can only move
//! within rows the caller could read anyway (the tenant filter is never part of it).

use crate::problem::{ErrorCode, Problem};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// Rows of a page when the request names no `limit`.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 200;
/// The longest cursor accepted, in characters: room for the relay directory's, which
/// carries three keys of up to 254 bytes each.
const MAX_CURSOR_LEN: usize = 2048;

/// Why paging parameters were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// Not an integer from 1 to [`MAX_LIMIT`].
    #[error("limit must be an integer from 1 to 200")]
    Limit,
    /// Not a cursor this list handed out.
    #[error("cursor is not one this list handed out")]
    Cursor,
}

impl From<PageError> for Problem {
    fn from(error: PageError) -> Self {
        let field = match error {
            PageError::Limit => "limit",
            PageError::Cursor => "cursor",
        };
        Problem::new(
            ErrorCode::InvalidRequest,
            alloc::string::ToString::to_string(&error),
        )
        .with("field", field)
    }
}

/// A page asked for: how many rows, and after which sort key.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    /// Rows to answer.
    pub limit: usize,
    /// The sort key of the last row of the previous page, one value per sort column.
    pub after: Option<Vec<Value>>,
}

impl PageRequest {
    /// Reads `limit` and `cursor` for a list sorted by `arity` columns.
    pub fn parse(
        limit: Option<&str>,
        cursor: Option<&str>,
        arity: usize,
    ) -> Result<Self, PageError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or(PageError::Limit)?,
        };
        let after = match cursor {
            None | Some("") => None,
            Some(text) => Some(decode_cursor(text, arity)?),
        };
        Ok(PageRequest { limit, after })
    }

    /// Splits the `limit + 1` rows read into the page and the cursor of the next one
    /// (`None` on the last page).
    pub fn finish<T>(
        &self,
        mut rows: Vec<T>,
        key: impl Fn(&T) -> Vec<Value>,
    ) -> (Vec<T>, Option<String>) {
        if rows.len() <= self.limit {
            return (rows, None);
        }
        rows.truncate(self.limit);
        let next = rows.last().map(|last| encode_cursor(&key(last)));
        (rows, next)
    }
}

/// The cursor for a sort key.
pub fn encode_cursor(key: &[Value]) -> String {
    URL_SAFE_NO_PAD.encode(Value::Array(key.to_vec()).to_string())
}

fn decode_cursor(text: &str, arity: usize) -> Result<Vec<Value>, PageError> {
    if text.len() > MAX_CURSOR_LEN {
        return Err(PageError::Cursor);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| PageError::Cursor)?;
    let Ok(Value::Array(values)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(PageError::Cursor);
    };
    let scalars = values
        .iter()
        .all(|v| v.is_string() || v.is_i64() || v.is_u64());
    if values.len() != arity || !scalars {
        return Err(PageError::Cursor);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn limits_default_and_bounds() {
        assert_eq!(PageRequest::parse(None, None, 2).unwrap().limit, 50);
        assert_eq!(PageRequest::parse(Some("200"), None, 2).unwrap().limit, 200);
        for bad in ["0", "201", "-1", "ten", "", "1e2"] {
            assert_eq!(
                PageRequest::parse(Some(bad), None, 2),
                Err(PageError::Limit),
                "{bad}"
            );
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let page = PageRequest::parse(Some("2"), None, 2).unwrap();
        let (rows, next) = page.finish(vec![(1, "a"), (2, "b"), (3, "c")], |r| {
            vec![json!(r.0), json!(r.1)]
        });
        assert_eq!(rows, vec![(1, "a"), (2, "b")]);
        let next = next.unwrap();
        let again = PageRequest::parse(Some("2"), Some(&next), 2).unwrap();
        assert_eq!(again.after, Some(vec![json!(2), json!("b")]));
        let (last, none) = again.finish(vec![(3, "c")], |r| vec![json!(r.0), json!(r.1)]);
        assert_eq!((last.len(), none), (1, None));
        for bad in [
            "x",
            "!!!!",
            &encode_cursor(&[json!(1)]),
            &encode_cursor(&[json!({"a": 1}), json!(1)]),
            &URL_SAFE_NO_PAD.encode("{}"),
        ] {
            assert_eq!(
                PageRequest::parse(None, Some(bad), 2),
                Err(PageError::Cursor),
                "{bad}"
            );
        }
        assert_eq!(
            Problem::from(PageError::Cursor).code,
            ErrorCode::InvalidRequest
        );
        // The relay directory's cursor: three keys of the longest an address may be.
        let long = "a".repeat(254);
        let key = [json!(u64::MAX >> 11), json!(long), json!(long), json!(long)];
        let cursor = encode_cursor(&key);
        assert_eq!(
            PageRequest::parse(None, Some(&cursor), 4).unwrap().after,
            Some(key.to_vec())
        );
        let too_long = "A".repeat(MAX_CURSOR_LEN + 1);
        assert_eq!(
            PageRequest::parse(None, Some(&too_long), 4),
            Err(PageError::Cursor)
        );
    }

    proptest! {
        #[test]
        fn cursor_parsing_never_panics(text in "\\PC{0,80}") {
            let _ = PageRequest::parse(Some(&text), Some(&text), 2);
        }
    }
}
