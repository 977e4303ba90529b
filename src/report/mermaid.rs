//! Mermaid diagrams for the Markdown plan, which GitHub renders in comments and job summaries:
//! the from→to flow of first prompts, and who must do MFA after the plan.
//!
//! Every label is quoted and escaped with Mermaid's entity codes, so that a method name or a
//! count can hold any character without breaking the diagram.

use std::collections::BTreeMap;

use crate::printer::thousands;
use crate::simulate::coverage::Coverage;
use crate::simulate::impact::Impact;

/// A quoted Mermaid label: `"` and `#` (which starts an entity code) as entity codes, `<`
/// and `>` too (labels may be read as HTML), line breaks as spaces.
pub fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn users(n: usize) -> String {
    format!("{} user(s)", thousands(n as u64))
}

/// The prompt impact as a left-to-right flowchart: one node per first prompt before (left)
/// and after (right), an edge per transition labelled with its users; empty when nobody's
/// prompt changes.
pub fn impact(impact: &Impact) -> String {
    if impact.transitions.is_empty() {
        return String::new();
    }
    let mut before: BTreeMap<&str, usize> = BTreeMap::new();
    let mut after: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &impact.transitions {
        let next = before.len();
        before.entry(t.from.as_str()).or_insert(next);
        let next = after.len();
        after.entry(t.to.as_str()).or_insert(next);
    }
    let mut out = String::from("\n```mermaid\nflowchart LR\n");
    out.push_str(&format!("  subgraph before[{}]\n", label("before")));
    for (method, i) in &before {
        out.push_str(&format!("    b{i}[{}]\n", label(method)));
    }
    out.push_str("  end\n");
    out.push_str(&format!("  subgraph after[{}]\n", label("after")));
    for (method, i) in &after {
        out.push_str(&format!("    a{i}[{}]\n", label(method)));
    }
    out.push_str("  end\n");
    for t in &impact.transitions {
        out.push_str(&format!(
            "  b{} -->|{}| a{}\n",
            before[t.from.as_str()],
            label(&users(t.users)),
            after[t.to.as_str()]
        ));
    }
    out.push_str("```\n");
    out
}

/// Who must do MFA after the plan, as a flowchart from the accounts compared to each outcome
/// that has any: what the guard refuses in red, deliberate exclusions and registrations in
/// amber; "no change" when none has any.
pub fn coverage(c: &Coverage) -> String {
    let outcomes = [
        ("lost", "lose their MFA requirement", &c.lost, "refused"),
        ("blocked", "newly blocked", &c.newly_blocked, "refused"),
        (
            "strength",
            "locked out by a strength they cannot satisfy",
            &c.cannot_satisfy,
            "refused",
        ),
        (
            "excluded",
            "excluded on purpose (break-glass)",
            &c.excluded,
            "noted",
        ),
        (
            "register",
            "must register a method at next sign-in",
            &c.must_register,
            "noted",
        ),
    ];
    let mut out = String::from("\n```mermaid\nflowchart LR\n");
    out.push_str(&format!(
        "  all[{}]\n",
        label(&format!(
            "{} enabled member(s), {} guest(s)",
            thousands(c.members as u64),
            thousands(c.guests as u64)
        ))
    ));
    let mut any = false;
    for (id, what, list, class) in outcomes {
        let total = list.members + list.guests;
        if total == 0 {
            continue;
        }
        any = true;
        out.push_str(&format!(
            "  all -->|{}| {id}[{}]:::{class}\n",
            label(&users(total)),
            label(what)
        ));
    }
    if !any {
        out.push_str(&format!(
            "  all --> same[{}]\n",
            label("no change in who must do MFA")
        ));
    }
    out.push_str("  classDef refused fill:#fdd,stroke:#c00\n");
    out.push_str("  classDef noted fill:#ffe9b3,stroke:#b80\n");
    out.push_str("```\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::impact::Transition;

    #[test]
    fn labels_escape_what_would_end_or_break_them() {
        assert_eq!(
            label("a \"b\" #1 <i>\nc"),
            "\"a #quot;b#quot; #35;1 #lt;i#gt; c\""
        );
    }

    #[test]
    fn each_method_is_one_node_per_side_and_each_transition_an_edge() {
        let t = |from: &str, to: &str, users: usize| Transition {
            from: from.into(),
            to: to.into(),
            users,
        };
        let diagram = impact(&Impact {
            users: 1500,
            changed: 1210,
            transitions: vec![
                t("sms", "push", 1200),
                t("voice", "push", 7),
                t("sms", "none", 3),
            ],
            ..Impact::default()
        });
        assert_eq!(
            diagram,
            "\n```mermaid\nflowchart LR\n  subgraph before[\"before\"]\n    b0[\"sms\"]\n    b1[\"voice\"]\n  end\n  subgraph after[\"after\"]\n    a1[\"none\"]\n    a0[\"push\"]\n  end\n  b0 -->|\"1,200 user(s)\"| a0\n  b1 -->|\"7 user(s)\"| a0\n  b0 -->|\"3 user(s)\"| a1\n```\n"
        );
        assert_eq!(impact(&Impact::default()), "");
    }

    #[test]
    fn coverage_draws_each_outcome_that_has_users_and_says_when_none_has() {
        let mut c = Coverage {
            members: 1200,
            guests: 3,
            ..Coverage::default()
        };
        assert!(
            coverage(&c).contains("  all --> same[\"no change in who must do MFA\"]\n"),
            "{}",
            coverage(&c)
        );
        c.lost.members = 4;
        c.lost.guests = 1;
        let diagram = coverage(&c);
        assert!(diagram.contains("  all[\"1,200 enabled member(s), 3 guest(s)\"]\n"));
        assert!(
            diagram.contains(
                "  all -->|\"5 user(s)\"| lost[\"lose their MFA requirement\"]:::refused\n"
            ),
            "{diagram}"
        );
        assert!(!diagram.contains("same["), "{diagram}");
        assert!(!diagram.contains("blocked["), "{diagram}");
    }
}
