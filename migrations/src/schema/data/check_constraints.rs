//! The values a CHECK constraint's definition suggests for a row it refused: its string
//! literals (LIKE patterns and simple regular expressions made into matching examples) and its
//! numbers.

use postgres::GenericClient;

use crate::schema::data::catalog::guarded;

/// Candidate values for the columns of a CHECK constraint, from its definition: each string
/// literal (a LIKE pattern or a regular expression made into a matching example), each number
/// and the number after it (for `> 0`), in the order they appear.
pub(super) fn values_satisfying(
    client: &mut impl GenericClient,
    table: &str,
    constraint: &str,
    number: usize,
) -> Result<Vec<Vec<(String, String)>>, String> {
    let found = guarded(client, |client| {
        client.query_opt(
            "SELECT pg_get_constraintdef(co.oid),
                    ARRAY(SELECT a.attname::text FROM pg_attribute a
                          WHERE a.attrelid = co.conrelid AND a.attnum = ANY (co.conkey))
             FROM pg_constraint co WHERE co.conrelid = to_regclass($1) AND co.conname = $2",
            &[&table, &constraint],
        )
    })?;
    let Some(found) = found else {
        return Ok(Vec::new());
    };
    let definition: String = found.get(0);
    let columns: Vec<String> = found.get(1);
    let mut candidates: Vec<String> = Vec::new();
    for literal in string_literals(&definition) {
        candidates.push(like_pattern_example(&literal, number + 1));
        if let Some(example) = regex_example(&literal) {
            candidates.push(example);
        }
        candidates.push(literal);
    }
    for found in numbers(&definition) {
        candidates.push(found.to_string());
        candidates.push((found + 1).to_string());
        // `length(code) = 3`, `octet_length(digest) = 32`: a value that long, the row's number
        // first so that rows differ on a unique column.
        if (1..=1024).contains(&found) {
            let width = found as usize;
            candidates.push(format!("{:a<width$}", number + 1));
            candidates.push("a".repeat(width));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    candidates.retain(|candidate| seen.insert(candidate.clone()));
    Ok(candidates
        .into_iter()
        .map(|value| {
            columns
                .iter()
                .map(|column| (column.clone(), value.clone()))
                .collect()
        })
        .collect())
}

fn string_literals(definition: &str) -> Vec<String> {
    let mut literals = Vec::new();
    let mut rest = definition;
    while let Some(start) = rest.find('\'') {
        let after = &rest[start + 1..];
        let mut literal = String::new();
        let mut chars = after.char_indices().peekable();
        let mut end = after.len();
        while let Some((index, character)) = chars.next() {
            if character == '\'' {
                if chars.peek().is_some_and(|(_, next)| *next == '\'') {
                    literal.push('\'');
                    chars.next();
                    continue;
                }
                end = index + 1;
                break;
            }
            literal.push(character);
        }
        literals.push(literal);
        rest = &after[end.min(after.len())..];
    }
    literals
}

/// `%_@_%` becomes `x1y@yx1`: a string that LIKE pattern (and a plain literal) accepts.
fn like_pattern_example(literal: &str, n: usize) -> String {
    literal.replace('%', &format!("x{n}")).replace('_', "y")
}

/// A string a simple regular expression matches (`^[a-z][a-z0-9_]*$` gives `a`): anchors
/// dropped, a class gives its first member, an escape its class's example, optional parts left
/// out. `None` for what this does not read (alternation, groups, back-references).
fn regex_example(pattern: &str) -> Option<String> {
    let looks_like_regex = pattern.starts_with('^') || pattern.ends_with('$');
    if !looks_like_regex || pattern.contains(['|', '(', ')']) {
        return None;
    }
    let mut example = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(character) = chars.next() {
        let piece = match character {
            '^' | '$' => continue,
            '[' => {
                let mut class = String::new();
                for next in chars.by_ref() {
                    if next == ']' {
                        break;
                    }
                    class.push(next);
                }
                let member = class.trim_start_matches('^').chars().find(|c| *c != '\\')?;
                if class.starts_with('^') {
                    'x'
                } else {
                    member
                }
            }
            '\\' => match chars.next()? {
                'd' => '1',
                'w' => 'a',
                's' => ' ',
                escaped => escaped,
            },
            '.' => 'x',
            other => other,
        };
        match chars.peek() {
            Some('*' | '?') => {
                chars.next();
            }
            Some('+') => {
                chars.next();
                example.push(piece);
            }
            Some('{') => {
                chars.next();
                let mut bounds = String::new();
                for next in chars.by_ref() {
                    if next == '}' {
                        break;
                    }
                    bounds.push(next);
                }
                let least: usize = bounds.split(',').next()?.trim().parse().ok()?;
                example.extend(std::iter::repeat_n(piece, least));
            }
            _ => example.push(piece),
        }
    }
    Some(example)
}

fn numbers(definition: &str) -> Vec<i64> {
    definition
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_literals_out_of_check_definitions() {
        assert_eq!(
            string_literals("CHECK (status = ANY (ARRAY['open'::text, 'it''s'::text]))"),
            vec!["open".to_owned(), "it's".to_owned()]
        );
        assert_eq!(like_pattern_example("%_@_%", 2), "x2y@yx2");
        assert_eq!(
            numbers("CHECK (priority >= 0 AND priority <= 4)"),
            vec![0, 4]
        );
    }

    #[test]
    fn simple_regular_expressions_give_a_matching_example() {
        assert_eq!(regex_example("^[a-z][a-z0-9_]*$").as_deref(), Some("a"));
        assert_eq!(
            regex_example("^\\d+\\.\\d+\\.\\d+$").as_deref(),
            Some("1.1.1")
        );
        assert_eq!(regex_example("^[A-Z]{3}$").as_deref(), Some("AAA"));
        assert_eq!(regex_example("^(a|b)$"), None);
        assert_eq!(regex_example("plain"), None);
    }
}
