//! `deploy-db`'s preflight: every refusal before anything is touched (connection, lock, a dead
//! runner's runs settled, status clean, plan, the pending migrations' class, INVALID indexes, the
//! client programs), the `--dry-run` plan, and the confirmation asked on a terminal.

use anyhow::Context;
use migrations::history::{self, History};
use migrations::lock::MigrationLock;
use migrations::{plan, statuses, DatabaseUrl, Migration, MigrationSet, State, Version};
use postgres::Client;
use xshell::Shell;

use super::context::{refused, step, Deploy, Stop};
use super::lock_estimate;
use crate::commands::backup;
use crate::linter::{PendingVerdict, Risk};
use crate::plumbing::check::Check;
use crate::plumbing::output::outln;
use crate::plumbing::pg_tools::{self, ServerVersion};
use crate::plumbing::{recovery, target_database, terminal};

impl<'a> Deploy<'a> {
    /// Connects and reads the server's version.
    pub(super) fn connect(&mut self) -> Result<(Client, ServerVersion), Stop> {
        let application = format!("{} deploy-db", target_database::APPLICATION);
        let mut client = self.url.connect(&application).map_err(|error| {
            let message = error.to_string();
            self.record(Check::of("connect", false, vec![message.clone()]));
            refused(message)
        })?;
        let server = ServerVersion::query(&mut client)?;
        self.record(Check::of(
            "connect",
            true,
            vec![format!("{}: {server}", self.url)],
        ));
        Ok((client, server))
    }

    /// The migration lock, except for a dry run (which changes nothing).
    pub(super) fn lock(&mut self) -> Result<Option<MigrationLock>, Stop> {
        if self.args.dry_run {
            return Ok(None);
        }
        target_database::lock(self.url, "deploy-db", self.args.change.lock_wait)
            .map(Some)
            .map_err(|error| self.refuse_with_check("migration lock", &error))
    }

    /// What a dead runner left unfinished, settled first (not on a dry run).
    pub(super) fn settle_unfinished_runs(&mut self, client: &mut Client) -> Result<(), Stop> {
        if self.args.dry_run {
            return Ok(());
        }
        recovery::recover(
            client,
            self.set,
            self.journal,
            &self.args.change.orphan_policy(),
            &target_database::applied_by(self.url),
        )
        .map_err(|error| self.refuse_with_check("unfinished runs settled", &error))
    }

    fn refuse_with_check(&mut self, name: &str, error: &anyhow::Error) -> Stop {
        let message = format!("{error:#}");
        self.record(Check::of(name, false, vec![message.clone()]));
        refused(message)
    }

    /// Every refusal, before anything is touched. Returns the pending migrations.
    pub(super) fn preflight(
        &mut self,
        client: &mut Client,
        history: &History,
        server: &ServerVersion,
    ) -> Result<Vec<&'a Migration>, Stop> {
        self.status_clean(history)?;
        let pending = self.plan(history)?;
        let mut failures = Vec::new();
        if !pending.is_empty() {
            failures.extend(self.lint_pending(client, &pending)?);
        }
        failures.extend(self.no_invalid_index(client)?);
        if !pending.is_empty() {
            failures.extend(self.client_programs(server)?);
        }
        if !failures.is_empty() {
            return Err(refused(format!(
                "preflight refused the deploy, nothing was changed: {}",
                failures.join("; ")
            )));
        }
        Ok(pending)
    }

    /// Nothing modified, missing or failed.
    fn status_clean(&mut self, history: &History) -> Result<(), Stop> {
        let unclean: Vec<String> = statuses(self.set, history)
            .iter()
            .filter(|status| {
                matches!(
                    status.state,
                    State::Modified | State::Missing | State::Failed
                )
            })
            .map(|status| match &status.error {
                Some(error) => format!("{} is {}: {error}", status.label(), status.state),
                None => format!("{} is {}", status.label(), status.state),
            })
            .collect();
        let clean = unclean.is_empty();
        self.record(Check::of(
            "status clean (nothing modified, missing or failed)",
            clean,
            unclean,
        ));
        if !clean {
            return Err(refused(
                "the migration status is not clean; see `cargo xtask status`",
            ));
        }
        Ok(())
    }

    fn plan(&mut self, history: &History) -> Result<Vec<&'a Migration>, Stop> {
        let set: &'a MigrationSet = self.set;
        let pending = plan::plan_migrate(set, history, None, false).map_err(|error| {
            self.record(Check::of("plan", false, vec![error.to_string()]));
            refused(error.to_string())
        })?;
        let detail = if pending.is_empty() {
            "nothing pending".to_owned()
        } else {
            let labels: Vec<String> = pending.iter().map(|migration| migration.label()).collect();
            format!("{} pending: {}", pending.len(), labels.join(", "))
        };
        self.record(Check::of("plan", true, vec![detail]));
        Ok(pending)
    }

    /// The linter's verdict on each pending migration (traced when the server allows it): a
    /// risky or multi-step one needs `--maintenance-window`. Returns the refusal, if any.
    fn lint_pending(
        &mut self,
        client: &mut Client,
        pending: &[&Migration],
    ) -> Result<Option<String>, Stop> {
        let versions: Vec<Version> = pending.iter().map(|migration| migration.version).collect();
        let (verdicts, unavailable) = self.shared.judge(&self.set.dir, &versions, self.url);
        let mut details = Vec::new();
        if let Some(reason) = unavailable {
            details.push(format!("trace unavailable, static verdict only: {reason}"));
        }
        let mut needs_window = Vec::new();
        let mut estimates = Vec::new();
        for migration in pending {
            let Some(verdict) = verdicts.get(&migration.version) else {
                needs_window.push(format!("{} could not be linted", migration.label()));
                continue;
            };
            details.extend(verdict_lines(migration, verdict));
            if verdict.risk != Risk::Safe {
                needs_window.push(format!("{} is {}", migration.label(), verdict.risk));
            }
            if let Some(trace) = &verdict.trace {
                estimates.extend(
                    lock_estimate::lines(client, trace, true)
                        .context("reading table sizes on the target")?
                        .into_iter()
                        .map(|line| format!("{} {line}", migration.label())),
                );
            }
        }
        details.extend(estimates);
        self.verdicts = verdicts;
        let passed = needs_window.is_empty() || self.args.maintenance_window;
        let refusal = (!passed).then(|| format!(
            "{} and needs --maintenance-window (run it while the application is stopped, or split it as `cargo xtask lint` explains)",
            needs_window.join(", ")
        ));
        if passed && !needs_window.is_empty() {
            details.push("accepted: --maintenance-window".to_owned());
        }
        self.record(Check::of(
            "lint: pending migrations' class",
            passed,
            details,
        ));
        Ok(refusal)
    }

    fn no_invalid_index(&mut self, client: &mut Client) -> Result<Option<String>, Stop> {
        let invalid = history::invalid_indexes(client).context("listing invalid indexes")?;
        let details: Vec<String> = invalid
            .iter()
            .map(|index| format!("{index} is INVALID: drop it and build it again first"))
            .collect();
        self.record(Check::of("no INVALID index", invalid.is_empty(), details));
        Ok((!invalid.is_empty()).then(|| format!("INVALID index {}", invalid.join(", "))))
    }

    /// `pg_dump` and `pg_restore` no older than the server. Returns what is wrong with them.
    fn client_programs(&mut self, server: &ServerVersion) -> Result<Vec<String>, Stop> {
        let sh = Shell::new().context("starting a shell")?;
        let mut failures = Vec::new();
        for name in ["pg_dump", "pg_restore"] {
            match pg_tools::find(&sh, name, server) {
                Ok(tool) => self.record(Check::of(
                    name,
                    true,
                    vec![format!("{} {}", tool.path.display(), tool.version)],
                )),
                Err(error) => {
                    let message = format!("{error:#}");
                    self.record(Check::of(name, false, vec![message.clone()]));
                    failures.push(message);
                }
            }
        }
        Ok(failures)
    }

    /// `--dry-run`: each pending migration, its class and SQL, and what would be backed up.
    pub(super) fn print_plan(
        &mut self,
        client: &mut Client,
        pending: &[&Migration],
        starting: Version,
    ) -> Result<(), Stop> {
        step("plan (dry run: nothing is changed)");
        outln!("{} at version {starting}", self.url);
        if pending.is_empty() {
            outln!("nothing pending: no backup, no migration");
            return Ok(());
        }
        for migration in pending {
            self.print_migration(client, migration)?;
        }
        self.print_backup_plan(client, pending.len(), starting)
    }

    fn print_migration(&self, client: &mut Client, migration: &Migration) -> Result<(), Stop> {
        let transaction = if migration.up.directives.no_transaction {
            "outside a transaction"
        } else {
            "in a transaction"
        };
        outln!(
            "\n{}  [{}, {transaction}]",
            migration.label(),
            super::report::class_text(self.risk_of(migration.version))
        );
        for line in migration.up.sql.lines() {
            outln!("    | {line}");
        }
        if let Some(trace) = self
            .verdicts
            .get(&migration.version)
            .and_then(|verdict| verdict.trace.as_ref())
        {
            for line in lock_estimate::lines(client, trace, false).context("reading table sizes")? {
                outln!("  {line}");
            }
        }
        Ok(())
    }

    fn print_backup_plan(
        &self,
        client: &mut Client,
        pending: usize,
        starting: Version,
    ) -> Result<(), Stop> {
        let row = client
            .query_one(
                "SELECT pg_database_size(current_database())::int8,
                        (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'
                           AND n.nspname NOT LIKE 'pg\\_%')",
                &[],
            )
            .context("measuring the database")?;
        let (size, tables): (i64, i64) = (row.get(0), row.get(1));
        let dir = self
            .args
            .backup_dir
            .clone()
            .unwrap_or_else(backup::default_dir);
        outln!(
            "\nbackup first: {} ({tables} tables, {} on the server) with pg_dump --format=custom into {}/{}-<UTC time>-v{starting}.dump, read back with pg_restore --list",
            self.url,
            pg_tools::human_size(u64::try_from(size).unwrap_or_default()),
            dir.display(),
            self.url.database()
        );
        outln!(
            "then apply {} migration{}, verify{}",
            pending,
            if pending == 1 { "" } else { "s" },
            if self.args.health_url.is_some() {
                ", health check"
            } else {
                ""
            }
        );
        Ok(())
    }
}

/// `V0002__x: risky (finding; finding)`, and where the trace stopped when PostgreSQL refused a
/// statement.
fn verdict_lines(migration: &Migration, verdict: &PendingVerdict) -> Vec<String> {
    let mut line = format!("{}: {}", migration.label(), verdict.risk);
    if !verdict.findings.is_empty() {
        line.push_str(&format!(" ({})", verdict.findings.join("; ")));
    }
    let mut lines = vec![line];
    if let Some(failure) = verdict
        .trace
        .as_ref()
        .and_then(|trace| trace.failure.as_ref())
    {
        lines.push(format!(
            "{}: the trace stopped where PostgreSQL refused the statement at {failure}",
            migration.label()
        ));
    }
    lines
}

/// Asks on the terminal before changing a database when `--yes` was not given.
pub(super) fn confirm(url: &DatabaseUrl, pending: usize) -> Result<(), Stop> {
    let answer = terminal::ask(&format!(
        "apply {pending} migration{} to {url}? type yes to go on: ",
        if pending == 1 { "" } else { "s" }
    ))?;
    if answer == "yes" {
        Ok(())
    } else {
        Err(refused("not confirmed; nothing was changed"))
    }
}
