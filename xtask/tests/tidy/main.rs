//! Tidy: the documents and the sources agree, and the house keeps its shape. Every source file
//! opens with a `//!` summary, every path ARCHITECTURE.md names exists, and every command README's
//! tables list is a real subcommand; the size limits (`sizes.rs`) and the direction of the imports
//! (`imports.rs`) hold.

mod imports;
mod sizes;

use std::path::{Path, PathBuf};

use xshell::{cmd, Shell};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

fn read(file: &str) -> String {
    std::fs::read_to_string(root().join(file)).unwrap_or_else(|error| panic!("{file}: {error}"))
}

/// Every file and folder of the workspace, relative and `/`-separated, folders ending in `/`;
/// build output and git's store left out.
fn workspace_entries() -> Vec<String> {
    let root = root();
    walkdir::WalkDir::new(&root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|entry| !matches!(entry.file_name().to_str(), Some("target" | ".git")))
        .map(|entry| {
            let entry = entry.expect("the workspace is readable");
            let relative = entry.path().strip_prefix(&root).unwrap();
            let mut path = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            if entry.file_type().is_dir() {
                path.push('/');
            }
            path
        })
        .collect()
}

fn fail_listing(what: &str, failures: &[String]) {
    assert!(failures.is_empty(), "{what}:\n  {}", failures.join("\n  "));
}

/// Every Rust source file of the three crates' `src/` folders.
fn source_files() -> Vec<String> {
    rust_files_under(&["xtask/src/", "migrations/src/", "backend/src/"])
}

/// Every Rust file of the three crates' `tests/` folders (the corpus's SQL and Markdown aside).
fn test_files() -> Vec<String> {
    rust_files_under(&["xtask/tests/", "migrations/tests/", "backend/tests/"])
}

/// Every Rust file of the three crates, sources and tests.
fn all_rust_files() -> Vec<String> {
    let mut files = source_files();
    files.extend(test_files());
    files
}

fn rust_files_under(folders: &[&str]) -> Vec<String> {
    workspace_entries()
        .into_iter()
        .filter(|path| {
            folders.iter().any(|folder| path.starts_with(folder)) && path.ends_with(".rs")
        })
        .collect()
}

#[test]
fn every_source_file_opens_with_a_summary() {
    let failures: Vec<String> = all_rust_files()
        .into_iter()
        .filter(|path| !read(path).starts_with("//!"))
        .collect();
    fail_listing(
        "these files do not open with a `//!` line saying what they are",
        &failures,
    );
}

/// `lint/rules/<rule_name>.rs` matches `lint/rules/drop_table.rs`: a `<...>` stands for any text.
fn component_matches(pattern: &str, name: &str) -> bool {
    match (pattern.find('<'), pattern.rfind('>')) {
        (Some(open), Some(close)) if open < close => {
            let (prefix, suffix) = (&pattern[..open], &pattern[close + 1..]);
            name.len() >= prefix.len() + suffix.len()
                && name.starts_with(prefix)
                && name.ends_with(suffix)
        }
        _ => pattern == name,
    }
}

/// Whether `named` is the tail of `path`, component by component. The document names files
/// relative to the crate or folder it is describing (`model.rs`, `bench/api.rs`), so a name
/// stands for any file whose path ends with it; a file moved or renamed no longer does.
fn names(named: &str, path: &str) -> bool {
    let wanted: Vec<&str> = named.trim_end_matches('/').split('/').collect();
    let have: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    named.ends_with('/') == path.ends_with('/')
        && have.len() >= wanted.len()
        && wanted
            .iter()
            .zip(&have[have.len() - wanted.len()..])
            .all(|(pattern, name)| component_matches(pattern, name))
}

/// The backquoted `something.rs` and `folder/` tokens of a Markdown text.
fn named_paths(markdown: &str) -> Vec<&str> {
    let mut paths: Vec<&str> = markdown
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|token| {
            (token.ends_with(".rs") || (token.len() > 1 && token.ends_with('/')))
                && token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-./<>".contains(c))
        })
        .collect();
    paths.sort_unstable();
    paths.dedup();
    paths
}

#[test]
fn every_path_architecture_names_exists() {
    let entries = workspace_entries();
    let architecture = read("ARCHITECTURE.md");
    let named = named_paths(&architecture);
    assert!(!named.is_empty(), "no path found in ARCHITECTURE.md");
    let failures: Vec<String> = named
        .into_iter()
        .filter(|named| !entries.iter().any(|path| names(named, path)))
        .map(|named| format!("`{named}`"))
        .collect();
    fail_listing("ARCHITECTURE.md names paths the workspace lacks", &failures);
}

/// The subcommands `xtask PATH... --help` lists (none for a command that has none).
fn subcommands(sh: &Shell, path: &[String]) -> Vec<String> {
    let xtask = env!("CARGO_BIN_EXE_xtask");
    let help = cmd!(sh, "{xtask} {path...} --help")
        .read()
        .expect("--help works");
    help.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        // A name sits two spaces in; deeper lines continue a wrapped description.
        .filter_map(|line| {
            line.strip_prefix("  ")
                .filter(|rest| !rest.starts_with(' '))
        })
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The leading lower-case words after `cargo xtask` in each row of README's command tables:
/// the command and its subcommand (`bench api`), before any flag or `NAME`-style argument.
fn readme_commands(readme: &str) -> Vec<Vec<String>> {
    readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `cargo xtask "))
        .map(|row| {
            let usage = row.split('`').next().unwrap_or_default();
            usage
                .split_whitespace()
                .take_while(|word| {
                    word.starts_with(|c: char| c.is_ascii_lowercase())
                        && word
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                })
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

#[test]
fn every_command_readme_lists_is_real_and_every_command_is_listed() {
    let sh = Shell::new().unwrap();
    let listed = readme_commands(&read("README.md"));
    let mut failures = Vec::new();
    for words in &listed {
        let usage = words.join(" ");
        let mut depth = 0;
        loop {
            let choices = subcommands(&sh, &words[..depth]);
            match (words.get(depth), choices.is_empty()) {
                (None, true) => break,
                (None, false) => {
                    failures.push(format!(
                        "`cargo xtask {usage}` lacks its subcommand (one of {})",
                        choices.join(", ")
                    ));
                    break;
                }
                (Some(word), _) if !choices.contains(word) => {
                    let parent = format!("xtask {}", words[..depth].join(" "));
                    failures.push(format!(
                        "`cargo xtask {usage}`: `{}` has no subcommand `{word}`",
                        parent.trim_end()
                    ));
                    break;
                }
                (Some(_), _) => depth += 1,
            }
        }
    }
    let top_level = subcommands(&sh, &[]);
    assert!(!top_level.is_empty(), "`xtask --help` lists no commands");
    for command in top_level {
        if !listed.iter().any(|words| words.first() == Some(&command)) {
            failures.push(format!("`cargo xtask {command}` is in no README table"));
        }
    }
    fail_listing(
        "README's command tables and `cargo xtask` disagree",
        &failures,
    );
}
