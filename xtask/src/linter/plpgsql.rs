//! What DO blocks and function bodies run. PostgreSQL stores a body as a string, so without this
//! `DO $$ BEGIN ALTER TABLE t ALTER COLUMN a TYPE bigint; END $$` would look like one harmless
//! statement. PL/pgSQL bodies are read with libpg_query's PL/pgSQL parser, SQL function bodies
//! with the SQL parser; each embedded statement is parsed again as a [`Statement`] located where
//! it is written in the migration file, so the statement rules check it like any other.
//!
//! A DO block runs where it stands. A function runs where the migration calls it (`SELECT f()`,
//! `PERFORM f()`, `CALL p()`): a function only defined here (a trigger function, say) runs later,
//! under the application's own writes, and is not linted as part of the migration.

use pg_query::protobuf::CreateFunctionStmt;
use pg_query::{Node, NodeEnum};
use serde_json::Value;

use super::sql::statement::{message, parse_statements, skip_comments, Statement, SyntaxError};
use super::sql::tree::{deparse, last_name};

/// The statements one DO block or function body runs, in order.
#[derive(Debug, Clone)]
pub struct Body {
    /// Where the DO or CREATE FUNCTION statement starts in the file.
    pub start: usize,
    /// The function's own name; `None` for a DO block.
    pub function: Option<String>,
    pub statements: Vec<Statement>,
    /// `EXECUTE`s of SQL built at run time, which no rule can read.
    pub dynamic: Vec<Dynamic>,
    /// Holds a `COMMIT`: run outside a transaction, each stretch between commits is its own.
    pub commits: bool,
}

/// An `EXECUTE` of anything but one string literal.
#[derive(Debug, Clone)]
pub struct Dynamic {
    pub offset: usize,
    /// The expression as written (`format('...', t)`).
    pub expression: String,
}

/// The bodies of the file's DO blocks and functions, and a syntax error (at its DO or CREATE
/// FUNCTION) for each body PostgreSQL would refuse.
pub fn bodies(sql: &str, statements: &[Statement]) -> (Vec<Body>, Vec<SyntaxError>) {
    let mut bodies = Vec::new();
    let mut errors = Vec::new();
    for statement in statements {
        match body(sql, statement) {
            Some(Ok(body)) => bodies.push(body),
            Some(Err(error)) => errors.push(error),
            None => {}
        }
    }
    (bodies, errors)
}

fn body(sql: &str, statement: &Statement) -> Option<Result<Body, SyntaxError>> {
    let body = match &statement.node {
        NodeEnum::DoStmt(block) => {
            let language = option(&block.args, "language").unwrap_or("plpgsql");
            let text = option(&block.args, "as")?;
            if language != "plpgsql" {
                return None;
            }
            let wrapped = format!(
                "CREATE FUNCTION pg_temp.do_block() RETURNS void LANGUAGE plpgsql AS {}",
                dollar_quoted(text)
            );
            plpgsql_body(sql, statement, &wrapped, text, None)?
        }
        NodeEnum::CreateFunctionStmt(function) => {
            let name = last_name(&function.funcname)?.to_owned();
            function_body(sql, statement, function, name)?
        }
        _ => return None,
    };
    Some(body.map_err(|message| SyntaxError {
        offset: statement.start,
        message,
    }))
}

fn function_body(
    sql: &str,
    statement: &Statement,
    function: &CreateFunctionStmt,
    name: String,
) -> Option<Result<Body, String>> {
    let language = option(&function.options, "language")?;
    if let Some(atomic) = &function.sql_body {
        return Some(Ok(atomic_body(sql, statement, atomic, name)));
    }
    let text = as_text(&function.options)?;
    match language {
        "plpgsql" => {
            // The real signature, since what a body may say depends on it (RETURN QUERY needs
            // SETOF, OUT parameters change RETURN).
            let definition = deparse(statement.node.clone())?;
            plpgsql_body(sql, statement, &definition, text, Some(name))
        }
        "sql" => {
            let base = body_offset(sql, statement, text);
            Some(
                parse_at(text, base.unwrap_or(statement.start))
                    .map(|statements| Body {
                        start: statement.start,
                        function: Some(name),
                        statements,
                        dynamic: Vec::new(),
                        commits: false,
                    })
                    .map_err(|error| format!("in the SQL function body: {error}")),
            )
        }
        _ => None,
    }
}

/// `BEGIN ATOMIC ... END`: already parsed with the file; each statement starts after `ATOMIC` or
/// after the semicolon ending the one before.
fn atomic_body(sql: &str, statement: &Statement, atomic: &Node, name: String) -> Body {
    let nodes: Vec<NodeEnum> = match &atomic.node {
        Some(NodeEnum::List(list)) => list
            .items
            .iter()
            .flat_map(|item| match &item.node {
                Some(NodeEnum::List(inner)) => inner.items.clone(),
                _ => vec![item.clone()],
            })
            .filter_map(|node| node.node)
            .collect(),
        _ => Vec::new(),
    };
    let starts = atomic_statement_starts(&sql[statement.start..]);
    let statements = nodes
        .into_iter()
        .enumerate()
        .map(|(index, node)| Statement {
            node,
            start: statement.start + starts.get(index).copied().unwrap_or_default(),
            // Body statements are linted, never traced on their own: their function's end will do.
            end: statement.end,
        })
        .collect();
    Body {
        start: statement.start,
        function: Some(name),
        statements,
        dynamic: Vec::new(),
        commits: false,
    }
}

fn atomic_statement_starts(text: &str) -> Vec<usize> {
    let Ok(tokens) = pg_query::scan_tokens(text) else {
        return Vec::new();
    };
    let offset = |token: &pg_query::protobuf::ScanToken| usize::try_from(token.start).unwrap_or(0);
    let mut tokens = tokens.into_iter().filter(|token| {
        token.token != pg_query::protobuf::Token::SqlComment as i32
            && token.token != pg_query::protobuf::Token::CComment as i32
    });
    let word = |token: &pg_query::protobuf::ScanToken, word: &str| {
        text.get(offset(token)..usize::try_from(token.end).unwrap_or(0))
            .is_some_and(|text| text.eq_ignore_ascii_case(word))
    };
    if tokens
        .by_ref()
        .find(|token| word(token, "ATOMIC"))
        .is_none()
    {
        return Vec::new();
    }
    let mut starts = Vec::new();
    let mut at_start = true;
    for token in tokens {
        if at_start {
            starts.push(offset(&token));
        }
        at_start = word(&token, ";");
    }
    starts
}

/// Reads a PL/pgSQL body. `definition` is a CREATE FUNCTION statement whose body is `text`, as
/// written at the statement in the file.
fn plpgsql_body(
    sql: &str,
    statement: &Statement,
    definition: &str,
    text: &str,
    function: Option<String>,
) -> Option<Result<Body, String>> {
    let tree = match pg_query::parse_plpgsql(definition) {
        Ok(tree) => tree,
        // libpg_query writes JSON it cannot read back for some bodies (trigger functions'):
        // the body parsed, but what it runs is unknown.
        Err(pg_query::Error::InvalidJson(_)) => return None,
        Err(error) => return Some(Err(format!("in the PL/pgSQL body: {}", message(&error)))),
    };
    let mut found = Vec::new();
    if let Some(action) = tree
        .get(0)
        .and_then(|function| function.get("PLpgSQL_function"))
        .and_then(|function| function.get("action"))
    {
        walk(action, 1, &mut found);
    }
    let base = body_offset(sql, statement, text);
    let mut body = Body {
        start: statement.start,
        function,
        statements: Vec::new(),
        dynamic: Vec::new(),
        commits: tree.to_string().contains("\"PLpgSQL_stmt_commit\""),
    };
    for (line, embedded) in found {
        let (query, dynamic) = match embedded {
            Embedded::Static(query) => (query, false),
            Embedded::Dynamic(expression) => (expression, true),
        };
        let offset = base.map_or(statement.start, |base| base + locate(text, line, &query));
        let static_text = if dynamic {
            match string_constant(&query) {
                // The string's text starts after its opening quote.
                Some(constant) => Some((constant, offset + 1)),
                None => {
                    body.dynamic.push(Dynamic {
                        offset,
                        expression: query,
                    });
                    None
                }
            }
        } else {
            Some((query, offset))
        };
        if let Some((query, offset)) = static_text {
            match parse_at(&query, offset) {
                Ok(statements) => body.statements.extend(statements),
                Err(error) => {
                    return Some(Err(format!(
                        "in the PL/pgSQL body, `{}`: {error}",
                        query.trim()
                    )))
                }
            }
        }
    }
    Some(Ok(body))
}

/// A statement or an `EXECUTE`d expression found in a PL/pgSQL body.
enum Embedded {
    Static(String),
    Dynamic(String),
}

/// Collects the SQL a PL/pgSQL statement tree runs, in the order it runs, with the body line of
/// the PL/pgSQL statement it belongs to.
fn walk(value: &Value, line: usize, found: &mut Vec<(usize, Embedded)>) {
    match value {
        Value::Array(items) => {
            for item in items {
                walk(item, line, found);
            }
        }
        Value::Object(map) => {
            let line = map
                .get("lineno")
                .and_then(Value::as_u64)
                .and_then(|line| usize::try_from(line).ok())
                .unwrap_or(line);
            // serde_json sorts keys; a condition and a loop's query run before the branches and
            // the loop body.
            let first = ["cond", "query", "then_body", "elsif_list", "else_body"];
            let keys = first
                .iter()
                .filter_map(|key| map.get_key_value(*key))
                .chain(map.iter().filter(|(key, _)| !first.contains(&key.as_str())));
            for (key, child) in keys {
                match key.as_str() {
                    // Parse mode 0 is a whole SQL statement; the others are expressions.
                    "PLpgSQL_expr" => {
                        if child.get("parseMode").and_then(Value::as_u64) == Some(0) {
                            if let Some(query) = child.get("query").and_then(Value::as_str) {
                                found.push((line, Embedded::Static(query.to_owned())));
                            }
                        }
                        continue;
                    }
                    "PLpgSQL_stmt_dynexecute" | "PLpgSQL_stmt_dynfors" => {
                        dynamic(child, "query", line, found)
                    }
                    "PLpgSQL_stmt_return_query" | "PLpgSQL_stmt_open" => {
                        dynamic(child, "dynquery", line, found)
                    }
                    _ => {}
                }
                walk(child, line, found);
            }
        }
        _ => {}
    }
}

fn dynamic(statement: &Value, field: &str, line: usize, found: &mut Vec<(usize, Embedded)>) {
    if let Some(expression) = statement
        .get(field)
        .and_then(|expression| expression.get("PLpgSQL_expr"))
        .and_then(|expression| expression.get("query"))
        .and_then(Value::as_str)
    {
        found.push((line, Embedded::Dynamic(expression.to_owned())));
    }
}

/// Where `query` is written in `body`, searching from the start of its PL/pgSQL statement's line.
/// PL/pgSQL turns `PERFORM x` into `SELECT x`: its place is found by the `x`, and the query
/// placed so that `x` lines up.
fn locate(body: &str, line: usize, query: &str) -> usize {
    let line_start = match line {
        0 | 1 => 0,
        _ => body
            .match_indices('\n')
            .nth(line - 2)
            .map_or(body.len(), |(at, _)| at + 1),
    };
    let rest = &body[line_start..];
    if let Some(at) = rest.find(query) {
        return line_start + at;
    }
    if let Some(tail) = query.strip_prefix("SELECT ") {
        if let Some(at) = rest.find(tail) {
            return (line_start + at).saturating_sub("SELECT ".len());
        }
    }
    skip_comments(body, line_start)
}

/// Where the body's text starts in the file, when it is there as written (dollar-quoted).
fn body_offset(sql: &str, statement: &Statement, text: &str) -> Option<usize> {
    sql.get(statement.start..)?
        .find(text)
        .map(|at| statement.start + at)
}

/// Parses SQL written at byte `offset` of the file, so the statements' starts and every location
/// in their trees are the file's.
fn parse_at(text: &str, offset: usize) -> Result<Vec<Statement>, String> {
    let padded = format!("{}{text}", " ".repeat(offset));
    parse_statements(&padded).map_err(|error| message(&error))
}

/// The text of a single string literal (`'ALTER TABLE ...'`, `$x$...$x$`, `E'...'`).
fn string_constant(expression: &str) -> Option<String> {
    let parsed = pg_query::parse(&format!("SELECT {expression}"), 0).ok()?;
    let [raw] = parsed.protobuf.stmts.as_slice() else {
        return None;
    };
    let Some(NodeEnum::SelectStmt(select)) = raw.stmt.as_ref()?.node.as_ref() else {
        return None;
    };
    let [target] = select.target_list.as_slice() else {
        return None;
    };
    let Some(NodeEnum::ResTarget(target)) = &target.node else {
        return None;
    };
    match target.val.as_deref()?.node.as_ref()? {
        NodeEnum::AConst(constant) => match &constant.val {
            Some(pg_query::protobuf::a_const::Val::Sval(string)) => Some(string.sval.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// A `DefElem` option's string value (`LANGUAGE plpgsql`, a DO block's `AS`).
fn option<'a>(options: &'a [Node], name: &str) -> Option<&'a str> {
    options.iter().find_map(|node| match &node.node {
        Some(NodeEnum::DefElem(option)) if option.defname == name => {
            match option.arg.as_deref()?.node.as_ref()? {
                NodeEnum::String(value) => Some(value.sval.as_str()),
                _ => None,
            }
        }
        _ => None,
    })
}

/// A function's `AS 'body'` (a one-item list; C functions have two).
fn as_text(options: &[Node]) -> Option<&str> {
    options.iter().find_map(|node| match &node.node {
        Some(NodeEnum::DefElem(option)) if option.defname == "as" => {
            match option.arg.as_deref()?.node.as_ref()? {
                NodeEnum::List(list) => match list.items.as_slice() {
                    [Node {
                        node: Some(NodeEnum::String(value)),
                    }] => Some(value.sval.as_str()),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    })
}

/// `text` dollar-quoted with a tag it does not contain.
fn dollar_quoted(text: &str) -> String {
    let mut tag = String::from("$body$");
    while text.contains(&tag) {
        tag.insert(tag.len() - 1, '_');
    }
    format!("{tag}{text}{tag}")
}

#[cfg(test)]
mod tests;
