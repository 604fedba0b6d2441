//! The dependency arrows point one way. No two source files depend on each other through any chain
//! of imports (the linter's rule registry, its rules and the types they share aside), and no file of
//! the library, the plumbing or the linter imports a command. Paths come from `use` trees and from
//! `crate::`/`super::`/`self::`/child-module paths in code; test modules are left out (a test may
//! reach anywhere).

use std::collections::{BTreeMap, BTreeSet};

use syn::visit::{self, Visit};

use super::{fail_listing, read, source_files};

/// Crate roots and the files whose module path is not their place in the folder: the linter's
/// rules are declared by a `#[path = "rules"] mod rules` inside `rule.rs`.
const CRATE_ROOTS: &[&str] = &["xtask/src/", "migrations/src/", "backend/src/"];
const MODULE_FOLDERS: &[(&str, &str)] = &[("xtask/src/linter/rules/", "linter::rule::rules")];

/// A cycle among these is the registry's own: `rule.rs` lists the rules, each rule names its
/// `Rule`, `Finding` and `Context`.
fn is_linter_registry(file: &str) -> bool {
    ["rule.rs", "finding.rs", "context.rs", "rules/"]
        .iter()
        .any(|part| file.starts_with(&format!("xtask/src/linter/{part}")))
}

fn is_command(file: &str) -> bool {
    file.starts_with("xtask/src/commands/") || file == "xtask/src/commands.rs"
}

/// `xtask/src/commands/deploy_db/fleet.rs` is `commands::deploy_db::fleet` of the crate at
/// `xtask/src/`; `lib.rs`, `main.rs` and `mod.rs` are their folder's module.
fn module_path(file: &str) -> (&'static str, Vec<String>) {
    let root = CRATE_ROOTS
        .iter()
        .find(|root| file.starts_with(*root))
        .expect("a source file is under a crate root");
    let (base, rest) = match MODULE_FOLDERS
        .iter()
        .find(|(folder, _)| file.starts_with(folder))
    {
        Some((folder, module)) => (
            module.split("::").map(str::to_owned).collect(),
            &file[folder.len()..],
        ),
        None => (Vec::new(), &file[root.len()..]),
    };
    let mut path: Vec<String> = base;
    path.extend(rest.trim_end_matches(".rs").split('/').map(str::to_owned));
    if matches!(
        path.last().map(String::as_str),
        Some("lib" | "main" | "mod")
    ) {
        path.pop();
    }
    (root, path)
}

/// Every file's imports of other files of its crate.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let parsed: BTreeMap<String, syn::File> = source_files()
        .into_iter()
        .map(|file| {
            let syntax =
                syn::parse_file(&read(&file)).unwrap_or_else(|error| panic!("{file}: {error}"));
            (file, syntax)
        })
        .collect();
    let test_only = test_only_modules(&parsed);
    let files: Vec<String> = parsed
        .keys()
        .filter(|file| {
            let (root, module) = module_path(file);
            !test_only.iter().any(|(test_root, test_module)| {
                *test_root == root && module.starts_with(test_module)
            })
        })
        .cloned()
        .collect();
    let modules: BTreeMap<(&str, Vec<String>), String> = files
        .iter()
        .map(|file| (module_path(file), file.clone()))
        .collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let (root, module) = module_path(file);
        let parsed = &parsed[file];
        let mut paths = NamedPaths {
            scope: module.clone(),
            children: parsed.items.iter().filter_map(declared_module).collect(),
            found: Vec::new(),
        };
        paths.visit_file(parsed);
        let imports = paths
            .found
            .into_iter()
            .filter_map(|path| {
                (1..=path.len())
                    .rev()
                    .find_map(|length| modules.get(&(root, path[..length].to_vec())))
            })
            .filter(|target| *target != file)
            .cloned()
            .collect();
        graph.insert(file.clone(), imports);
    }
    graph
}

/// The modules declared `#[cfg(test)] mod name;`: their files (`tests.rs`, fixtures) are tests.
fn test_only_modules(parsed: &BTreeMap<String, syn::File>) -> Vec<(&'static str, Vec<String>)> {
    let mut found = Vec::new();
    for (file, syntax) in parsed {
        let (root, module) = module_path(file);
        for item in &syntax.items {
            if let syn::Item::Mod(declared) = item {
                if declared.content.is_none() && is_test_only(&declared.attrs) {
                    found.push((
                        root,
                        [module.clone(), vec![declared.ident.to_string()]].concat(),
                    ));
                }
            }
        }
    }
    found
}

fn declared_module(item: &syn::Item) -> Option<String> {
    match item {
        syn::Item::Mod(module) if module.content.is_none() => Some(module.ident.to_string()),
        _ => None,
    }
}

fn is_test_only(attributes: &[syn::Attribute]) -> bool {
    attributes.iter().any(|attribute| {
        attribute.path().is_ident("cfg")
            && attribute
                .parse_args::<syn::Ident>()
                .is_ok_and(|flag| flag == "test")
    })
}

/// The absolute module paths a file names, resolved against the module it is read in.
struct NamedPaths {
    scope: Vec<String>,
    children: BTreeSet<String>,
    found: Vec<Vec<String>>,
}

impl NamedPaths {
    fn resolve(&mut self, segments: Vec<String>) {
        let Some(first) = segments.first() else {
            return;
        };
        let absolute = match first.as_str() {
            "crate" => segments[1..].to_vec(),
            "self" => [self.scope.clone(), segments[1..].to_vec()].concat(),
            "super" => {
                let supers = segments
                    .iter()
                    .take_while(|segment| *segment == "super")
                    .count();
                let parent = self.scope.len().saturating_sub(supers);
                [self.scope[..parent].to_vec(), segments[supers..].to_vec()].concat()
            }
            child if self.children.contains(child) => [self.scope.clone(), segments].concat(),
            _ => return,
        };
        self.found.push(absolute);
    }

    fn use_tree(&mut self, prefix: &[String], tree: &syn::UseTree) {
        let joined = |name: &syn::Ident| [prefix, &[name.to_string()]].concat();
        match tree {
            syn::UseTree::Path(path) => self.use_tree(&joined(&path.ident), &path.tree),
            syn::UseTree::Name(name) => self.resolve(joined(&name.ident)),
            syn::UseTree::Rename(rename) => self.resolve(joined(&rename.ident)),
            syn::UseTree::Glob(_) => self.resolve(prefix.to_vec()),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for NamedPaths {
    fn visit_item_mod(&mut self, module: &'ast syn::ItemMod) {
        if is_test_only(&module.attrs) {
            return;
        }
        self.scope.push(module.ident.to_string());
        visit::visit_item_mod(self, module);
        self.scope.pop();
    }

    fn visit_item_fn(&mut self, function: &'ast syn::ItemFn) {
        if !is_test_only(&function.attrs) {
            visit::visit_item_fn(self, function);
        }
    }

    /// `pub(super)` names who may see an item, not what the file uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&[], &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments = path
            .segments
            .iter()
            .map(|segment| segment.ident.to_string())
            .collect();
        self.resolve(segments);
        visit::visit_path(self, path);
    }
}

/// Strongly connected groups of more than one file (Tarjan's algorithm).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Search<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, (usize, usize)>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Search<'a> {
        fn visit(&mut self, file: &'a str) -> usize {
            let order = self.index.len();
            self.index.insert(file, (order, order));
            self.stack.push(file);
            let mut low = order;
            for next in &self.graph[file] {
                low = match self.index.get(next.as_str()) {
                    None => low.min(self.visit(next)),
                    Some(&(next_order, _)) if self.stack.contains(&next.as_str()) => {
                        low.min(next_order)
                    }
                    Some(_) => low,
                };
            }
            self.index.insert(file, (order, low));
            if low == order {
                let start = self.stack.iter().position(|entry| *entry == file).unwrap();
                let group: Vec<String> = self.stack.drain(start..).map(str::to_owned).collect();
                if group.len() > 1 {
                    self.found.push(group);
                }
            }
            low
        }
    }
    let mut search = Search {
        graph,
        index: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for file in graph.keys() {
        if !search.index.contains_key(file.as_str()) {
            search.visit(file);
        }
    }
    search.found
}

#[test]
fn no_two_files_import_each_other() {
    let failures: Vec<String> = cycles(&import_graph())
        .into_iter()
        .filter(|group| !group.iter().all(|file| is_linter_registry(file)))
        .map(|mut group| {
            group.sort();
            group.join(" ↔ ")
        })
        .collect();
    fail_listing(
        "these files import each other (through any chain)",
        &failures,
    );
}

#[test]
fn only_commands_and_main_import_a_command() {
    let failures: Vec<String> = import_graph()
        .into_iter()
        .filter(|(file, _)| !is_command(file) && file != "xtask/src/main.rs")
        .flat_map(|(file, imports)| {
            imports
                .into_iter()
                .filter(|target| is_command(target))
                .map(move |command| format!("{file} imports {command}"))
        })
        .collect();
    fail_listing(
        "plumbing, linter or library files import a command",
        &failures,
    );
}

/// `cargo test -p xtask --test tidy -- --ignored --nocapture import_graph`: every file's imports,
/// to see which arrow closes a cycle.
#[test]
#[ignore = "prints the graph for a person; asserts nothing"]
fn print_import_graph() {
    for (file, imports) in import_graph() {
        for target in imports {
            println!("{file} -> {target}");
        }
    }
}
