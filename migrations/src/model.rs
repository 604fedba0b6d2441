//! The one model of a migration, shared by the embedded set (backend) and the on-disk set (xtask).

use std::fmt;
use std::path::{Path, PathBuf};

/// A migration version, as refinery stores it (`int4` in `refinery_schema_history`).
pub type Version = i32;

/// Which way a script moves the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A migration: an up script, its rollback, and what identifies it in the history table.
#[derive(Debug, Clone)]
pub struct Migration {
    pub version: Version,
    pub name: String,
    pub up: Script,
    pub down: Script,
    /// refinery's checksum of (name, version, up SQL); equal to what refinery's own runner stores.
    pub checksum: u64,
}

impl Migration {
    /// Builds a migration from its two scripts, computing the checksum exactly as refinery does.
    pub fn new(version: Version, name: String, up: Script, down: Script) -> Migration {
        let checksum = refinery_checksum(version, &name, &up.sql);
        Migration {
            version,
            name,
            up,
            down,
            checksum,
        }
    }

    /// `V0003__create_tickets`: how people and messages refer to a migration.
    pub fn label(&self) -> String {
        label(self.version, &self.name)
    }

    pub fn script(&self, direction: Direction) -> &Script {
        match direction {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        }
    }
}

/// `V0003__create_tickets`, the stem of the up file.
pub fn label(version: Version, name: &str) -> String {
    format!("V{version:04}__{name}")
}

/// refinery hashes the parsed name, the parsed version and the SQL; reusing its constructor keeps
/// our history rows byte-for-byte what refinery's runner would write.
fn refinery_checksum(version: Version, name: &str, sql: &str) -> u64 {
    refinery::Migration::unapplied(&format!("V{version}__{name}"), sql)
        .map(|migration| migration.checksum())
        .expect("a parsed migration name is always valid for refinery")
}

/// One SQL file of a migration with what its comment lines declare.
#[derive(Debug, Clone)]
pub struct Script {
    pub path: PathBuf,
    pub sql: String,
    pub directives: Directives,
    pub documentation: Documentation,
}

impl Script {
    pub fn file_name(&self) -> String {
        file_name(&self.path)
    }
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// What `-- xtask: ...` comment lines ask of the engine and the linter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// `-- xtask: no-transaction`: run outside a transaction block (CREATE INDEX CONCURRENTLY).
    pub no_transaction: bool,
    /// `-- xtask: maintenance-window`: the author accepts every risk finding of this file.
    pub maintenance_window: bool,
    /// `-- xtask: allow RULE -- reason`: one acknowledged lint rule each.
    pub allows: Vec<Allow>,
    /// `-- xtask: batched TABLE KEY [batch-time=200ms] [pause=0ms] [batch-size=1000]`: a data
    /// migration run in short transactions over key ranges, resumable (see [`Batched`]).
    pub batched: Option<Batched>,
    /// `-- xtask: rollback-data-hazard -- reason`: the round-trip's data hazard (a step that fails
    /// only once rows exist) is accepted, and why.
    pub data_hazard: Option<String>,
}

/// How a batched data migration walks its table. Its script is one statement that changes the
/// rows whose `key` is in `($1, $2]` (`$1` exclusive, `$2` inclusive); the engine picks the
/// ranges in key order so that each batch takes about `batch_time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batched {
    pub table: String,
    pub key: String,
    pub batch_time: std::time::Duration,
    pub pause: std::time::Duration,
    pub first_batch_size: i64,
}

impl Batched {
    pub const DEFAULT_BATCH_TIME: std::time::Duration = std::time::Duration::from_millis(200);
    pub const DEFAULT_FIRST_BATCH_SIZE: i64 = 1000;

    fn parse(words: &[&str]) -> Result<Batched, String> {
        const USAGE: &str =
            "expected `-- xtask: batched TABLE KEY [batch-time=200ms] [pause=0ms] [batch-size=1000]`";
        let [table, key, options @ ..] = words else {
            return Err(USAGE.to_owned());
        };
        let mut batched = Batched {
            table: (*table).to_owned(),
            key: (*key).to_owned(),
            batch_time: Batched::DEFAULT_BATCH_TIME,
            pause: std::time::Duration::ZERO,
            first_batch_size: Batched::DEFAULT_FIRST_BATCH_SIZE,
        };
        for option in options {
            let (name, value) = option.split_once('=').ok_or_else(|| USAGE.to_owned())?;
            match name {
                "batch-time" => batched.batch_time = parse_millis(value)?,
                "pause" => batched.pause = parse_millis(value)?,
                "batch-size" => {
                    batched.first_batch_size =
                        value.parse().ok().filter(|size| *size > 0).ok_or_else(|| {
                            format!("batch-size `{value}` is not a positive number")
                        })?
                }
                _ => return Err(format!("unknown option `{name}`; {USAGE}")),
            }
        }
        Ok(batched)
    }
}

/// `250ms` or `2s`.
fn parse_millis(text: &str) -> Result<std::time::Duration, String> {
    let invalid = || format!("`{text}` is not a duration like 200ms or 2s");
    if let Some(millis) = text.strip_suffix("ms") {
        millis
            .parse()
            .map(std::time::Duration::from_millis)
            .map_err(|_| invalid())
    } else if let Some(seconds) = text.strip_suffix('s') {
        seconds
            .parse()
            .map(std::time::Duration::from_secs)
            .map_err(|_| invalid())
    } else {
        Err(invalid())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    pub rule: String,
    pub reason: String,
    pub line: usize,
}

/// The documentation header the strategy requires on every up file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Documentation {
    pub purpose: Option<String>,
    pub risk: Option<String>,
    pub rollback: Option<String>,
    pub performance: Option<String>,
}

impl Documentation {
    pub const FIELDS: [&'static str; 4] = ["Purpose", "Risk", "Rollback", "Performance"];

    /// The text of a field, `None` when absent, empty or still the `<placeholder>` of `xtask new`.
    pub fn field(&self, field: &str) -> Option<&str> {
        let value = match field {
            "Purpose" => &self.purpose,
            "Risk" => &self.risk,
            "Rollback" => &self.rollback,
            "Performance" => &self.performance,
            _ => return None,
        };
        value
            .as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty() && !is_placeholder(text))
    }
}

/// `<what goes here>`, as `xtask new` writes it: present, but not yet written.
fn is_placeholder(text: &str) -> bool {
    text.starts_with('<') && text.ends_with('>')
}

/// A problem in one line of a script's comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentError {
    pub line: usize,
    pub message: String,
}

const DIRECTIVE_PREFIX: &str = "-- xtask:";

/// Reads the directives and documentation out of a script's comment lines.
pub fn parse_comments(sql: &str) -> Result<(Directives, Documentation), CommentError> {
    let mut directives = Directives::default();
    let mut documentation = Documentation::default();
    for (index, raw) in sql.lines().enumerate() {
        let line_number = index + 1;
        let line = raw.trim();
        if let Some(rest) = line.strip_prefix(DIRECTIVE_PREFIX) {
            parse_directive(rest.trim(), line_number, &mut directives)?;
            continue;
        }
        let Some(comment) = line.strip_prefix("--") else {
            continue;
        };
        let comment = comment.trim_start();
        for field in Documentation::FIELDS {
            if let Some(value) = comment
                .strip_prefix(field)
                .and_then(|rest| rest.strip_prefix(':'))
            {
                let slot = match field {
                    "Purpose" => &mut documentation.purpose,
                    "Risk" => &mut documentation.risk,
                    "Rollback" => &mut documentation.rollback,
                    _ => &mut documentation.performance,
                };
                if slot.is_none() {
                    *slot = Some(value.trim().to_owned());
                }
            }
        }
    }
    Ok((directives, documentation))
}

fn parse_directive(
    text: &str,
    line: usize,
    directives: &mut Directives,
) -> Result<(), CommentError> {
    let error = |message: String| CommentError { line, message };
    let (head, reason) = match text.split_once("--") {
        Some((head, reason)) => (head.trim(), Some(reason.trim())),
        None => (text, None),
    };
    let all_words: Vec<&str> = head.split_whitespace().collect();
    if all_words.first() == Some(&"batched") {
        directives.batched = Some(Batched::parse(&all_words[1..]).map_err(error)?);
        return Ok(());
    }
    let mut words = all_words.into_iter();
    match (words.next(), words.next(), words.next()) {
        (Some("no-transaction"), None, None) => directives.no_transaction = true,
        (Some("maintenance-window"), None, None) => directives.maintenance_window = true,
        (Some("allow"), Some(rule), None) => match reason.filter(|reason| !reason.is_empty()) {
            Some(reason) => directives.allows.push(Allow {
                rule: rule.to_owned(),
                reason: reason.to_owned(),
                line,
            }),
            None => {
                return Err(error(format!(
                    "`allow {rule}` needs a reason: `-- xtask: allow {rule} -- why this is acceptable`"
                )))
            }
        },
        (Some("rollback-data-hazard"), None, None) => {
            match reason.filter(|reason| !reason.is_empty()) {
                Some(reason) => directives.data_hazard = Some(reason.to_owned()),
                None => {
                    return Err(error(
                        "`rollback-data-hazard` needs a reason: `-- xtask: rollback-data-hazard -- why rows cannot meet it`"
                            .into(),
                    ))
                }
            }
        }
        (Some("allow"), None, _) => {
            return Err(error(
                "`allow` needs a rule name and a reason: `-- xtask: allow RULE -- reason`".into(),
            ))
        }
        _ => {
            return Err(error(format!(
                "unknown directive `{text}`; known: no-transaction, maintenance-window, allow RULE -- reason, batched TABLE KEY, rollback-data-hazard -- reason"
            )))
        }
    }
    Ok(())
}

/// What a migration file name says, or why it is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    pub version: Version,
    pub name: String,
    pub direction: Direction,
}

/// Parses `V{NNNN}__{snake_case}.sql` and `V{NNNN}__{snake_case}.down.sql`.
///
/// Stricter than refinery on purpose: refinery silently skips a file its pattern misses (a dash
/// in the name, a lowercase `v`) and would then run the migrations without it.
pub fn parse_file_name(file_name: &str) -> Result<FileName, String> {
    const EXPECTED: &str = "expected V{NNNN}__{snake_case_name}.sql or .down.sql";
    let (stem, direction) = if let Some(stem) = file_name.strip_suffix(".down.sql") {
        (stem, Direction::Down)
    } else if let Some(stem) = file_name.strip_suffix(".sql") {
        (stem, Direction::Up)
    } else {
        return Err(format!("not a .sql file; {EXPECTED}"));
    };
    let Some(rest) = stem.strip_prefix('V') else {
        return Err(format!("does not start with an upper-case V; {EXPECTED}"));
    };
    let Some((digits, name)) = rest.split_once("__") else {
        return Err(format!(
            "no double underscore between version and name; {EXPECTED}"
        ));
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!(
            "version `{digits}` is not a whole number; {EXPECTED}"
        ));
    }
    let version: Version = digits
        .parse()
        .map_err(|_| format!("version `{digits}` is larger than {}", Version::MAX))?;
    if version == 0 {
        return Err("version 0 is reserved for the empty schema (rollback --to 0)".into());
    }
    if !is_snake_case(name) {
        return Err(format!(
            "name `{name}` is not snake_case (lower-case letters, digits and single underscores); {EXPECTED}"
        ));
    }
    Ok(FileName {
        version,
        name: name.to_owned(),
        direction,
    })
}

/// `snake_case`: starts with a letter, then lower-case letters, digits and single underscores.
pub fn is_snake_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('_')
        && !name.contains("__")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_up_and_down_names() {
        assert_eq!(
            parse_file_name("V0003__create_tickets.sql"),
            Ok(FileName {
                version: 3,
                name: "create_tickets".into(),
                direction: Direction::Up
            })
        );
        assert_eq!(
            parse_file_name("V12__add_x.down.sql").map(|f| f.direction),
            Ok(Direction::Down)
        );
    }

    #[test]
    fn rejects_names_refinery_would_skip_or_misread() {
        for bad in [
            "v0001__x.sql",
            "V0001_x.sql",
            "V0001__add-priority.sql",
            "V1.5__x.sql",
            "V0001__Add.sql",
            "V0000__x.sql",
            "V99999999999__x.sql",
            "U0001__x.sql",
            "V0001__x.txt",
        ] {
            assert!(parse_file_name(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn reads_directives_and_documentation() {
        let sql = "-- Purpose: add the index\n-- Risk: <low or high>\n-- xtask: no-transaction\n\
                   -- xtask: allow drop-column -- unused since release 42\nSELECT 1;\n";
        let (directives, documentation) = parse_comments(sql).unwrap();
        assert!(directives.no_transaction);
        assert_eq!(directives.allows[0].rule, "drop-column");
        assert_eq!(directives.allows[0].reason, "unused since release 42");
        assert_eq!(directives.allows[0].line, 4);
        assert_eq!(documentation.field("Purpose"), Some("add the index"));
        assert_eq!(
            documentation.field("Risk"),
            None,
            "placeholder counts as empty"
        );
        assert_eq!(documentation.field("Rollback"), None);
    }

    #[test]
    fn reads_batched_data_migrations() {
        let (directives, _) = parse_comments(
            "-- xtask: batched tickets id batch-time=50ms pause=5ms\nUPDATE t SET x = 1;",
        )
        .unwrap();
        let batched = directives.batched.unwrap();
        assert_eq!(
            (batched.table.as_str(), batched.key.as_str()),
            ("tickets", "id")
        );
        assert_eq!(batched.batch_time, std::time::Duration::from_millis(50));
        assert_eq!(batched.pause, std::time::Duration::from_millis(5));
        assert!(parse_comments("-- xtask: batched tickets").is_err());
        assert!(parse_comments("-- xtask: batched t id speed=9")
            .unwrap_err()
            .message
            .contains("unknown option"));
    }

    #[test]
    fn refuses_unknown_directives_and_reasonless_allows() {
        assert_eq!(
            parse_comments("-- xtask: no-transactoin").unwrap_err().line,
            1
        );
        let error = parse_comments("\n-- xtask: allow drop-column").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.message.contains("needs a reason"));
    }

    #[test]
    fn checksum_matches_refinery() {
        let script = |sql: &str| Script {
            path: PathBuf::from("x.sql"),
            sql: sql.into(),
            directives: Directives::default(),
            documentation: Documentation::default(),
        };
        let ours = Migration::new(7, "add_x".into(), script("SELECT 1;"), script(""));
        let theirs = refinery::Migration::unapplied("V0007__add_x", "SELECT 1;").unwrap();
        assert_eq!(ours.checksum, theirs.checksum());
    }
}
