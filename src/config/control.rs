//! How `mfactl reconcile` treats a tenant: its mode, suspension, and change and freeze
//! windows, and how a raw `changeWindows[]` entry is checked.

use std::time::SystemTime;

use super::file::{RawChangeWindow, RawDay};

/// What `mfactl reconcile` may do about a tenant's drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// Report drift; change nothing.
    #[default]
    Observe,
    /// Apply the plan and verify it.
    Enforce,
}

impl std::fmt::Display for Mode {
    /// As written in mfactl.yaml and `--mode`: `observe`, `enforce`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Observe => "observe",
            Mode::Enforce => "enforce",
        })
    }
}

/// How `mfactl reconcile` treats a tenant (`mode`, `suspend`, `changeWindows` in
/// mfactl.yaml). `plan` and `apply` ignore all of it: they are explicit actions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TenantControl {
    /// `mode:` (default observe); `reconcile --mode` overrides it.
    pub mode: Mode,
    /// `suspend: true`: reconcile skips the tenant.
    pub suspend: bool,
    /// `changeWindows:`: when non-empty, enforce only inside one of them; outside, a cycle
    /// observes and reports. Empty: enforce at any time.
    pub change_windows: Vec<ChangeWindow>,
    /// `freezeWindows:`: never enforce inside any of them (a deny list that wins over
    /// `changeWindows`), e.g. a quarter-end freeze.
    pub freeze_windows: Vec<ChangeWindow>,
}

impl TenantControl {
    /// The mode a cycle starting at `now` runs in, given the requested mode (the tenant's,
    /// or `--mode`): enforce becomes observe outside every change window.
    pub fn mode_at(&self, requested: Mode, now: SystemTime) -> Mode {
        match requested {
            Mode::Enforce if !self.enforce_allowed_at(now) => Mode::Observe,
            other => other,
        }
    }

    /// Whether enforcing is allowed at `now`: inside a change window (or none is
    /// configured), and inside no freeze window.
    pub fn enforce_allowed_at(&self, now: SystemTime) -> bool {
        let allowed =
            self.change_windows.is_empty() || self.change_windows.iter().any(|w| w.contains(now));
        allowed && !self.freeze_windows.iter().any(|w| w.contains(now))
    }
}

/// `changeWindows[]`: days of the week and a time range, in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeWindow {
    /// The days the window is open.
    pub days: Vec<time::Weekday>,
    /// Opens at this minute of the day (`from: "08:00"` is 480), inclusive.
    pub from_minute: u16,
    /// Closes at this minute of the day (`to: "18:00"` is 1080; `"24:00"` is 1440),
    /// exclusive; always after `from_minute`.
    pub to_minute: u16,
}

impl ChangeWindow {
    /// Whether `at` (read in UTC) falls inside the window.
    pub fn contains(&self, at: SystemTime) -> bool {
        let at = time::OffsetDateTime::from(at);
        let minute = u16::from(at.hour()) * 60 + u16::from(at.minute());
        self.days.contains(&at.weekday()) && self.from_minute <= minute && minute < self.to_minute
    }
}

/// Checks one change window; an error names the key at fault.
pub(super) fn change_window(raw: RawChangeWindow) -> Result<ChangeWindow, (&'static str, String)> {
    if let Some(tz) = &raw.timezone
        && !tz.eq_ignore_ascii_case("UTC")
    {
        return Err((
            "timezone",
            format!("`{tz}` is not supported: change windows are in UTC only (`timezone: UTC`)"),
        ));
    }
    if raw.days.is_empty() {
        return Err(("days", "lists no day (mon, tue, … sun)".to_string()));
    }
    let from_minute = minute_of_day(&raw.from, false).map_err(|m| ("from", m))?;
    let to_minute = minute_of_day(&raw.to, true).map_err(|m| ("to", m))?;
    if to_minute <= from_minute {
        return Err((
            "to",
            format!(
                "`{}` is not after `{}`: a window across midnight is written as two windows",
                raw.to, raw.from
            ),
        ));
    }
    let days = raw
        .days
        .iter()
        .map(|d| match d {
            RawDay::Mon => time::Weekday::Monday,
            RawDay::Tue => time::Weekday::Tuesday,
            RawDay::Wed => time::Weekday::Wednesday,
            RawDay::Thu => time::Weekday::Thursday,
            RawDay::Fri => time::Weekday::Friday,
            RawDay::Sat => time::Weekday::Saturday,
            RawDay::Sun => time::Weekday::Sunday,
        })
        .collect();
    Ok(ChangeWindow {
        days,
        from_minute,
        to_minute,
    })
}

/// `HH:MM` (24-hour clock) as a minute of the day; `24:00` only as an end.
fn minute_of_day(text: &str, end: bool) -> Result<u16, String> {
    let bad = || format!("`{text}` is not a time such as \"08:00\" (HH:MM, 24-hour clock)");
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    match (h, m) {
        (24, 0) if end => Ok(1440),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}
