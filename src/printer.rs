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

/// What a long run has done so far: shown on stderr as a redrawn line on a terminal, and
/// as a plain line every few seconds (and at the end of each phase) otherwise, so that logs
/// stay readable.
pub struct Progress {
    mode: ProgressMode,
    inner: std::sync::Mutex<ProgressState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProgressMode {
    Terminal,
    Lines,
    Hidden,
}

struct ProgressState {
    names_resolved: u64,
    users_read: u64,
    planned: u64,
    applied: u64,
    last: Option<std::time::Instant>,
    drawn: bool,
}

/// What a [`Progress`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Users whose details or state were read.
    UsersRead,
    /// Per-user changes planned.
    Planned,
    /// Per-user changes applied.
    Applied,
    /// Target names looked up in the tenant.
    NamesResolved,
}

impl Progress {
    /// Progress on stderr: a redrawn line on a terminal, plain lines otherwise.
    pub fn stderr() -> Self {
        use std::io::IsTerminal;
        let terminal =
            std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        Self::with_mode(if terminal {
            ProgressMode::Terminal
        } else {
            ProgressMode::Lines
        })
    }

    /// No output at all (library callers, the controller loop).
    pub fn hidden() -> Self {
        Self::with_mode(ProgressMode::Hidden)
    }

    fn with_mode(mode: ProgressMode) -> Self {
        Self {
            mode,
            inner: std::sync::Mutex::new(ProgressState {
                names_resolved: 0,
                users_read: 0,
                planned: 0,
                applied: 0,
                last: None,
                drawn: false,
            }),
        }
    }

    /// Adds `n` to a counter and shows it if it is time to.
    pub fn add(&self, counter: Counter, n: u64) {
        if self.mode == ProgressMode::Hidden {
            return;
        }
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match counter {
            Counter::UsersRead => s.users_read += n,
            Counter::Planned => s.planned += n,
            Counter::Applied => s.applied += n,
            Counter::NamesResolved => s.names_resolved += n,
        }
        let every = match self.mode {
            ProgressMode::Terminal => std::time::Duration::from_millis(100),
            _ => std::time::Duration::from_secs(5),
        };
        let now = std::time::Instant::now();
        if s.last.is_some_and(|l| now.duration_since(l) < every) {
            return;
        }
        if s.last.is_none() && self.mode == ProgressMode::Lines {
            // The first plain line waits a full period: short runs print none.
            s.last = Some(now);
            return;
        }
        s.last = Some(now);
        let names = if s.names_resolved > 0 {
            format!("names resolved {} · ", thousands(s.names_resolved))
        } else {
            String::new()
        };
        let line = format!(
            "{names}users read {} · changes planned {} · changes applied {}",
            thousands(s.users_read),
            thousands(s.planned),
            thousands(s.applied)
        );
        let mut err = std::io::stderr().lock();
        if self.mode == ProgressMode::Terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
            s.drawn = true;
        } else {
            let _ = writeln!(err, "progress: {line}");
        }
        let _ = err.flush();
    }

    /// Ends a phase with a line saying what it did (the redrawn line is cleared first).
    pub fn phase(&self, msg: &str) {
        if self.mode == ProgressMode::Hidden {
            return;
        }
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut err = std::io::stderr().lock();
        if s.drawn {
            let _ = write!(err, "\r\x1b[2K");
            s.drawn = false;
        }
        let _ = writeln!(err, "{msg}");
        let _ = err.flush();
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Streams data to stdout through a buffer (a million-row table is written as it is made,
/// never held whole). A closed pipe ends the writing quietly.
pub fn data_stream(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let _ = write(&mut out).and_then(|()| out.flush());
}
