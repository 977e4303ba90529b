//! Text shared by the chat payloads: compact values, headlines, and fitting a list of
//! changes into a size limit.

use std::time::SystemTime;

use serde_json::Value;

use crate::plan::names::{ObjectNames, annotate};

use super::{Action, AlertImpact, DriftAlert, DriftChange, InvalidDeclaration, Kind};

/// Longest value shown in chat, in characters.
pub(crate) const VALUE_CHARS: usize = 160;
/// Longest error text shown in chat, in characters.
pub(crate) const ERROR_CHARS: usize = 600;

/// `s` cut to at most `max` characters, ending with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A value for people: scalars inline (strings without quotes, `(not set)` for null),
/// nested values as compact JSON, each object id followed by its name from `names`, at
/// most `max` characters.
pub(crate) fn compact(v: &Value, names: &ObjectNames, max: usize) -> String {
    let text = match v {
        Value::Null => "(not set)".to_string(),
        Value::String(s) if s.is_empty() => "\"\"".to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => v.to_string(),
        Value::Array(_) | Value::Object(_) => v.to_string(),
    };
    truncate(&annotate(&text, names), max)
}

/// The message's headline.
pub(crate) fn headline(alert: &DriftAlert, kind: Kind) -> String {
    let tenant = truncate(&alert.tenant, 80);
    let main = match &alert.action {
        Action::Resolved => format!("MFA policy drift resolved in {tenant}"),
        Action::Observed => format!("MFA policy drift in {tenant}"),
        Action::Applied { verified: true } => format!("MFA policy drift repaired in {tenant}"),
        Action::Applied { verified: false } => {
            format!("MFA policy drift in {tenant}: applied, not verified")
        }
        Action::Partial { .. } => format!("MFA policy drift in {tenant}: partly applied"),
        Action::Invalid => format!("Invalid MFA policy files for {tenant}"),
        Action::Failed { .. } if alert.changes.is_empty() => {
            format!("mfactl could not reconcile {tenant}")
        }
        Action::Failed { .. } => format!("MFA policy drift in {tenant}: apply failed"),
    };
    match kind {
        Kind::Alert => main,
        Kind::Reminder { .. } => format!("Reminder: {main}"),
        Kind::Test => format!("Test alert (sample data): {main}"),
    }
}

/// One or two sentences on what mfactl did.
pub(crate) fn action_text(alert: &DriftAlert) -> String {
    let failure = |f: &super::Failure| {
        let code = f
            .code
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        format!(
            "{}{code}: {}",
            f.kind.as_str(),
            truncate(&f.error, ERROR_CHARS)
        )
    };
    let mut text = match &alert.action {
        Action::Observed => {
            "Observed only: mfactl reported the drift and changed nothing.".to_string()
        }
        Action::Applied { verified: true } => {
            "Applied and verified: mfactl set the declared values and re-read the tenant to \
             confirm them."
                .to_string()
        }
        Action::Applied { verified: false } => {
            "Applied, but re-reading the tenant did not confirm every change.".to_string()
        }
        Action::Partial {
            applied,
            failure: f,
        } => format!(
            "Partly applied: {applied} resource(s) changed, then {}; the next cycle converges from there.",
            failure(f)
        ),
        Action::Failed { failure: f } => format!("Failed, {}", failure(f)),
        Action::Invalid => "Nothing was changed.".to_string(),
        Action::Resolved => {
            "The tenant matches the declared policy again: the drift reported earlier is gone."
                .to_string()
        }
    };
    if let Some(d) = &alert.declaration {
        text.push(' ');
        text.push_str(&declaration_text(d));
    }
    text
}

/// `The policy files at commit 1a2b3c4 have 2 error(s); …`.
pub(crate) fn declaration_text(d: &InvalidDeclaration) -> String {
    let at = d
        .commit
        .as_deref()
        .map(|c| format!(" at commit {}", truncate(c, 12)))
        .unwrap_or_default();
    let then = if d.last_valid_kept {
        "mfactl enforces the last valid declaration until they are fixed (`mfactl validate` shows where)"
    } else {
        "there is no earlier valid declaration, so nothing was read or sent (`mfactl validate` shows where)"
    };
    format!("The policy files{at} have {} error(s); {then}.", d.errors)
}

/// The impact's lines: `1,234 user(s): push → sms`, and the lockout count first if any.
pub(crate) fn impact_lines(impact: &AlertImpact) -> Vec<String> {
    let mut lines = Vec::new();
    if impact.newly_without_mfa > 0 {
        lines.push(format!(
            "{} user(s) would be newly left with no usable MFA method",
            crate::printer::thousands(impact.newly_without_mfa as u64)
        ));
    }
    if impact.lose_mfa_requirement > 0 {
        lines.push(format!(
            "{} member(s) would lose their MFA requirement",
            crate::printer::thousands(impact.lose_mfa_requirement as u64)
        ));
    }
    if impact.newly_blocked > 0 {
        lines.push(format!(
            "{} user(s) would be blocked or asked for a strength they cannot satisfy",
            crate::printer::thousands(impact.newly_blocked as u64)
        ));
    }
    lines.extend(impact.prompts.iter().map(|p| {
        format!(
            "{} user(s): {} → {}",
            crate::printer::thousands(p.users as u64),
            truncate(&p.from, 60),
            truncate(&p.to, 60)
        )
    }));
    lines
}

/// The title of the impact section.
pub(crate) const IMPACT_TITLE: &str = "Impact on sign-in prompts";

/// `3 drifted properties in 2 resources`.
pub(crate) fn count_text(changes: &[DriftChange]) -> String {
    let n = changes.len();
    let mut resources: Vec<&str> = changes.iter().map(|c| c.resource.as_str()).collect();
    resources.sort_unstable();
    resources.dedup();
    let r = resources.len();
    format!(
        "{n} drifted propert{} in {r} resource{}",
        if n == 1 { "y" } else { "ies" },
        if r == 1 { "" } else { "s" }
    )
}

/// `Unresolved since 2026-11-22 10:00 UTC.` for reminders.
pub(crate) fn reminder_text(kind: Kind) -> Option<String> {
    match kind {
        Kind::Reminder { first_alerted } => {
            Some(format!("Unresolved since {}.", utc_minute(first_alerted)))
        }
        _ => None,
    }
}

/// `N more changes not shown.`
pub(crate) fn omitted_text(omitted: usize) -> String {
    format!(
        "{omitted} more change{} not shown: see the run or `mfactl plan` for the full list.",
        if omitted == 1 { "" } else { "s" }
    )
}

/// `2026-11-22 10:00 UTC`.
pub(crate) fn utc_minute(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute()
    )
}

/// Consecutive changes grouped by resource, keeping plan order.
pub(crate) fn by_resource(changes: &[DriftChange]) -> Vec<(&str, Vec<&DriftChange>)> {
    let mut groups: Vec<(&str, Vec<&DriftChange>)> = Vec::new();
    for c in changes {
        match groups.last_mut() {
            Some((r, list)) if *r == c.resource => list.push(c),
            _ => groups.push((c.resource.as_str(), vec![c])),
        }
    }
    groups
}

/// The largest `k` in `0..=total` for which `fits(k)` holds, given that it holds for every
/// smaller `k` once it holds for `k` (the payload only grows with `k`); `0` if none.
pub(crate) fn largest_fitting(total: usize, fits: impl Fn(usize) -> bool) -> usize {
    if fits(total) {
        return total;
    }
    let (mut lo, mut hi) = (0usize, total);
    // Invariant: the answer is in [lo, hi); fits(hi) is false.
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_in_values_carry_their_names() {
        let id = "5c1c3233-db48-4d41-849f-521843a32281";
        let names = ObjectNames::from([(id.to_string(), "Break Glass".to_string())]);
        assert_eq!(
            compact(&json!([{"id": id, "targetType": "group"}]), &names, 200),
            format!(r#"[{{"id":"{id} (Break Glass)","targetType":"group"}}]"#)
        );
        assert_eq!(
            compact(&json!(id), &names, 200),
            format!("{id} (Break Glass)")
        );
    }

    #[test]
    fn values_are_compact_and_truncated_on_character_boundaries() {
        let none = ObjectNames::new();
        assert_eq!(compact(&json!("enabled"), &none, 20), "enabled");
        assert_eq!(compact(&json!(true), &none, 20), "true");
        assert_eq!(compact(&json!(null), &none, 20), "(not set)");
        assert_eq!(compact(&json!(""), &none, 20), "\"\"");
        assert_eq!(compact(&json!({"a": [1, 2]}), &none, 20), r#"{"a":[1,2]}"#);
        let long = compact(&json!(["ééééééééééééééééééééé"]), &none, 10);
        assert_eq!(long.chars().count(), 10);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn the_largest_fitting_count_is_found() {
        assert_eq!(largest_fitting(100, |k| k <= 37), 37);
        assert_eq!(largest_fitting(100, |_| true), 100);
        assert_eq!(largest_fitting(100, |k| k == 0), 0);
        assert_eq!(largest_fitting(0, |_| true), 0);
    }

    #[test]
    fn times_are_shown_to_the_minute_in_utc() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_445_412_480);
        assert_eq!(utc_minute(t), "2015-10-21 07:28 UTC");
    }
}
