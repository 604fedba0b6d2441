//! A file of SQL as PostgreSQL's own parser (libpg_query, through `pg_query`) reads it: its
//! statements with their positions, and its syntax errors where PostgreSQL reports them, even in a
//! file that does not parse as a whole.

use pg_query::protobuf::Token;
use pg_query::NodeEnum;

/// One statement of a file, with where it is.
#[derive(Debug, Clone)]
pub struct Statement {
    pub node: NodeEnum,
    /// Byte offset of the statement's first token (after any comments before it).
    pub start: usize,
    /// Byte offset just past the statement's last token (before its `;`).
    pub end: usize,
}

/// A statement PostgreSQL would refuse, and where it stops making sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

/// Parses a whole file. When it does not parse, each statement is parsed on its own, so the good
/// ones are still linted and each bad one is reported where it goes wrong.
pub fn parse_every_statement(sql: &str) -> (Vec<Statement>, Vec<SyntaxError>) {
    match pg_query::parse(sql, 0) {
        Ok(result) => (statements(sql, result.protobuf, 0, sql.len()), Vec::new()),
        Err(whole_file) => parse_each_statement(sql, &whole_file),
    }
}

/// The statements of SQL that parses, or PostgreSQL's error.
pub fn parse_statements(sql: &str) -> Result<Vec<Statement>, pg_query::Error> {
    pg_query::parse(sql, 0).map(|result| statements(sql, result.protobuf, 0, sql.len()))
}

/// The statements of `tree`, parsed from the `piece_len` bytes of `sql` at `base`.
fn statements(
    sql: &str,
    tree: pg_query::protobuf::ParseResult,
    base: usize,
    piece_len: usize,
) -> Vec<Statement> {
    tree.stmts
        .into_iter()
        .filter_map(|raw| {
            let node = raw.stmt?.node?;
            let location = base + usize::try_from(raw.stmt_location).unwrap_or_default();
            // A length of 0 means "to the end of the parsed text".
            let end = match usize::try_from(raw.stmt_len).unwrap_or_default() {
                0 => base + piece_len,
                len => location + len,
            };
            Some(Statement {
                node,
                start: skip_comments(sql, location),
                end,
            })
        })
        .collect()
}

fn parse_each_statement(
    sql: &str,
    whole_file: &pg_query::Error,
) -> (Vec<Statement>, Vec<SyntaxError>) {
    let Some(pieces) = statement_pieces(sql) else {
        let error = SyntaxError {
            offset: near_text_offset(sql, &message(whole_file)).unwrap_or(0),
            message: message(whole_file),
        };
        return (Vec::new(), vec![error]);
    };
    let mut parsed = Vec::new();
    let mut syntax_errors = Vec::new();
    for (base, piece) in pieces {
        match pg_query::parse(piece, 0) {
            Ok(result) => parsed.extend(statements(sql, result.protobuf, base, piece.len())),
            Err(error) => syntax_errors.push(SyntaxError {
                offset: base + error_offset(piece, &message(&error)),
                message: message(&error),
            }),
        }
    }
    if syntax_errors.is_empty() {
        // The pieces parse alone but not together: report the file's error at its start.
        syntax_errors.push(SyntaxError {
            offset: skip_comments(sql, 0),
            message: message(whole_file),
        });
    }
    (parsed, syntax_errors)
}

/// The file cut into statements with their byte offsets, even where the grammar would refuse
/// them. The scanner splits on semicolons outside literals, comments and parentheses, but drops
/// what it cannot make a statement of (an unclosed parenthesis, an invalid token): those gaps
/// are kept as pieces of their own, so they are reported rather than lost.
fn statement_pieces(sql: &str) -> Option<Vec<(usize, &str)>> {
    let mut pieces = Vec::new();
    let mut covered = 0;
    for piece in pg_query::split_with_scanner(sql).ok()? {
        let start = piece.as_ptr() as usize - sql.as_ptr() as usize;
        keep_gap(sql, covered..start, &mut pieces);
        pieces.push((start, piece));
        covered = start + piece.len();
    }
    keep_gap(sql, covered..sql.len(), &mut pieces);
    Some(pieces)
}

/// The statements in a stretch the scanner skipped, if it holds more than comments.
fn keep_gap<'a>(sql: &'a str, gap: std::ops::Range<usize>, pieces: &mut Vec<(usize, &'a str)>) {
    let mut start = gap.start;
    for part in sql[gap].split(';') {
        if skip_comments(part, 0) < part.len() {
            pieces.push((start, part));
        }
        start += part.len() + 1;
    }
}

pub fn message(error: &pg_query::Error) -> String {
    match error {
        pg_query::Error::Parse(message)
        | pg_query::Error::Split(message)
        | pg_query::Error::Scan(message) => message.clone(),
        other => other.to_string(),
    }
}

/// Where in `statement` PostgreSQL's grammar gives up: the first token whose prefix no longer
/// parses, or fails other than "at end of input" (an unfinished but still valid start). Validity
/// of prefixes is monotonic, so a binary search finds it in a few parses.
fn error_offset(statement: &str, message: &str) -> usize {
    let Ok(tokens) = pg_query::scan_tokens(statement) else {
        return near_text_offset(statement, message).unwrap_or_else(|| skip_comments(statement, 0));
    };
    let tokens: Vec<_> = tokens
        .into_iter()
        .filter(|token| {
            token.token != Token::SqlComment as i32 && token.token != Token::CComment as i32
        })
        .collect();
    let viable = |end: i32| {
        let prefix = &statement[..usize::try_from(end).unwrap_or_default()];
        match pg_query::parse(prefix, 0) {
            Ok(_) => true,
            Err(error) => self::message(&error).ends_with("at end of input"),
        }
    };
    let first_bad = tokens.partition_point(|token| viable(token.end));
    tokens.get(first_bad).map_or_else(
        || statement.trim_end().len(),
        |token| usize::try_from(token.start).unwrap_or_default(),
    )
}

/// `... at or near "foo"`: the first place `foo` appears, for errors the scanner itself raises.
fn near_text_offset(sql: &str, message: &str) -> Option<usize> {
    let near = message.split_once("at or near \"")?.1.strip_suffix('"')?;
    sql.find(near)
}

/// The offset of the first byte at or after `from` that is neither whitespace nor a comment.
pub fn skip_comments(sql: &str, from: usize) -> usize {
    let bytes = sql.as_bytes();
    let mut at = from;
    loop {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        if bytes[at..].starts_with(b"--") {
            at = sql[at..]
                .find('\n')
                .map_or(sql.len(), |newline| at + newline);
        } else if bytes[at..].starts_with(b"/*") {
            // PostgreSQL's block comments nest.
            let mut depth = 0;
            while at < bytes.len() {
                if bytes[at..].starts_with(b"/*") {
                    depth += 1;
                    at += 2;
                } else if bytes[at..].starts_with(b"*/") {
                    depth -= 1;
                    at += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    at += 1;
                }
            }
        } else {
            return at.min(sql.len());
        }
    }
}
