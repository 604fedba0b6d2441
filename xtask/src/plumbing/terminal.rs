//! Questions asked on the terminal before a command changes something it cannot take back.

use std::io::{BufRead, Write};

use anyhow::{Context, Result};

/// Prints `question` on stderr and returns the line typed in answer, trimmed.
pub fn ask(question: &str) -> Result<String> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    Ok(answer.trim().to_owned())
}
