//! All terminal output goes through here: data on stdout, diagnostics on stderr.
//!
//! `print!`-style macros are disallowed elsewhere (clippy.toml), so that output format,
//! colour, broken pipes and secrets are handled in one place:
//! - with `--log-format json` every stderr line is one JSON object (`timestamp`, `level`,
//!   `message`, then structured fields such as `tenant`, `cycle`, `resource`), the same shape
//!   as the tracing log lines ([`init`] configures both);
//! - colour and cursor escapes follow one decision per stream ([`colour`]): `--color`,
//!   `NO_COLOR`, `TERM=dumb` and whether the stream is a terminal;
//! - a write error (a closed pipe) is never a panic: the stream is marked closed and
//!   nothing more is written to it, and the command ends with its own exit code.
#![allow(clippy::disallowed_macros)]

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

/// `--color`: whether output carries ANSI escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set or `TERM=dumb`.
    #[default]
    Auto,
    /// Always, even into a file or a pipe.
    Always,
    /// Never.
    Never,
}

/// One of the two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Data: plans, reports.
    Stdout,
    /// Status, progress, diagnostics, logs.
    Stderr,
}

/// How severe a stderr line is (the `level` of a JSON line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something needs attention (drift observed, a warning diagnostic).
    Warn,
    /// What is happening.
    Info,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
        }
    }
}

struct Settings {
    json: bool,
    choice: ColorChoice,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Sets the output format and colour choice for the whole process (the first call wins;
/// without one, text without forced colour).
pub fn init(json: bool, choice: ColorChoice) {
    let _ = SETTINGS.set(Settings { json, choice });
}

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Settings {
        json: false,
        choice: ColorChoice::Auto,
    })
}

/// Whether stderr lines are JSON objects (`--log-format json`).
pub fn json() -> bool {
    settings().json
}

/// Whether output to `stream` may carry colour: `--color always` says yes, `never` no, and
/// `auto` yes only on a terminal, with `NO_COLOR` unset or empty and `TERM` not `dumb`. JSON
/// lines never carry colour.
pub fn colour(stream: Stream) -> bool {
    use std::io::IsTerminal;
    if stream == Stream::Stderr && json() {
        return false;
    }
    match settings().choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            let terminal = match stream {
                Stream::Stdout => std::io::stdout().is_terminal(),
                Stream::Stderr => std::io::stderr().is_terminal(),
            };
            terminal
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    }
}

/// Writes `bytes` to a stream unless it was found closed; a failed write marks it closed.
fn write_to(stream: Stream, bytes: &[u8]) {
    let closed = match stream {
        Stream::Stdout => &STDOUT_CLOSED,
        Stream::Stderr => &STDERR_CLOSED,
    };
    if closed.load(Ordering::Relaxed) {
        return;
    }
    let result = match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        Stream::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(bytes).and_then(|()| err.flush())
        }
    };
    if result.is_err() {
        closed.store(true, Ordering::Relaxed);
    }
}

/// Whether a write to stdout has failed (the reader went away): long streams stop there.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// The writer tracing logs through: stderr, where a failed write marks the stream closed
/// instead of being reported (tracing would report it on stderr, which may be what failed).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_to(Stream::Stderr, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One line on stderr: the message as it is in text mode; in JSON mode one object with the
/// timestamp, the level, the message and `fields` (e.g. `("tenant", "contoso".into())`).
pub fn event(level: Level, message: &str, fields: &[(&str, Value)]) {
    let mut line = if json() {
        let mut object = serde_json::Map::new();
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        object.insert("timestamp".into(), Value::String(now));
        object.insert("level".into(), Value::String(level.as_str().into()));
        object.insert("message".into(), Value::String(message.into()));
        for (k, v) in fields {
            object.insert((*k).into(), v.clone());
        }
        object.insert("target".into(), Value::String("mfactl".into()));
        Value::Object(object).to_string()
    } else {
        message.to_string()
    };
    line.push('\n');
    write_to(Stream::Stderr, line.as_bytes());
}

/// A stderr line made by library code (a cycle's diagnostics) for the caller to print, with
/// the caller's own fields (tenant, cycle) added: see [`Line::print`].
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// How severe.
    pub level: Level,
    /// The text, as shown in text mode.
    pub message: String,
    /// Structured fields for JSON mode (`code`, `file`, `line`, `column` of a diagnostic).
    pub fields: Vec<(&'static str, Value)>,
}

impl Line {
    /// Prints the line with `context` (e.g. tenant and cycle) before its own fields.
    pub fn print(&self, context: &[(&str, Value)]) {
        let mut fields: Vec<(&str, Value)> = context.to_vec();
        fields.extend(self.fields.iter().map(|(k, v)| (*k, v.clone())));
        event(self.level, &self.message, &fields);
    }
}

/// Writes one line of data to stdout and flushes it, so that a parent process reading the
/// first line (as tests do with `mfactl emulator`) sees it at once. A closed pipe is not an
/// error: the reader has simply stopped listening.
pub fn data_line(line: &str) {
    write_to(Stream::Stdout, format!("{line}\n").as_bytes());
}

/// Reports an error and its causes on stderr, as `error: outer: cause: root cause` (in
/// JSON mode the message is the chain without `error: `, at level ERROR).
pub fn error(err: &(dyn std::error::Error + 'static)) {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    if json() {
        event(Level::Error, &line, &[]);
    } else {
        event(Level::Error, &format!("error: {line}"), &[]);
    }
}

/// A progress or status line on stderr.
pub fn status(msg: &str) {
    event(Level::Info, msg, &[]);
}

/// Writes text to stdout as it is (a rendered plan, a report).
pub fn data(text: &str) {
    write_to(Stream::Stdout, text.as_bytes());
}

/// Asks a question on stderr and reads one line of answer from stdin.
pub fn ask(question: &str) -> String {
    write_to(Stream::Stderr, question.as_bytes());
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
    /// Progress on stderr: a redrawn line on a terminal (when stderr may carry escapes, see
    /// [`colour`]; never into a file, even with `--color always`), plain lines otherwise.
    pub fn stderr() -> Self {
        use std::io::IsTerminal;
        let terminal = std::io::stderr().is_terminal() && colour(Stream::Stderr);
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
        if self.mode == ProgressMode::Terminal {
            write_to(Stream::Stderr, format!("\r\x1b[2K{line}").as_bytes());
            s.drawn = true;
        } else {
            event(
                Level::Info,
                &format!("progress: {line}"),
                &[
                    ("usersRead", s.users_read.into()),
                    ("changesPlanned", s.planned.into()),
                    ("changesApplied", s.applied.into()),
                ],
            );
        }
    }

    /// Ends a phase with a line saying what it did (the redrawn line is cleared first).
    pub fn phase(&self, msg: &str) {
        if self.mode == ProgressMode::Hidden {
            return;
        }
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.drawn {
            write_to(Stream::Stderr, b"\r\x1b[2K");
            s.drawn = false;
        }
        status(msg);
    }
}

/// A count with its noun: `1 change`, `1,234 changes` (`many` is the plural).
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        thousands(n as u64),
        if n == 1 { one } else { many }
    )
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
    if stdout_closed() {
        return;
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    if write(&mut out).and_then(|()| out.flush()).is_err() {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}
