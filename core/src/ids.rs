//! Resource ids: `{prefix}_{24 lowercase hex}`, checked before any query so a malformed
//! id costs nothing and reaches no database.

use crate::problem::{ErrorCode, Problem};

/// Hex digits after the prefix (96 random bits).
pub const ID_HEX_LEN: usize = 24;

/// An id that is not `{prefix}_` followed by [`ID_HEX_LEN`] lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be {prefix}_ followed by 24 hex digits")]
pub struct MalformedId {
    /// The prefix the id should have had.
    pub prefix: &'static str,
}

impl From<MalformedId> for Problem {
    fn from(error: MalformedId) -> Self {
        Problem::new(ErrorCode::InvalidRequest, alloc::format!("id: {error}")).with("field", "id")
    }
}

/// Checks that `id` is a well-formed id with `prefix`.
pub fn check(id: &str, prefix: &'static str) -> Result<(), MalformedId> {
    let well_formed = id
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|hex| {
            hex.len() == ID_HEX_LEN
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
    if well_formed {
        Ok(())
    } else {
        Err(MalformedId { prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn only_the_prefix_and_24_lowercase_hex_digits_pass() {
        assert!(check("t_0123456789abcdef01234567", "t").is_ok());
        for bad in [
            "t_0123456789ABCDEF01234567",
            "t_0123456789abcdef0123456",
            "t_0123456789abcdef012345678",
            "x_0123456789abcdef01234567",
            "t0123456789abcdef01234567",
            "",
            "t_",
        ] {
            assert_eq!(check(bad, "t"), Err(MalformedId { prefix: "t" }), "{bad}");
        }
    }

    #[test]
    fn the_problem_names_the_field() {
        let problem = Problem::from(MalformedId { prefix: "cli" });
        assert_eq!(problem.code, ErrorCode::InvalidRequest);
        assert!(problem.detail.contains("cli_"));
    }
}
