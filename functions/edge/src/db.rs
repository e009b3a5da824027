//! D1 access. Tenant-owned rows are reached only through [`TenantDb`], which binds the
//! tenant id as `?1` and refuses SQL that does not filter or write `tenant_id` with it.

use crate::{Outcome, internal};
use serde::de::DeserializeOwned;
use tenantry_core::{ErrorCode, Problem};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

/// The longest LIKE pattern D1 runs (its documented limit); a longer one is an error.
pub const MAX_LIKE_PATTERN_BYTES: usize = 50;

/// A `LIKE ... ESCAPE '\'` pattern matching any text that contains `needle`: its `%`, `_`
/// and `\` match themselves. `None` when the pattern would be longer than D1 allows.
pub fn contains_pattern(needle: &str) -> Option<String> {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    (pattern.len() <= MAX_LIKE_PATTERN_BYTES).then_some(pattern)
}

/// A D1 value for binding.
pub fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

/// An integer for binding (D1 numbers are f64; ids, times and counts fit).
pub fn int(value: i64) -> JsValue {
    JsValue::from_f64(value as f64)
}

/// An optional integer for binding.
pub fn opt_int(value: Option<i64>) -> JsValue {
    value.map_or(JsValue::NULL, int)
}

/// An optional text for binding.
pub fn opt_text(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

/// The tenant-scoped query layer.
pub struct TenantDb<'a> {
    db: &'a D1Database,
    tenant_id: String,
}

fn is_scoped(sql: &str) -> bool {
    let normal: String = sql
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    // `tenant_id` as a whole column name (`t.tenant_id` is fine, `other_tenant_id` is not).
    let filters = normal.match_indices("tenant_id = ?1").any(|(at, _)| {
        let before = normal[..at].chars().next_back();
        let after = normal[at + "tenant_id = ?1".len()..].chars().next();
        matches!(before, Some(' ' | '(' | '.')) && !after.is_some_and(|c| c.is_ascii_digit())
    });
    let inserts = normal.starts_with("insert")
        && normal.contains("(tenant_id,")
        && normal.contains("values (?1,");
    filters || inserts
}

impl<'a> TenantDb<'a> {
    /// The layer for one tenant.
    pub fn new(db: &'a D1Database, tenant_id: &str) -> Self {
        TenantDb {
            db,
            tenant_id: tenant_id.to_string(),
        }
    }

    /// The tenant.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// A statement with `?1` bound to the tenant and `args` as `?2`, `?3`, ...
    pub fn statement(&self, sql: &str, args: &[JsValue]) -> Outcome<D1PreparedStatement> {
        if !is_scoped(sql) {
            return Err(internal(format!("unscoped tenant query refused: {sql}")));
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        values.push(text(&self.tenant_id));
        values.extend_from_slice(args);
        self.db.prepare(sql).bind(&values).map_err(internal)
    }

    /// All rows.
    pub async fn all<T: DeserializeOwned>(&self, sql: &str, args: &[JsValue]) -> Outcome<Vec<T>> {
        rows(&all(self.statement(sql, args)?).await?)
    }

    /// The first row, if any.
    pub async fn first<T: DeserializeOwned>(
        &self,
        sql: &str,
        args: &[JsValue],
    ) -> Outcome<Option<T>> {
        decode(&first(self.statement(sql, args)?).await?)
    }

    /// The `n` of a `SELECT COUNT(*) AS n ...`.
    pub async fn count(&self, sql: &str, args: &[JsValue]) -> Outcome<u64> {
        #[derive(serde::Deserialize)]
        struct Count {
            n: f64,
        }
        Ok(self
            .first::<Count>(sql, args)
            .await?
            .map_or(0, |c| c.n as u64))
    }

    /// Runs a write and returns the number of rows changed.
    pub async fn run(&self, sql: &str, args: &[JsValue]) -> Outcome<usize> {
        let result = self.statement(sql, args)?.run().await.map_err(internal)?;
        Ok(result
            .meta()
            .map_err(internal)?
            .and_then(|m| m.changes)
            .unwrap_or(0))
    }

    /// Runs several writes atomically (a D1 batch is a transaction) and returns the
    /// number of rows each statement changed.
    pub async fn batch(&self, statements: Vec<D1PreparedStatement>) -> Outcome<Vec<usize>> {
        write_batch(self.db, statements).await
    }
}

/// Runs writes atomically and returns each one's changed rows; a UNIQUE violation is 409.
async fn write_batch(db: &D1Database, statements: Vec<D1PreparedStatement>) -> Outcome<Vec<usize>> {
    let results = db.batch(statements).await.map_err(|e| {
        let text = e.to_string();
        if text.contains("UNIQUE constraint failed") {
            Problem::new(
                ErrorCode::Conflict,
                "a resource with this key already exists",
            )
        } else {
            internal(text)
        }
    })?;
    Ok(results
        .iter()
        .map(|r| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0))
        .collect())
}

/// The columns of `tenants` that make a `tenantry_core::tenant::Tenant` (rows
/// deserialise straight into it).
pub const TENANT_COLUMNS: &str = "id, slug, name, plan, status";

/// Platform-level statements (tenants, users, hostnames, the relay's cross-tenant
/// directory read): not tenant-owned rows, or read for every tenant on purpose.
pub struct PlatformDb<'a>(pub &'a D1Database);

impl PlatformDb<'_> {
    /// A statement with `args` as `?1`, `?2`, ...
    pub fn statement(&self, sql: &str, args: &[JsValue]) -> Outcome<D1PreparedStatement> {
        self.0.prepare(sql).bind(args).map_err(internal)
    }

    /// All rows.
    pub async fn all<T: DeserializeOwned>(&self, sql: &str, args: &[JsValue]) -> Outcome<Vec<T>> {
        rows(&all(self.statement(sql, args)?).await?)
    }

    /// The first row, if any.
    pub async fn first<T: DeserializeOwned>(
        &self,
        sql: &str,
        args: &[JsValue],
    ) -> Outcome<Option<T>> {
        decode(&first(self.statement(sql, args)?).await?)
    }

    /// Runs writes built by this layer or by [`TenantDb::statement`] atomically.
    pub async fn batch(&self, statements: Vec<D1PreparedStatement>) -> Outcome<Vec<usize>> {
        write_batch(self.0, statements).await
    }

    /// Runs reads built by this layer or by [`TenantDb::statement`] in one round trip;
    /// read each answer with [`rows`].
    pub async fn read_batch(&self, statements: Vec<D1PreparedStatement>) -> Outcome<Vec<D1Result>> {
        self.0.batch(statements).await.map_err(internal)
    }
}

/// The rows of one answer of [`PlatformDb::read_batch`].
pub fn rows<T: DeserializeOwned>(result: &D1Result) -> Outcome<Vec<T>> {
    /// A row as the runtime answered it, taken across without being read.
    #[derive(serde::Deserialize)]
    struct Untouched(#[serde(with = "serde_wasm_bindgen::preserve")] JsValue);
    let untouched: Vec<Untouched> = result.results().map_err(internal)?;
    untouched.iter().map(|row| decode(&row.0)).collect()
}

// Rows are decoded from their JSON text with the deserializer that request bodies use
// already: with `serde_wasm_bindgen` as well, every row type would be compiled for two
// deserializers, and each field read would be a call across the JavaScript boundary.
// D1 answers TEXT, INTEGER, REAL and NULL columns only here (no BLOBs), which JSON keeps.
fn decode<T: DeserializeOwned>(value: &JsValue) -> Outcome<T> {
    let text = js_sys::JSON::stringify(value)
        .map_err(|e| internal(worker::Error::from(e)))?
        .as_string()
        .unwrap_or_else(|| "null".to_string());
    serde_json::from_str(&text).map_err(internal)
}

async fn all(statement: D1PreparedStatement) -> Outcome<D1Result> {
    statement.all().await.map_err(internal)
}

async fn first(statement: D1PreparedStatement) -> Outcome<JsValue> {
    let js_error = |e: JsValue| internal(worker::Error::from(e));
    let promise = statement.inner().first(None).map_err(js_error)?;
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(js_error)
}

#[cfg(test)]
mod tests {
    use super::{contains_pattern, is_scoped};

    #[test]
    fn a_contains_pattern_matches_wildcards_literally() {
        assert_eq!(contains_pattern("50%_a\\").unwrap(), "%50\\%\\_a\\\\%");
        assert_eq!(contains_pattern("").unwrap(), "%%");
        assert!(contains_pattern(&"0".repeat(48)).is_some());
        assert!(
            contains_pattern(&"0".repeat(49)).is_none(),
            "D1 refuses patterns over 50 bytes"
        );
        assert!(contains_pattern(&"%".repeat(25)).is_none());
    }

    #[test]
    fn only_tenant_scoped_sql_passes() {
        assert!(is_scoped(
            "SELECT * FROM clients WHERE tenant_id = ?1 AND id = ?2"
        ));
        assert!(is_scoped(
            "UPDATE clients SET name = ?2 WHERE tenant_id = ?1 AND id = ?3"
        ));
        assert!(is_scoped(
            "INSERT INTO clients (tenant_id, id) VALUES (?1, ?2)"
        ));
        assert!(!is_scoped("SELECT * FROM clients WHERE id = ?1"));
        assert!(!is_scoped("SELECT * FROM clients WHERE tenant_id = ?2"));
        assert!(!is_scoped("DELETE FROM clients"));
        assert!(!is_scoped("SELECT * FROM t WHERE other_tenant_id = ?1"));
        assert!(!is_scoped("SELECT * FROM t WHERE tenant_id = ?12"));
        assert!(is_scoped(
            "SELECT m.role FROM memberships m WHERE m.tenant_id = ?1"
        ));
    }
}
