//! `cargo xtask bench roundtrip --import DIR`: `test-rollback-roundtrip` over a real history (say,
//! one `cargo xtask import` converted) against the same check done with PostgreSQL's own programs,
//! in the same run on the same server, each from no database to its database dropped again. The
//! baseline, per migration on one scratch database: `pg_dump --schema-only` before, `psql -f up`,
//! dump, `psql -f down`, dump (must equal before), `psql -f up` again, dump (must equal after up).
//! It prints both times and their ratio, the round-trip's verdicts by cause, the versions only one
//! side fails (the round-trip fills tables with rows, psql meets them empty), and coverage: the
//! migrations whose touched tables all got rows. Target: coverage at least 95%.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::model::Script;
use migrations::{DatabaseUrl, Migration, MigrationSet, ScratchDatabase};
use serde_json::Value;
use xshell::{cmd, Shell};

use crate::plumbing::pg_tools::{self, ServerVersion, Tool};
use crate::plumbing::target_database;

const TARGET_COVERAGE: f64 = 0.95;
/// psql's exit status when `ON_ERROR_STOP` stopped a script on an SQL error (1 and 2 are its own
/// failures: a missing file, no connection).
const PSQL_SCRIPT_ERROR: i32 = 3;

pub fn run(dir: &Path, database_url: Option<&str>) -> Result<()> {
    let server = target_database::server(database_url)?;
    let set = target_database::load(Some(dir))?;
    let sh = Shell::new()?;
    let xtask = std::env::current_exe().context("locating the xtask binary")?;
    let version = ServerVersion::query(&mut server.connect(target_database::APPLICATION)?)?;
    let pg_dump = pg_tools::find(&sh, "pg_dump", &version)?;
    println!(
        "{} migrations from {}, server {server} ({version})",
        set.migrations.len(),
        dir.display()
    );

    super::measure::settle(&server);
    let (verdicts, roundtrip_time) = time_roundtrip(&sh, &xtask, &server, dir)?;
    super::measure::settle(&server);
    let (psql_failed, psql_time) = time_psql_check(&sh, &pg_dump, &server, &set)?;

    println!(
        "round-trip {:.1} s, psql + pg_dump {:.1} s: ratio (psql + pg_dump / round-trip) {:.2}x",
        roundtrip_time.as_secs_f64(),
        psql_time.as_secs_f64(),
        psql_time.as_secs_f64() / roundtrip_time.as_secs_f64()
    );
    print_verdicts(&verdicts);
    print_comparison(&verdicts, &psql_failed);
    print_coverage(&verdicts);
    Ok(())
}

/// One migration as `test-rollback-roundtrip --format json` reports it. A field a round-trip does
/// not print counts as unknown (`None`), never as false.
struct Verdict {
    version: i64,
    passed: bool,
    /// `Some(None)`: printed as null, the failure has no cause.
    cause: Option<Option<String>>,
    acknowledged: Option<bool>,
    filled: Option<bool>,
}

impl Verdict {
    fn parse(migration: &Value) -> Result<Verdict> {
        let version = migration["version"]
            .as_i64()
            .context("a migration without a numeric version in the round-trip's JSON")?;
        let field = |name: &str| migration.get(name);
        Ok(Verdict {
            version,
            passed: migration["result"] == "passed",
            cause: field("cause").map(|cause| cause.as_str().map(str::to_owned)),
            acknowledged: field("acknowledged").map(|reason| !reason.is_null()),
            filled: field("filled").and_then(Value::as_bool),
        })
    }
}

fn time_roundtrip(
    sh: &Shell,
    xtask: &Path,
    server: &DatabaseUrl,
    dir: &Path,
) -> Result<(Vec<Verdict>, Duration)> {
    let started = Instant::now();
    // Failed migrations make it exit 1; only output that is not its JSON report is an error.
    let output = cmd!(
        sh,
        "{xtask} test-rollback-roundtrip --dir {dir} --format json"
    )
    .env("DATABASE_URL", server.secret_conninfo())
    .quiet()
    .ignore_status()
    .output()
    .context("cannot start test-rollback-roundtrip")?;
    let elapsed = started.elapsed();
    let report: Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "test-rollback-roundtrip printed no JSON report: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })?;
    let verdicts = report["migrations"]
        .as_array()
        .context("the round-trip's JSON has no migrations list")?
        .iter()
        .map(Verdict::parse)
        .collect::<Result<_>>()?;
    Ok((verdicts, elapsed))
}

/// The check with psql and pg_dump on one scratch database; returns the versions that failed.
fn time_psql_check(
    sh: &Shell,
    pg_dump: &Tool,
    server: &DatabaseUrl,
    set: &MigrationSet,
) -> Result<(BTreeSet<i64>, Duration)> {
    let started = Instant::now();
    let scratch = ScratchDatabase::create(server, "bomizzel_bench_psql")
        .with_context(|| format!("creating a scratch database on {}", server.server()))?;
    let url = scratch.url();
    let mut failed = BTreeSet::new();
    let mut schema = dump_schema(sh, pg_dump, url)?;
    for migration in &set.migrations {
        let (passed, schema_after) = check_with_psql(sh, pg_dump, url, migration, schema)?;
        if !passed {
            failed.insert(i64::from(migration.version));
        }
        // After a failed script the schema is whatever it left: read it again.
        schema = match schema_after {
            Some(schema) => schema,
            None => dump_schema(sh, pg_dump, url)?,
        };
    }
    drop(scratch);
    Ok((failed, started.elapsed()))
}

/// Up, down, up again, each dump compared; returns whether the migration passed and the schema
/// it leaves when that is known without another dump.
fn check_with_psql(
    sh: &Shell,
    pg_dump: &Tool,
    url: &DatabaseUrl,
    migration: &Migration,
    before: String,
) -> Result<(bool, Option<String>)> {
    // As the round-trip, and diesel, do: a transactional pair's scripts each in one transaction.
    let single =
        !(migration.up.directives.no_transaction || migration.down.directives.no_transaction);
    if !run_psql(sh, url, &migration.up, single)? {
        return Ok((false, None));
    }
    let after_up = dump_schema(sh, pg_dump, url)?;
    if !run_psql(sh, url, &migration.down, single)? {
        return Ok((false, None));
    }
    let restored = dump_schema(sh, pg_dump, url)? == before;
    if !run_psql(sh, url, &migration.up, single)? {
        return Ok((false, None));
    }
    let after_reup = dump_schema(sh, pg_dump, url)?;
    Ok((restored && after_reup == after_up, Some(after_reup)))
}

/// Runs one script file; `false` when an SQL error stopped it.
fn run_psql(sh: &Shell, url: &DatabaseUrl, script: &Script, single: bool) -> Result<bool> {
    let file = &script.path;
    let single = single.then_some("--single-transaction");
    let output = pg_tools::connect_env(
        cmd!(
            sh,
            "psql -X -q --no-password -v ON_ERROR_STOP=1 {single...} -f {file}"
        ),
        url,
    )
    .quiet()
    .ignore_status()
    .output()
    .context("cannot start psql (is it installed?)")?;
    match output.status.code() {
        Some(0) => Ok(true),
        Some(PSQL_SCRIPT_ERROR) => Ok(false),
        status => anyhow::bail!(
            "psql failed on {} ({status:?}): {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    }
}

fn dump_schema(sh: &Shell, pg_dump: &Tool, url: &DatabaseUrl) -> Result<String> {
    let program = &pg_dump.path;
    let dump = pg_tools::run_tool(
        pg_tools::connect_env(cmd!(sh, "{program} --no-password --schema-only"), url),
        "pg_dump --schema-only",
    )?;
    // Recent pg_dump releases bracket the script in `\restrict KEY` lines, the key random per run.
    Ok(dump
        .lines()
        .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n"))
}

fn print_verdicts(verdicts: &[Verdict]) {
    let failed: Vec<&Verdict> = verdicts.iter().filter(|v| !v.passed).collect();
    let with_cause = |wanted: &str| {
        failed
            .iter()
            .filter(|v| matches!(&v.cause, Some(Some(cause)) if cause == wanted))
            .count()
    };
    let unknown = |field: fn(&Verdict) -> bool| failed.iter().filter(|v| field(v)).count();
    println!(
        "round-trip: {} checked, {} passed, {} failed; of the failed: {} cause schema (defects), \
         {} cause data (hazards), {} acknowledged; unknown (field missing): cause {}, acknowledged {}",
        verdicts.len(),
        verdicts.len() - failed.len(),
        failed.len(),
        with_cause("schema"),
        with_cause("data"),
        failed
            .iter()
            .filter(|v| v.acknowledged == Some(true))
            .count(),
        unknown(|v| v.cause.is_none()),
        unknown(|v| v.acknowledged.is_none()),
    );
}

fn print_comparison(verdicts: &[Verdict], psql_failed: &BTreeSet<i64>) {
    let roundtrip_failed: BTreeSet<i64> = verdicts
        .iter()
        .filter(|v| !v.passed)
        .map(|v| v.version)
        .collect();
    let versions = |set: BTreeSet<&i64>| {
        let listed: Vec<String> = set.iter().map(|version| format!("V{version:04}")).collect();
        match listed.is_empty() {
            true => "none".to_owned(),
            false => listed.join(", "),
        }
    };
    println!(
        "psql + pg_dump: {} failed, {} of them also failed by the round-trip",
        psql_failed.len(),
        psql_failed.intersection(&roundtrip_failed).count()
    );
    println!(
        "  only the round-trip fails: {}",
        versions(roundtrip_failed.difference(psql_failed).collect())
    );
    println!(
        "  only psql + pg_dump fails: {}",
        versions(psql_failed.difference(&roundtrip_failed).collect())
    );
}

fn print_coverage(verdicts: &[Verdict]) {
    if verdicts.iter().any(|v| v.filled.is_none()) {
        println!("coverage: unknown (the round-trip's JSON has no `filled` for every migration)");
        return;
    }
    let filled = verdicts.iter().filter(|v| v.filled == Some(true)).count();
    let coverage = filled as f64 / verdicts.len().max(1) as f64;
    println!(
        "coverage: {filled} of {} migrations had rows in every table they touch ({:.1}%, target >= {:.0}%): {}",
        verdicts.len(),
        coverage * 100.0,
        TARGET_COVERAGE * 100.0,
        if coverage >= TARGET_COVERAGE {
            "met"
        } else {
            "NOT MET"
        }
    );
}
