//! Per-file facts rules need beyond the statement in front of them: which tables this migration
//! created (operations on those are safe: nobody else uses them yet), the file's directives, the
//! catalog of what earlier migrations built, and the application's queries when they are known.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use migrations::model::{
    parse_comments, parse_file_name, CommentError, Direction, Directives, Documentation,
};
use migrations::Version;
use pg_query::protobuf::{ObjectType, RangeVar};
use pg_query::NodeEnum;

use super::application::Application;
use super::catalog::{Catalog, Changes, Overlay};
use super::finding::{Finding, Severity};
use super::rule::{Class, Rule};
use super::sql::{self, Parsed, Statement};

/// One SQL file and what its name and comment lines say.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub sql: String,
    pub direction: Direction,
    /// `None` when the name is not a migration name.
    pub version: Option<Version>,
    pub directives: Directives,
    pub documentation: Documentation,
    /// A bad `-- xtask:` line; the directives read before it are kept.
    pub directive_error: Option<CommentError>,
}

impl SourceFile {
    pub fn new(path: &Path, sql: String) -> SourceFile {
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy())
            .unwrap_or_default();
        let direction = if file_name.ends_with(".down.sql") {
            Direction::Down
        } else {
            Direction::Up
        };
        let (directives, documentation, directive_error) = match parse_comments(&sql) {
            Ok((directives, documentation)) => (directives, documentation, None),
            Err(error) => {
                // Read what comes before the bad line, so its acknowledgements still count.
                let before: String = sql
                    .lines()
                    .take(error.line - 1)
                    .flat_map(|line| [line, "\n"])
                    .collect();
                let (directives, documentation) = parse_comments(&before).unwrap_or_default();
                (directives, documentation, Some(error))
            }
        };
        SourceFile {
            path: path.to_path_buf(),
            version: parse_file_name(&file_name).ok().map(|name| name.version),
            sql,
            direction,
            directives,
            documentation,
            directive_error,
        }
    }
}

/// Where byte offsets fall in lines and columns.
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> LineIndex {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        LineIndex { starts }
    }

    /// 1-based line and character column.
    pub(crate) fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&start| start <= offset);
        let line_start = self.starts[line - 1];
        let column = text
            .get(line_start..offset)
            .map_or(offset - line_start, |prefix| prefix.chars().count());
        (line, column + 1)
    }
}

pub struct Context<'a> {
    pub file: &'a SourceFile,
    pub parsed: &'a Parsed,
    /// The schema as it is just before the current statement.
    pub catalog: Overlay<'a>,
    /// The queries of the application these migrations belong to; `None` when unknown.
    pub application: Option<&'a Application>,
    /// Tables and views.
    new_tables: HashSet<String>,
    /// (table, column) names this migration introduced on a table it did not create: added
    /// columns, and the new names of renamed ones.
    new_columns: HashSet<(String, String)>,
    /// Index name -> its table, for indexes this migration created.
    new_indexes: HashMap<String, String>,
    /// Views, functions, triggers, types ... by kind and name (see [`sql::created_object`]).
    new_objects: HashSet<(ObjectType, String)>,
    /// The statements being checked run in batches, each committed on its own.
    pub in_batches: bool,
    lines: LineIndex,
}

impl<'a> Context<'a> {
    /// A context for `file`, starting from the schema in `catalog`.
    pub fn new(
        file: &'a SourceFile,
        parsed: &'a Parsed,
        catalog: &'a Catalog,
        application: Option<&'a Application>,
    ) -> Context<'a> {
        Context {
            file,
            parsed,
            catalog: catalog.overlay(),
            application,
            new_tables: HashSet::new(),
            new_columns: HashSet::new(),
            new_indexes: HashMap::new(),
            new_objects: HashSet::new(),
            in_batches: false,
            lines: LineIndex::new(&file.sql),
        }
    }

    /// Records what `statement` creates and changes, once the rules have looked at it.
    pub fn advance(&mut self, statement: &Statement) {
        self.adopt(statement);
        self.catalog.apply(&statement.node);
    }

    /// What this file changed in the schema.
    pub fn into_changes(self) -> Changes {
        self.catalog.into_changes()
    }

    /// Counts what `statement` creates as this migration's own: for a down file, the statements
    /// of its up file, whose effect is already in the catalog.
    pub fn adopt(&mut self, statement: &Statement) {
        if let Some(object) = sql::created_object(&statement.node) {
            self.new_objects.insert(object);
        }
        match &statement.node {
            NodeEnum::CreateStmt(create) => self.add_new_table(create.relation.as_ref()),
            NodeEnum::CreateTableAsStmt(create) => {
                self.add_new_table(create.into.as_ref().and_then(|into| into.rel.as_ref()))
            }
            NodeEnum::SelectStmt(select) => self.add_new_table(
                select
                    .into_clause
                    .as_ref()
                    .and_then(|into| into.rel.as_ref()),
            ),
            NodeEnum::ViewStmt(view) => self.add_new_table(view.view.as_ref()),
            NodeEnum::IndexStmt(index) => {
                if let Some(table) = &index.relation {
                    self.new_indexes
                        .insert(index.idxname.clone(), table.relname.clone());
                }
            }
            NodeEnum::AlterTableStmt(_) => {
                for (table, command) in sql::alter_table_commands(&statement.node) {
                    if let Some(column) = sql::added_column(command) {
                        self.new_columns
                            .insert((table.relname.clone(), column.colname.clone()));
                    }
                }
            }
            NodeEnum::RenameStmt(rename) => match (rename.rename_type(), &rename.relation) {
                (ObjectType::ObjectTable, Some(table))
                    if self.new_tables.contains(&table.relname) =>
                {
                    self.new_tables.remove(&table.relname);
                    self.new_tables.insert(rename.newname.clone());
                }
                // The new name is this migration's: no released code uses it yet, so its down
                // file may rename it back.
                (ObjectType::ObjectColumn, Some(table)) => {
                    self.new_columns
                        .insert((table.relname.clone(), rename.newname.clone()));
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn add_new_table(&mut self, table: Option<&RangeVar>) {
        if let Some(table) = table {
            self.new_tables.insert(table.relname.clone());
        }
    }

    /// Created by this migration (for a down file: by its up file too), so no one else uses it.
    pub fn is_new_table(&self, table: &RangeVar) -> bool {
        self.is_new_table_named(&table.relname)
    }

    pub fn is_new_table_named(&self, table: &str) -> bool {
        self.new_tables.contains(table)
    }

    /// On a new table, or added by this migration: no released code reads it yet.
    pub fn is_new_column(&self, table: &RangeVar, column: &str) -> bool {
        self.is_new_table(table)
            || self
                .new_columns
                .contains(&(table.relname.clone(), column.to_owned()))
    }

    /// A function (or procedure) this migration created, by name.
    pub fn is_new_function(&self, name: &str) -> bool {
        [ObjectType::ObjectFunction, ObjectType::ObjectProcedure]
            .into_iter()
            .any(|kind| self.is_new_object(kind, name))
    }

    /// A view, function, trigger, type ... this migration created, by the kind a `DROP` names
    /// and the name [`sql::dropped_names`] gives it.
    pub fn is_new_object(&self, kind: ObjectType, name: &str) -> bool {
        self.new_objects.contains(&(kind, name.to_owned()))
    }

    /// The table of an index this migration created.
    pub fn new_index_table(&self, index: &str) -> Option<&str> {
        self.new_indexes.get(index).map(String::as_str)
    }

    pub fn is_down(&self) -> bool {
        self.file.direction == Direction::Down
    }

    /// The migration runs outside a transaction (`-- xtask: no-transaction`).
    pub fn no_transaction(&self) -> bool {
        self.file.directives.no_transaction
    }

    /// 1-based line and column of a byte offset in this file.
    fn position(&self, offset: usize) -> (usize, usize) {
        self.lines.position(&self.file.sql, offset)
    }

    /// A finding of `rule` at byte `offset`. A down file is expected to destroy what its up file
    /// built, so there risk findings are warnings: reported, never failing the lint.
    pub fn finding(&self, rule: Rule, offset: usize, message: String, help: String) -> Finding {
        let mut finding = Finding::at(rule, self.position(offset), message, help);
        if self.is_down() && matches!(rule.class(), Class::Risky | Class::MultiStep) {
            finding.severity = Severity::Warning;
        }
        finding
    }

    /// A finding about a whole line (a directive, the documentation header).
    pub fn finding_on_line(
        &self,
        rule: Rule,
        line: usize,
        message: String,
        help: String,
    ) -> Finding {
        let offset = self
            .lines
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or_default();
        self.finding(rule, offset, message, help)
    }
}

#[cfg(test)]
pub mod test_support {
    //! Runs one rule over SQL the way the runner does, for the rules' own tests.

    use super::*;
    use crate::linter::rule::Check;

    pub fn up_file(sql: &str) -> SourceFile {
        SourceFile::new(Path::new("V0007__change.sql"), sql.to_owned())
    }

    /// The findings of `rule` on `sql` as an up file with no earlier migrations.
    pub fn check(rule: Rule, sql: &str) -> Vec<Finding> {
        check_after(rule, "", sql)
    }

    /// The findings of `rule` on `sql`, after `earlier` migrations built the schema.
    pub fn check_after(rule: Rule, earlier: &str, sql: &str) -> Vec<Finding> {
        check_file(rule, earlier, &up_file(sql))
    }

    pub fn check_file(rule: Rule, earlier: &str, file: &SourceFile) -> Vec<Finding> {
        run(rule, earlier, "", file)
    }

    /// The findings of `rule` on the down file `down` of the up file `up`.
    pub fn check_down(rule: Rule, up: &str, down: &str) -> Vec<Finding> {
        let file = SourceFile::new(Path::new("V0007__change.down.sql"), down.to_owned());
        run(rule, "", up, &file)
    }

    /// The findings of `rule` on `sql` as an up file, after `earlier`, for an application that
    /// runs `application`.
    pub fn check_with_application(
        rule: Rule,
        earlier: &str,
        sql: &str,
        application: &Application,
    ) -> Vec<Finding> {
        run_with(rule, earlier, "", &up_file(sql), Some(application))
    }

    fn run(rule: Rule, earlier: &str, up: &str, file: &SourceFile) -> Vec<Finding> {
        run_with(rule, earlier, up, file, None)
    }

    fn run_with(
        rule: Rule,
        earlier: &str,
        up: &str,
        file: &SourceFile,
        application: Option<&Application>,
    ) -> Vec<Finding> {
        let up = sql::parse(up).statements;
        let mut catalog = Catalog::default();
        // The earlier migrations, then the up file: a down file starts after both.
        for statements in [sql::parse(earlier).statements, up.clone()] {
            let mut overlay = catalog.overlay();
            for statement in &statements {
                overlay.apply(&statement.node);
            }
            let changes = overlay.into_changes();
            catalog.merge(changes);
        }
        let parsed = sql::parse(&file.sql);
        assert!(
            parsed.syntax_errors.is_empty() || rule == Rule::SyntaxError,
            "test SQL does not parse: {:?}",
            parsed.syntax_errors
        );
        let mut context = Context::new(file, &parsed, &catalog, application);
        for statement in &up {
            context.adopt(statement);
        }
        let mut findings = Vec::new();
        for statement in &parsed.statements {
            findings.extend(crate::linter::runner::check_statement(
                statement,
                &mut context,
                &[rule],
            ));
        }
        if let Check::File(check) = rule.check() {
            findings.extend(check(&context));
        }
        findings
    }

    /// Each finding as `line:column rule: message` and its help, for the rules' snapshots.
    pub fn rendered(findings: &[Finding]) -> String {
        findings
            .iter()
            .map(|finding| {
                format!(
                    "{}:{} {}: {}\n  help: {}\n",
                    finding.line,
                    finding.column,
                    finding.rule,
                    finding.message,
                    finding.help.replace('\n', "\n        ")
                )
            })
            .collect()
    }

    /// The findings' (line, column), for compact assertions.
    pub fn positions(findings: &[Finding]) -> Vec<(usize, usize)> {
        findings
            .iter()
            .map(|finding| (finding.line, finding.column))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "ab\néé x\n";
        let index = LineIndex::new(text);
        assert_eq!(index.position(text, 0), (1, 1));
        assert_eq!(index.position(text, 3), (2, 1));
        assert_eq!(index.position(text, text.find('x').unwrap()), (2, 4));
        assert_eq!(index.position(text, text.len()), (3, 1));
    }

    #[test]
    fn reads_name_directives_and_keeps_those_before_a_bad_line() {
        let file = SourceFile::new(
            Path::new("sql/V0012__drop_x.down.sql"),
            "-- xtask: allow drop-column -- unused\n-- xtask: no-transactoin\n".into(),
        );
        assert_eq!(file.version, Some(12));
        assert_eq!(file.direction, Direction::Down);
        assert_eq!(file.directives.allows.len(), 1);
        assert_eq!(file.directive_error.map(|error| error.line), Some(2));
        let unnamed = SourceFile::new(Path::new("scratch.sql"), String::new());
        assert_eq!((unnamed.version, unnamed.direction), (None, Direction::Up));
    }
}
