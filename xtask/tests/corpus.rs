//! The linter against the labelled corpus (xtask/tests/corpus): every file linted by the built
//! xtask after the project's migrations, its class compared with its label. Prints the
//! mismatches and the accuracy; fails below the target.

mod support;

// The same reading, linting and scoring as `cargo xtask bench lint`; squawk is the bench's.
#[allow(dead_code)]
#[path = "../src/commands/bench/corpus.rs"]
mod corpus;

use std::path::Path;

use corpus::{Case, Class, Score};

fn cases() -> Vec<Case> {
    corpus::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")).unwrap()
}

#[test]
fn the_corpus_is_labelled_as_the_brief_asks() {
    let cases = cases();
    let safe = cases.iter().filter(|case| !case.expect.is_risky()).count();
    let unnamed = cases.iter().filter(|case| !case.named).count();
    assert!(cases.len() >= 75, "{} files", cases.len());
    assert!(unnamed * 3 >= cases.len(), "{unnamed} unnamed forms");
    assert!(
        (30..=50).contains(&(safe * 100 / cases.len())),
        "{safe} safe of {}",
        cases.len()
    );
}

/// The verdict `check-migrations` and `deploy-db` act on: the rules cross-checked with the
/// trace on the real server. The rules alone are printed beside it.
#[test]
fn the_linter_classifies_the_corpus() {
    let cases = cases();
    let lint = |trace| {
        corpus::lint_each(
            Path::new(env!("CARGO_BIN_EXE_xtask")),
            &support::workspace_root(),
            &cases,
            trace,
        )
        .unwrap()
    };
    let static_only = Score::of(cases.iter().zip(lint(None)));
    println!("rules alone: {static_only}");
    let server = support::server();
    let verdicts = lint(Some(&server));

    let mismatches: Vec<(&Case, Class)> = cases
        .iter()
        .zip(verdicts.iter().copied())
        .filter(|(case, verdict)| case.expect != *verdict)
        .collect();
    println!("{} mismatches:", mismatches.len());
    println!("{:<48} {:<8} {:<11} got", "file", "form", "expected");
    for (case, verdict) in &mismatches {
        let form = if case.named { "named" } else { "unnamed" };
        println!(
            "{:<48} {form:<8} {:<11} {verdict}",
            case.name,
            case.expect.to_string()
        );
    }
    let labelled = || cases.iter().zip(verdicts.iter().copied());
    let score = Score::of(labelled());
    let by_form = |named: bool| Score::of(labelled().filter(|(case, _)| case.named == named));
    println!(
        "with the trace, on {} corpus files ({} safe, {} risky): {score}; exact class {}/{} ({:.1}%)",
        score.files(),
        score.safe,
        score.risky,
        score.exact,
        score.files(),
        100.0 * score.exact as f64 / score.files() as f64
    );
    println!("named forms: {}", by_form(true));
    println!("unnamed forms: {}", by_form(false));
    assert!(
        score.recall() >= 95.0,
        "recall on risky files {:.1}% < 95%",
        score.recall()
    );
    assert!(
        score.false_alarms * 15 <= score.safe,
        "{} false alarms on {} safe files",
        score.false_alarms,
        score.safe
    );
}
