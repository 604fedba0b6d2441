//! The size limits: no source or test file over 500 lines, no function over 80 lines (a function
//! that is mostly SQL text aside), so every room of the house can be read in one sitting.

use syn::spanned::Spanned;
use syn::visit::{self, Visit};

use super::{all_rust_files, fail_listing, read};

const MAX_FILE_LINES: usize = 500;
const MAX_FUNCTION_LINES: usize = 80;

/// Functions that are mostly SQL text: a script reads best written out whole.
const SQL_TEXT_FUNCTIONS: &[&str] = &[];

#[test]
fn no_source_file_is_over_the_limit() {
    let failures: Vec<String> = all_rust_files()
        .into_iter()
        .filter_map(|path| {
            let lines = read(&path).lines().count();
            (lines > MAX_FILE_LINES).then(|| format!("{path}: {lines} lines"))
        })
        .collect();
    fail_listing(
        &format!("these files are over {MAX_FILE_LINES} lines"),
        &failures,
    );
}

#[test]
fn no_function_is_over_the_limit() {
    let mut failures = Vec::new();
    for path in all_rust_files() {
        let file = syn::parse_file(&read(&path)).unwrap_or_else(|error| panic!("{path}: {error}"));
        let mut long = LongFunctions::default();
        long.visit_file(&file);
        failures.extend(
            long.found
                .into_iter()
                .map(|(name, lines)| (format!("{path}: {name}"), lines))
                .filter(|(place, _)| !SQL_TEXT_FUNCTIONS.contains(&place.as_str()))
                .map(|(place, lines)| format!("{place} ({lines} lines)")),
        );
    }
    fail_listing(
        &format!("these functions are over {MAX_FUNCTION_LINES} lines"),
        &failures,
    );
}

/// Functions (free, in impls, or trait defaults) longer than the limit, from `fn` to the closing
/// brace: doc comments and attributes do not count.
#[derive(Default)]
struct LongFunctions {
    found: Vec<(String, usize)>,
}

impl LongFunctions {
    fn measure(&mut self, signature: &syn::Signature, body: &syn::Block) {
        let lines = body.span().end().line - signature.span().start().line + 1;
        if lines > MAX_FUNCTION_LINES {
            self.found.push((signature.ident.to_string(), lines));
        }
    }
}

impl<'ast> Visit<'ast> for LongFunctions {
    fn visit_item_fn(&mut self, function: &'ast syn::ItemFn) {
        self.measure(&function.sig, &function.block);
        visit::visit_item_fn(self, function);
    }

    fn visit_impl_item_fn(&mut self, function: &'ast syn::ImplItemFn) {
        self.measure(&function.sig, &function.block);
        visit::visit_impl_item_fn(self, function);
    }

    fn visit_trait_item_fn(&mut self, function: &'ast syn::TraitItemFn) {
        if let Some(body) = &function.default {
            self.measure(&function.sig, body);
        }
        visit::visit_trait_item_fn(self, function);
    }
}
