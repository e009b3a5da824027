//! Keyset paging of a list (the rule is `tenantry_core::page`): reads `limit` and
//! `cursor` from the query, writes the SQL that reads one row more than the page, and
//! turns the rows into the page and its `next_cursor`.

use crate::Outcome;
use crate::db::{int, text};
use serde_json::Value;
use tenantry_core::page::PageRequest;
use wasm_bindgen::JsValue;
use worker::Request;

/// A list's sort key: its columns (unique together, the last one an id) and direction.
pub struct Order {
    /// Columns as the query names them, e.g. `["created_at", "id"]`.
    pub columns: &'static [&'static str],
    /// Newest first.
    pub descending: bool,
}

/// The page a request asks for.
pub struct Page {
    request: PageRequest,
    order: &'static Order,
}

impl Page {
    /// Reads `limit` and `cursor`; 400 naming the field when either is wrong.
    pub fn from_request(req: &Request, order: &'static Order) -> Outcome<Self> {
        let url = req.url().map_err(crate::internal)?;
        let limit = crate::http::query_param(&url, "limit");
        let cursor = crate::http::query_param(&url, "cursor");
        let request = PageRequest::parse(limit.as_deref(), cursor.as_deref(), order.columns.len())?;
        Ok(Page { request, order })
    }

    /// ` AND (a, b) > (?n, ?n+1) ORDER BY a, b LIMIT {limit + 1}` and its arguments,
    /// numbered from `?{first_param}`; to append to a query whose `WHERE` is open.
    pub fn clause(&self, first_param: usize) -> (String, Vec<JsValue>) {
        let columns = self.order.columns.join(", ");
        let direction = if self.order.descending { " DESC" } else { "" };
        let order_by = self
            .order
            .columns
            .iter()
            .map(|c| format!("{c}{direction}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut sql = String::new();
        let mut args = Vec::new();
        if let Some(after) = &self.request.after {
            let params = (0..after.len())
                .map(|i| format!("?{}", first_param + i))
                .collect::<Vec<_>>()
                .join(", ");
            let op = if self.order.descending { "<" } else { ">" };
            sql.push_str(&format!(" AND ({columns}) {op} ({params})"));
            args.extend(after.iter().map(|v| match v {
                Value::String(s) => text(s),
                other => int(other.as_i64().unwrap_or(0)),
            }));
        }
        sql.push_str(&format!(
            " ORDER BY {order_by} LIMIT {}",
            self.request.limit + 1
        ));
        (sql, args)
    }

    /// The page's rows and the cursor of the next page (`None` on the last).
    pub fn finish<T>(
        &self,
        rows: Vec<T>,
        key: impl Fn(&T) -> Vec<Value>,
    ) -> (Vec<T>, Option<String>) {
        self.request.finish(rows, key)
    }
}
