//! Platform users: one identity per email address across tenants.

use crate::Outcome;
use crate::db::{PlatformDb, int, text};
use serde::Deserialize;
use tenantry_core::mail::Address;
use worker::{D1Database, D1PreparedStatement};

/// The user an email address names: its id, and the statement that creates it when it
/// does not exist yet (to go in the same D1 batch as what makes it a member).
pub struct UserFor {
    pub id: String,
    pub insert: Option<D1PreparedStatement>,
}

/// Finds the user with `email`, or prepares a new one.
pub async fn user_for(db: &D1Database, email: &Address, now: i64) -> Outcome<UserFor> {
    #[derive(Deserialize)]
    struct UserRow {
        id: String,
    }
    let platform = PlatformDb(db);
    let existing: Option<UserRow> = platform
        .first(
            "SELECT id FROM users WHERE email = ?1",
            &[text(email.as_str())],
        )
        .await?;
    Ok(match existing {
        Some(user) => UserFor {
            id: user.id,
            insert: None,
        },
        None => {
            let id = crate::new_id("u");
            let insert = platform.statement(
                "INSERT INTO users (id, email, created_at) VALUES (?1, ?2, ?3)",
                &[text(&id), text(email.as_str()), int(now)],
            )?;
            UserFor {
                id,
                insert: Some(insert),
            }
        }
    })
}
