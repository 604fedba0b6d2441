//! Where the lines of a database change go: stdout, or, while a fleet deploys several databases
//! at once on threads, stdout with every whole line prefixed by the database it is about, so
//! parallel deploys never interleave within a line and each line says whose it is.

use std::cell::RefCell;
use std::fmt;
use std::io::{IsTerminal, Write};

/// `print!` through this module.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::plumbing::output::write(format_args!($($arg)*))
    };
}

/// `println!` through this module.
macro_rules! outln {
    () => {
        $crate::plumbing::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::plumbing::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

struct Prefixed {
    prefix: String,
    /// The start of a line whose end has not been written yet (`up V0001 ... ` before its time).
    partial: String,
}

thread_local! {
    static PREFIXED: RefCell<Option<Prefixed>> = const { RefCell::new(None) };
}

/// Runs `body` with this thread's output prefixed by `prefix` (one line at a time, whole).
pub fn prefixed<T>(prefix: &str, body: impl FnOnce() -> T) -> T {
    PREFIXED.with(|cell| {
        *cell.borrow_mut() = Some(Prefixed {
            prefix: prefix.to_owned(),
            partial: String::new(),
        })
    });
    let result = body();
    if let Some(Prefixed { prefix, partial }) = PREFIXED.with(|cell| cell.borrow_mut().take()) {
        if !partial.is_empty() {
            emit(&prefix, &partial);
        }
    }
    result
}

pub fn write(args: fmt::Arguments<'_>) {
    let captured = PREFIXED.with(|cell| {
        let mut cell = cell.borrow_mut();
        let Some(prefixed) = cell.as_mut() else {
            return false;
        };
        prefixed.partial.push_str(&args.to_string());
        while let Some(end) = prefixed.partial.find('\n') {
            let line: String = prefixed.partial.drain(..=end).collect();
            emit(&prefixed.prefix, line.trim_end_matches('\n'));
        }
        true
    });
    if !captured {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_fmt(args);
        // A line's start (`up V0001 ... `) shows while its migration runs.
        let _ = stdout.flush();
    }
}

fn emit(prefix: &str, line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{prefix} | {line}");
}

/// Whether the output goes to a terminal line of its own (a progress bar may redraw it).
pub fn is_terminal() -> bool {
    PREFIXED.with(|cell| cell.borrow().is_none()) && std::io::stdout().is_terminal()
}
