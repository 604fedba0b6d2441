//! libpq's other ways of saying how to connect, so a setup that works with `psql` works here
//! unchanged: the `PG*` environment variables and the password file (`PGPASSFILE`, else
//! `~/.pgpass`), with libpq's rules.

use std::path::{Path, PathBuf};

use crate::database::{default_user, quote, DatabaseUrl};

/// The variables read, each with the connection-string key it stands for. The TLS ones are
/// handed on as `sslmode=`... parameters like the rest, for the connection-string parser to check.
const VARIABLES: [(&str, &str); 13] = [
    ("PGHOST", "host"),
    ("PGPORT", "port"),
    ("PGDATABASE", "dbname"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGAPPNAME", "application_name"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGSSLNEGOTIATION", "sslnegotiation"),
];

/// The variables that say which server or database: with one of them set, the environment is
/// the connection (not a local default database).
const LOCATION_VARIABLES: [&str; 3] = ["PGHOST", "PGPORT", "PGDATABASE"];

/// The `PG*` variables set in this process's environment (empty ones count as unset, as in libpq).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    set: Vec<(&'static str, &'static str, String)>,
}

impl Environment {
    pub fn read() -> Environment {
        Environment::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Environment {
        let set = VARIABLES
            .iter()
            .filter_map(|&(variable, key)| {
                lookup(variable)
                    .filter(|value| !value.is_empty())
                    .map(|value| (variable, key, value))
            })
            .collect();
        Environment { set }
    }

    /// The names of the variables set, for saying where a connection came from.
    pub fn names(&self) -> Vec<&'static str> {
        self.set.iter().map(|(variable, _, _)| *variable).collect()
    }

    /// Whether a variable names the server or the database.
    pub fn names_location(&self) -> bool {
        self.set
            .iter()
            .any(|(variable, _, _)| LOCATION_VARIABLES.contains(variable))
    }

    /// A key/value connection string of the variables, with `defaults` for the keys none gives
    /// (libpq's own default database is the user's name). It holds `PGPASSWORD`: hand it only to
    /// [`DatabaseUrl`]'s parser.
    pub fn conninfo(&self, defaults: &[(&str, &str)]) -> String {
        let given = self
            .set
            .iter()
            .map(|(_, key, value)| (*key, value.as_str()));
        let missing = defaults
            .iter()
            .filter(|(key, _)| !self.set.iter().any(|(_, set, _)| set == key))
            .copied();
        let user = default_user();
        let database = (!self.set.iter().any(|(_, key, _)| *key == "dbname")
            && !defaults.iter().any(|(key, _)| *key == "dbname"))
        .then_some(("dbname", user.as_str()));
        given
            .chain(missing)
            .chain(database)
            .map(|(key, value)| format!("{key}={}", quote(value)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Why the password file was not used; the connection goes on without it.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileWarning {
    #[error("password file {path} is readable by its group or others (mode {mode:o}), so it is ignored; make it private with chmod 0600 {path}")]
    TooOpen { path: String, mode: u32 },
    #[error("password file {path} is not a plain file, so it is ignored")]
    NotAFile { path: String },
    #[error("cannot read password file {path}: {reason}")]
    Unreadable { path: String, reason: String },
}

/// `url` with libpq's password when it has none: `PGPASSWORD`, else the first line of the
/// password file that matches one of its hosts (in the order they are tried: the one password is
/// sent to every host), its port, database and user. The warning says why the file was skipped.
pub fn complete_password(url: &DatabaseUrl) -> (DatabaseUrl, Option<PasswordFileWarning>) {
    if url.password().is_some() {
        return (url.clone(), None);
    }
    if let Some(password) = std::env::var("PGPASSWORD")
        .ok()
        .filter(|value| !value.is_empty())
    {
        return (url.with_password(&password), None);
    }
    let Some(path) = password_file_path() else {
        return (url.clone(), None);
    };
    match read_password_file(&path) {
        Ok(Some(text)) => match password_in(&text, url) {
            Some(password) => (url.with_password(&password), None),
            None => (url.clone(), None),
        },
        Ok(None) => (url.clone(), None),
        Err(warning) => (url.clone(), Some(warning)),
    }
}

/// The password file's password for the first of `url`'s hosts that one of its lines matches.
fn password_in(text: &str, url: &DatabaseUrl) -> Option<String> {
    url.endpoints().iter().find_map(|endpoint| {
        // libpq matches a Unix-socket connection as `localhost`.
        let host = if endpoint.socket {
            "localhost"
        } else {
            &endpoint.host
        };
        lookup(
            text,
            [host, &endpoint.port.to_string(), url.database(), url.user()],
        )
    })
}

/// `PGPASSFILE`, else `~/.pgpass`.
fn password_file_path() -> Option<PathBuf> {
    std::env::var_os("PGPASSFILE")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pgpass")))
}

/// The file's text; `None` when there is no such file (libpq is silent then too).
fn read_password_file(path: &Path) -> Result<Option<String>, PasswordFileWarning> {
    let shown = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(PasswordFileWarning::Unreadable {
                path: shown,
                reason: error.to_string(),
            })
        }
    };
    if !meta.is_file() {
        return Err(PasswordFileWarning::NotAFile { path: shown });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(PasswordFileWarning::TooOpen { path: shown, mode });
        }
    }
    std::fs::read_to_string(path)
        .map(Some)
        .map_err(|error| PasswordFileWarning::Unreadable {
            path: shown,
            reason: error.to_string(),
        })
}

/// The password of the first `hostname:port:database:username:password` line whose first four
/// fields match `wanted` (`*` matches anything; `\:` and `\\` stand for `:` and `\`).
fn lookup(text: &str, wanted: [&str; 4]) -> Option<String> {
    text.lines()
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .find_map(|line| {
            let fields = split_fields(line);
            let [host, port, database, user, password, ..] = fields.as_slice() else {
                return None;
            };
            let matches = [host, port, database, user]
                .iter()
                .zip(wanted)
                .all(|(field, value)| field.wildcard || field.text == value);
            matches.then(|| password.text.clone())
        })
}

struct Field {
    text: String,
    /// A bare `*`, not an escaped one.
    wildcard: bool,
}

fn split_fields(line: &str) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut text = String::new();
    let mut raw_len = 0;
    let mut chars = line.chars();
    let finish = |text: &mut String, raw_len: &mut usize, fields: &mut Vec<Field>| {
        fields.push(Field {
            wildcard: *raw_len == 1 && text == "*",
            text: std::mem::take(text),
        });
        *raw_len = 0;
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                raw_len += 2;
                text.extend(chars.next());
            }
            ':' => finish(&mut text, &mut raw_len, &mut fields),
            other => {
                raw_len += 1;
                text.push(other);
            }
        }
    }
    finish(&mut text, &mut raw_len, &mut fields);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str, wanted: [&str; 4]) -> Option<String> {
        lookup(text, wanted)
    }

    #[test]
    fn password_file_lines_match_like_libpq() {
        let text = "# a comment\n\
                    db.example:5432:app:alice:first\r\n\
                    *:*:app:alice:second\n\
                    localhost:5433:*:*:with\\:colon\\\\and\\\\backslash\n\
                    \\*:*:*:bob:literal-star\n\
                    short:line\n\
                    *:*:*:*:anything\n";
        assert_eq!(
            find(text, ["db.example", "5432", "app", "alice"]).as_deref(),
            Some("first")
        );
        // The first matching line wins, even when a later one is more specific.
        assert_eq!(
            find(text, ["other", "6000", "app", "alice"]).as_deref(),
            Some("second")
        );
        assert_eq!(
            find(text, ["localhost", "5433", "x", "y"]).as_deref(),
            Some("with:colon\\and\\backslash")
        );
        // An escaped star is a star, not a wildcard.
        assert_eq!(
            find(text, ["*", "1", "d", "bob"]).as_deref(),
            Some("literal-star")
        );
        assert_eq!(
            find(text, ["h", "1", "d", "bob"]).as_deref(),
            Some("anything")
        );
        assert_eq!(find("h:1:d:u\n", ["h", "1", "d", "u"]), None);
    }

    #[test]
    fn a_socket_matches_localhost_and_the_first_host_with_a_line_wins() {
        let text = "localhost:5432:app:alice:by-socket\ndb2:5433:app:alice:second-host\n";
        let socket: DatabaseUrl = "host=/var/run/postgresql dbname=app user=alice"
            .parse()
            .unwrap();
        assert_eq!(password_in(text, &socket).as_deref(), Some("by-socket"));
        let hosts: DatabaseUrl = "host=db1,db2 port=5432,5433 dbname=app user=alice"
            .parse()
            .unwrap();
        assert_eq!(password_in(text, &hosts).as_deref(), Some("second-host"));
        let other: DatabaseUrl = "host=db1 dbname=app user=bob".parse().unwrap();
        assert_eq!(password_in(text, &other), None);
    }

    #[test]
    fn variables_become_a_connection_string_with_defaults_for_the_rest() {
        let env = Environment::from_lookup(|name| match name {
            "PGHOST" => Some("10.0.0.1,10.0.0.2".into()),
            "PGPORT" => Some("5433,5434".into()),
            "PGPASSWORD" => Some("it's".into()),
            "PGTARGETSESSIONATTRS" => Some("read-write".into()),
            "PGDATABASE" => Some("app".into()),
            "PGAPPNAME" => Some(String::new()),
            _ => None,
        });
        assert!(env.names_location());
        assert_eq!(
            env.names(),
            [
                "PGHOST",
                "PGPORT",
                "PGDATABASE",
                "PGPASSWORD",
                "PGTARGETSESSIONATTRS"
            ]
        );
        let conninfo = env.conninfo(&[("dbname", "ignored"), ("connect_timeout", "3")]);
        let url: DatabaseUrl = conninfo.parse().unwrap();
        assert_eq!(
            url.redacted(),
            "postgres://".to_owned() + url.user() + ":***@10.0.0.1:5433,10.0.0.2:5434/app"
        );
        assert_eq!(url.password().as_deref(), Some("it's"));
        assert_eq!(url.target_session_attrs(), Some("read-write"));
        assert_eq!(url.connect_timeout().as_secs(), 3);
        let again: DatabaseUrl = url.secret_conninfo().parse().unwrap();
        assert_eq!(again.redacted(), url.redacted());
        assert_eq!(again.target_session_attrs(), Some("read-write"));
        assert!(
            !Environment::from_lookup(|name| (name == "PGUSER").then(|| "u".into()))
                .names_location()
        );
    }
}
