//! Who must do MFA before and after a plan, for people: the counts of a
//! [`Coverage`] and the first users of each list, with what the guard refuses.

use crate::printer::thousands;
use crate::simulate::coverage::{AffectedUser, Coverage, UserList};

fn n(x: usize) -> String {
    thousands(x as u64)
}

fn who(u: &AffectedUser) -> String {
    format!(
        "{}{}: {}",
        u.name(),
        if u.guest { " (guest)" } else { "" },
        u.reasons()
    )
}

/// The rows of the summary: what, how many members and guests, the list, and what the
/// guard says of it.
fn rows(c: &Coverage) -> [(&'static str, &UserList, Option<String>); 5] {
    let refuse = |count: usize, flag: &str| {
        (count > 0).then(|| format!("apply refuses unless --{flag} {count}"))
    };
    [
        (
            "lose their MFA requirement",
            &c.lost,
            refuse(c.unprotected(), "allow-unprotected"),
        ),
        (
            "newly blocked",
            &c.newly_blocked,
            refuse(
                c.newly_blocked.members + c.newly_blocked.guests,
                "allow-lockout",
            ),
        ),
        (
            "locked out by a strength they cannot satisfy",
            &c.cannot_satisfy,
            refuse(
                c.cannot_satisfy.members + c.cannot_satisfy.guests,
                "allow-lockout",
            ),
        ),
        ("excluded on purpose (break-glass)", &c.excluded, None),
        (
            "must register a method at next sign-in",
            &c.must_register,
            None,
        ),
    ]
}

/// The coverage section of a plan; Markdown or terminal text.
pub fn section(c: &Coverage, markdown: bool) -> String {
    let mut out = if markdown {
        format!(
            "\n#### Who must do MFA\n\nSecurity defaults, Conditional Access and per-user MFA, before and after, over {} enabled member(s) and {} guest(s).\n\n| | members | guests |\n|---|---:|---:|\n",
            n(c.members),
            n(c.guests)
        )
    } else {
        format!(
            "\nWho must do MFA (security defaults, Conditional Access, per-user MFA), over {} enabled member(s) and {} guest(s):\n",
            n(c.members),
            n(c.guests)
        )
    };
    let rows = rows(c);
    for (what, list, _) in &rows {
        if markdown {
            out.push_str(&format!(
                "| {what} | {} | {} |\n",
                n(list.members),
                n(list.guests)
            ));
        } else {
            out.push_str(&format!(
                "    {what:<46} {:>9} member(s) {:>7} guest(s)\n",
                n(list.members),
                n(list.guests)
            ));
        }
    }
    if markdown {
        out.push_str(&super::mermaid::coverage(c));
    }
    for (what, list, guard) in &rows {
        if list.first.is_empty() {
            continue;
        }
        let total = list.members + list.guests;
        let count = match (list.members, list.guests) {
            (m, 0) => format!("{} member(s)", n(m)),
            (0, g) => format!("{} guest(s)", n(g)),
            (m, g) => format!("{} member(s) and {} guest(s)", n(m), n(g)),
        };
        out.push_str(&match (markdown, guard) {
            (true, Some(g)) => format!("\n**⚠ {count} {what}; {g}:**\n\n"),
            (true, None) => format!("\n{count} {what}:\n\n"),
            (false, Some(g)) => format!("\n! {count} {what}; {g}:\n"),
            (false, None) => format!("\n{count} {what}:\n"),
        });
        for u in &list.first {
            out.push_str(&format!(
                "{}{}\n",
                if markdown { "- " } else { "    " },
                who(u)
            ));
        }
        if total > list.first.len() {
            out.push_str(&format!(
                "{}… and {} more\n",
                if markdown { "- " } else { "    " },
                n(total - list.first.len())
            ));
        }
    }
    out
}
