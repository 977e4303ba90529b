//! All terminal output goes through here: data on stdout, diagnostics on stderr.
//!
//! `print!`-style macros are disallowed elsewhere (clippy.toml), so that output format,
//! broken pipes and secrets are handled in one place.
#![allow(clippy::disallowed_macros)]

use std::io::Write;

/// Writes one line of data to stdout and flushes it, so that a parent process reading the
/// first line (as tests do with `mfactl emulator`) sees it at once. A closed pipe is not an
/// error: the reader has simply stopped listening.
pub fn data_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Reports an error and its causes on stderr, as `error: outer: cause: root cause`.
pub fn error(err: &(dyn std::error::Error + 'static)) {
    let mut line = format!("error: {err}");
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    eprintln!("{line}");
}

/// A progress or status line on stderr.
pub fn status(msg: &str) {
    eprintln!("{msg}");
}

/// Writes text to stdout as it is (a rendered plan, a report).
pub fn data(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Asks a question on stderr and reads one line of answer from stdin.
pub fn ask(question: &str) -> String {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    answer
}
