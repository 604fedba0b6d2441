//! sqlx's offline query data: one `.sqlx/query-<hash>.json` per query the backend runs, with its
//! SQL and the columns it expects back. `check-compat` reads it at a git ref, the linter from the
//! working tree.

use anyhow::{Context, Result};
use serde::Deserialize;

/// A query as sqlx's offline data records it.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordedQuery {
    pub query: String,
    pub describe: Describe,
    /// Where it was read from, for messages.
    #[serde(skip)]
    pub file: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Describe {
    pub columns: Vec<RecordedColumn>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecordedColumn {
    pub name: String,
    pub type_info: serde_json::Value,
}

impl RecordedQuery {
    /// Reads one query file's text; `file` names it in messages.
    pub fn parse(text: &str, file: String) -> Result<RecordedQuery> {
        let mut query: RecordedQuery =
            serde_json::from_str(text).with_context(|| format!("{file} is not sqlx query data"))?;
        query.file = file;
        Ok(query)
    }
}
