//! `cargo xtask test-rollback-roundtrip`: every migration's down restores the schema, with data,
//! and its up runs again afterwards (see `migrations::roundtrip`).

use anyhow::{Context, Result};
use migrations::roundtrip::{self, Cause, Options, Report};
use migrations::ScratchDatabase;
use serde::Serialize;

use crate::flags::{Format, RoundtripArgs};
use crate::plumbing::target_database;

#[derive(Serialize)]
struct JsonReport<'a> {
    migrations: Vec<JsonMigration<'a>>,
    coverage: Coverage,
}

/// How many checked migrations met rows in every table they name.
#[derive(Serialize)]
struct Coverage {
    checked: usize,
    filled: usize,
}

#[derive(Serialize)]
struct JsonMigration<'a> {
    version: i32,
    name: &'a str,
    result: &'static str,
    step: Option<&'static str>,
    error: Option<&'a str>,
    cause: Option<&'static str>,
    hazard: Option<JsonHazard<'a>>,
    acknowledged: Option<&'a str>,
    filled: bool,
    differences: &'a [String],
    warnings: &'a [String],
}

#[derive(Serialize)]
struct JsonHazard<'a> {
    table: Option<&'a str>,
    column: Option<&'a str>,
    value: Option<&'a str>,
}

pub fn run(args: &RoundtripArgs) -> Result<()> {
    let set = target_database::load(args.server.dir.as_deref())?;
    let server = target_database::server(args.server.scratch.database_url.as_deref())?;
    let report = run_on_scratch(
        &server,
        &set,
        args.from,
        args.column_order.strict_column_order,
    )?;
    match args.output.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&json(&report))?),
        Format::Text => print_text(&report),
    }
    let failed = report.migrations.iter().filter(|m| !m.passed()).count();
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} migrations failed the rollback round-trip",
            report.migrations.len()
        );
    }
    Ok(())
}

pub fn run_on_scratch(
    server: &migrations::DatabaseUrl,
    set: &migrations::MigrationSet,
    from: Option<migrations::Version>,
    strict_column_order: bool,
) -> Result<Report> {
    let scratch = ScratchDatabase::create(server, "bomizzel_roundtrip")
        .with_context(|| format!("creating a scratch database on {}", server.server()))?;
    let mut client = scratch.url().connect(target_database::APPLICATION)?;
    let options = Options {
        from,
        strict_column_order,
    };
    roundtrip::run(&mut client, set, &options)
        .context("the round-trip lost its database connection")
}

fn json(report: &Report) -> JsonReport<'_> {
    JsonReport {
        migrations: report
            .migrations
            .iter()
            .map(|m| JsonMigration {
                version: m.version,
                name: &m.name,
                result: if m.passed() { "passed" } else { "failed" },
                step: m.failed_step.map(roundtrip::Step::as_str),
                error: m.error.as_deref(),
                cause: m.cause.map(Cause::as_str),
                hazard: m.hazard.as_ref().map(|hazard| JsonHazard {
                    table: hazard.table.as_deref(),
                    column: hazard.column.as_deref(),
                    value: hazard.value.as_deref(),
                }),
                acknowledged: m.acknowledged.as_deref(),
                filled: m.filled,
                differences: &m.differences,
                warnings: &m.warnings,
            })
            .collect(),
        coverage: Coverage {
            checked: report.migrations.len(),
            filled: report.migrations.iter().filter(|m| m.filled).count(),
        },
    }
}

pub fn print_text(report: &Report) {
    for line in text_lines(report) {
        println!("{line}");
    }
}

/// The human-readable report, one line each: a verdict per migration, its error, differences
/// and warnings indented below, and a summary.
pub fn text_lines(report: &Report) -> Vec<String> {
    let width = report
        .migrations
        .iter()
        .map(|m| migrations::model::label(m.version, &m.name).len())
        .max()
        .unwrap_or(0);
    let mut lines = Vec::new();
    for migration in &report.migrations {
        let label = migrations::model::label(migration.version, &migration.name);
        lines.push(
            match (
                migration.failed_step,
                migration.cause,
                &migration.acknowledged,
            ) {
                (None, _, _) => format!("{label:<width$}  passed"),
                (Some(step), Some(Cause::Data), Some(reason)) => format!(
                    "{label:<width$}  passed, data hazard at {} acknowledged: {reason}",
                    step.as_str()
                ),
                (Some(step), Some(Cause::Data), None) => format!(
                    "{label:<width$}  FAILED at {}: data hazard (passes on empty tables; \
                     acknowledge with `-- xtask: rollback-data-hazard -- reason`)",
                    step.as_str()
                ),
                (Some(step), _, _) => format!("{label:<width$}  FAILED at {}", step.as_str()),
            },
        );
        if let Some(hazard) = &migration.hazard {
            let place = match (&hazard.table, &hazard.column) {
                (Some(table), Some(column)) => format!("{table}.{column}"),
                (Some(table), None) => table.clone(),
                _ => "a generated row".to_owned(),
            };
            lines.push(format!(
                "    hazard: {place}{}",
                hazard
                    .value
                    .as_ref()
                    .map(|value| format!(": {value}"))
                    .unwrap_or_default()
            ));
        }
        lines.extend(migration.error.iter().map(|error| format!("    {error}")));
        lines.extend(
            migration
                .differences
                .iter()
                .map(|difference| format!("    {difference}")),
        );
        lines.extend(
            migration
                .warnings
                .iter()
                .map(|warning| format!("    warning: {warning}")),
        );
    }
    let passed = report.migrations.iter().filter(|m| m.passed()).count();
    let filled = report.migrations.iter().filter(|m| m.filled).count();
    lines.push(format!(
        "{} migrations: {passed} passed, {} failed; {filled} met rows in every table they name{}",
        report.migrations.len(),
        report.migrations.len() - passed,
        if report.scoped {
            ""
        } else {
            " (whole-schema snapshots: no privilege to create event triggers)"
        }
    ));
    lines
}
