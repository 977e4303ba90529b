//! The per-user part of a plan (changes, skipped users, rule overlaps) and its impact on who
//! is prompted with what, for people: a summary and the first few users; the JSON plan lists
//! every user.

use crate::kinds::per_user::{UserChange, UserChangeKind};
use crate::plan::Plan;
use crate::plan::names::annotate;
use crate::printer::thousands;
use crate::simulate::impact::Impact;

/// How many users the human and Markdown outputs name before summarising.
pub const SHOWN: usize = 10;

fn n(x: usize) -> String {
    thousands(x as u64)
}

fn change_line(c: &UserChange) -> String {
    c.properties
        .iter()
        .map(|p| format!("{}: {} → {}", p.name, p.before, p.after))
        .collect::<Vec<_>>()
        .join("; ")
}

fn title(kind: UserChangeKind) -> &'static str {
    match kind {
        UserChangeKind::PerUserMfa => {
            "legacy per-user MFA (users/{id}/authentication/requirements)"
        }
        UserChangeKind::SignInPreferences => {
            "sign-in preferences (users/{id}/authentication/signInPreferences)"
        }
    }
}

/// The per-user changes, skipped users and overlaps; Markdown or terminal text.
pub fn section(plan: &Plan, markdown: bool) -> String {
    let mut out = String::new();
    for kind in [
        UserChangeKind::PerUserMfa,
        UserChangeKind::SignInPreferences,
    ] {
        let changes: Vec<&UserChange> = plan
            .user_changes
            .iter()
            .filter(|c| c.kind == kind)
            .collect();
        if changes.is_empty() {
            continue;
        }
        if markdown {
            out.push_str(&format!(
                "\n#### {}: {} user(s)\n\n| user | change |\n|---|---|\n",
                title(kind),
                n(changes.len())
            ));
            for c in changes.iter().take(SHOWN) {
                out.push_str(&format!(
                    "| {} | {} |\n",
                    c.user_principal_name,
                    change_line(c).replace('|', "\\|")
                ));
            }
        } else {
            out.push_str(&format!(
                "\n~ {}: {} user(s)\n",
                title(kind),
                n(changes.len())
            ));
            for c in changes.iter().take(SHOWN) {
                out.push_str(&format!(
                    "    {}: {}\n",
                    c.user_principal_name,
                    change_line(c)
                ));
            }
        }
        if changes.len() > SHOWN {
            out.push_str(&format!(
                "{}… and {} more (every user is in `-o json`)\n",
                if markdown { "\n" } else { "    " },
                n(changes.len() - SHOWN)
            ));
        }
    }
    if !plan.skipped_users.is_empty() {
        out.push_str(&format!(
            "\n{}Skipped: {} user(s) cannot take a declared value:\n{}",
            if markdown { "**" } else { "! " },
            n(plan.skipped_users.len()),
            if markdown { "**\n\n" } else { "" }
        ));
        for s in plan.skipped_users.iter().take(SHOWN) {
            out.push_str(&format!(
                "{}{}: {} not set: {}\n",
                if markdown { "- " } else { "    " },
                s.user_principal_name,
                s.property,
                s.reason
            ));
        }
        if plan.skipped_users.len() > SHOWN {
            out.push_str(&format!(
                "{}… and {} more\n",
                if markdown { "- " } else { "    " },
                n(plan.skipped_users.len() - SHOWN)
            ));
        }
    }
    for note in &plan.notes {
        out.push_str(&format!(
            "\n{}{}.\n",
            if markdown { "" } else { "  " },
            annotate(note, &plan.names)
        ));
    }
    for o in &plan.overlaps {
        out.push_str(&format!(
            "\n{}Overlap: {} user(s) are matched by {} and by {}; for {} the first decides.\n",
            if markdown { "" } else { "! " },
            n(o.users),
            annotate(&o.winner, &plan.names),
            annotate(&o.shadowed, &plan.names),
            o.property
        ));
    }
    if let Some(impact) = &plan.impact {
        out.push_str(&impact_section(impact, markdown));
    }
    if let Some(coverage) = &plan.coverage {
        out.push_str(&super::coverage::section(coverage, markdown));
    }
    out.push_str(&uncomputed_section(plan, markdown));
    out
}

/// What the plan could not compute, and why; and that `apply` refuses a plan whose impact
/// on sign-in is unknown.
pub fn uncomputed_section(plan: &Plan, markdown: bool) -> String {
    let mut out = String::new();
    for u in &plan.uncomputed {
        let what = match u.what.as_str() {
            crate::plan::IMPACT => "impact on sign-in prompts",
            crate::plan::COVERAGE => "who must do MFA before and after",
            other => other,
        };
        if markdown {
            out.push_str(&format!(
                "\n#### Not computed: {what}\n\n{}\n",
                u.reason.replace('|', "\\|")
            ));
        } else {
            out.push_str(&format!("\n! Not computed: {what}: {}\n", u.reason));
        }
    }
    if plan.impact_unknown().is_some() {
        out.push_str(&format!(
            "{}apply refuses this plan: without the impact it cannot check that nobody is left with no usable MFA method.\n",
            if markdown { "\n" } else { "  " }
        ));
    }
    out
}

/// Who is prompted with what before and after: the from→to matrix and the users left with
/// no usable method.
pub fn impact_section(impact: &Impact, markdown: bool) -> String {
    let mut out = if markdown {
        format!(
            "\n#### Impact on sign-in prompts\n\n{} of {} user(s) would be prompted differently.\n",
            n(impact.changed),
            n(impact.users)
        )
    } else {
        format!(
            "\nImpact on sign-in prompts: {} of {} user(s) would be prompted differently.\n",
            n(impact.changed),
            n(impact.users)
        )
    };
    if !impact.transitions.is_empty() {
        if markdown {
            out.push_str("\n| from | to | users |\n|---|---|---:|\n");
        }
        for t in &impact.transitions {
            if markdown {
                out.push_str(&format!("| {} | {} | {} |\n", t.from, t.to, n(t.users)));
            } else {
                out.push_str(&format!(
                    "    {:<22} → {:<22} {:>9}\n",
                    t.from,
                    t.to,
                    n(t.users)
                ));
            }
        }
        if markdown {
            out.push_str(&super::mermaid::impact(impact));
        }
    }
    let already = impact.already_without();
    if already > 0 {
        out.push_str(&format!(
            "\n{}already without a usable method: {}{} (none before this plan either: apply does not refuse for them)\n",
            if markdown { "**" } else { "" },
            n(already),
            if markdown { "**" } else { "" },
        ));
    }
    let locked = &impact.newly_without;
    if !locked.is_empty() {
        out.push_str(&format!(
            "\n{}{} newly left with no usable MFA method{}; apply refuses unless --allow-lockout {}:\n",
            if markdown { "**⚠ " } else { "! " },
            crate::printer::count(locked.len(), "user would be", "users would be"),
            if markdown { "**" } else { "" },
            locked.len()
        ));
        for u in locked.iter().take(SHOWN) {
            out.push_str(&format!(
                "{}{} (was {})\n",
                if markdown { "- " } else { "    " },
                u.user_principal_name,
                u.before
            ));
        }
        if locked.len() > SHOWN {
            out.push_str(&format!(
                "{}… and {} more\n",
                if markdown { "- " } else { "    " },
                n(locked.len() - SHOWN)
            ));
        }
    }
    out
}
