//! Renders a plan for people and machines: a terminal view with coloured unified diffs,
//! Markdown for pull-request comments and CI job summaries, and versioned JSON.

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

pub mod applied;
pub mod coverage;
pub mod diagnostics;
pub mod explain;
pub mod mermaid;
pub mod users;

use crate::plan::names::{ObjectNames, annotate};
use crate::plan::{Plan, PropertyChange, ResourceChange};

/// Output formats of `plan` (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Terminal text, coloured on a terminal.
    Human,
    /// Markdown for a pull-request comment or a CI job summary.
    Markdown,
    /// The JSON plan (`formatVersion`, changes, exact PATCH bodies).
    Json,
}

/// Renders a plan in the requested format.
pub fn render(plan: &Plan, format: Format, colour: bool) -> String {
    match format {
        Format::Human => human(plan, colour),
        Format::Markdown => markdown(plan),
        Format::Json => json(plan),
    }
}

/// The JSON plan, pretty-printed, ending with a newline.
pub fn json(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).unwrap_or_default();
    s.push('\n');
    s
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Object(_) | Value::Array(_) => None,
        other => Some(other.to_string()),
    }
}

/// `v` as JSON text, pretty-printed, each object id followed by its name.
fn pretty(v: &Value, names: &ObjectNames) -> String {
    let mut s = annotate(&serde_json::to_string_pretty(v).unwrap_or_default(), names);
    s.push('\n');
    s
}

/// A unified diff of two JSON values, pretty-printed with the names of the ids they hold,
/// three lines of context around each change, optionally with ANSI colours.
fn unified(
    before: &Value,
    after: &Value,
    names: &ObjectNames,
    colour: bool,
    indent: &str,
) -> String {
    let (b, a) = (pretty(before, names), pretty(after, names));
    let diff = TextDiff::from_lines(&b, &a);
    let mut out = String::new();
    for (i, group) in diff.grouped_ops(3).iter().enumerate() {
        if i > 0 {
            out.push_str(&format!("{indent}  …\n"));
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let (sign, start, end) = match change.tag() {
                    ChangeTag::Delete => ("-", "\x1b[31m", "\x1b[0m"),
                    ChangeTag::Insert => ("+", "\x1b[32m", "\x1b[0m"),
                    ChangeTag::Equal => (" ", "", ""),
                };
                let line = change.value().trim_end_matches('\n');
                if colour && !start.is_empty() {
                    out.push_str(&format!("{indent}{start}{sign} {line}{end}\n"));
                } else {
                    out.push_str(&format!("{indent}{sign} {line}\n"));
                }
            }
        }
    }
    out
}

fn summary(plan: &Plan) -> String {
    if plan.in_sync {
        return format!(
            "Tenant {} is in sync with the declared policy: nothing to change.",
            plan.tenant
        );
    }
    format!("Tenant {}: {}.", plan.tenant, plan.extent())
}

fn human_property(p: &PropertyChange, names: &ObjectNames, colour: bool) -> String {
    match (scalar(&p.before), scalar(&p.after)) {
        (Some(b), Some(a)) => format!(
            "    {}: {} → {}\n",
            p.name,
            annotate(&b, names),
            annotate(&a, names)
        ),
        _ => format!(
            "    {}:\n{}",
            p.name,
            unified(&p.before, &p.after, names, colour, "      ")
        ),
    }
}

/// Terminal text.
pub fn human(plan: &Plan, colour: bool) -> String {
    let mut out = format!("{}\n", summary(plan));
    for change in &plan.changes {
        let bold = if colour {
            ("\x1b[1m", "\x1b[0m")
        } else {
            ("", "")
        };
        out.push_str(&format!(
            "\n{}{} {}{}  ({} {})\n",
            bold.0,
            symbol(change),
            change.resource,
            bold.1,
            change.method,
            change.path
        ));
        for p in &change.properties {
            out.push_str(&human_property(p, &plan.names, colour));
        }
    }
    out.push_str(&users::section(plan, false));
    out.push_str(&unmanaged(plan, false));
    out
}

/// Terraform's marks: `+` creates, `-` deletes, `~` changes in place. A DELETE that leaves
/// a property of the resource set removes a relationship (a token unassigned from its
/// holder), not the resource: a change in place.
fn symbol(change: &ResourceChange) -> &'static str {
    match change.method.as_str() {
        "POST" => "+",
        "DELETE" if change.properties.iter().all(|p| p.after.is_null()) => "-",
        _ => "~",
    }
}

/// The live collection items no document declares: what is left alone, and what pruning
/// deletes.
fn unmanaged(plan: &Plan, markdown: bool) -> String {
    if plan.unmanaged.is_empty() {
        return String::new();
    }
    let (kept, deleted): (Vec<_>, Vec<_>) = plan.unmanaged.iter().partition(|u| !u.deleted);
    let mut out = String::new();
    let item = |u: &crate::kinds::Unmanaged| {
        if markdown {
            format!("- `{}/{}` (`{}`)\n", u.collection, u.display_name, u.id)
        } else {
            format!("    {}/{} ({})\n", u.collection, u.display_name, u.id)
        }
    };
    if !kept.is_empty() {
        out.push_str(&format!(
            "\n{} live item(s) no document declares, left as they are (`prune: true` in mfactl.yaml deletes them):\n",
            kept.len()
        ));
        out.extend(kept.into_iter().map(item));
    }
    if !deleted.is_empty() {
        out.push_str(&format!(
            "\n{} live item(s) no document declares, deleted by this plan (prune is on; Graph keeps deleted Conditional Access policies and named locations restorable for 30 days):\n",
            deleted.len()
        ));
        out.extend(deleted.into_iter().map(item));
    }
    out
}

/// A value in a table cell: code, each object id followed by its name.
fn md_code(v: &Value, names: &ObjectNames) -> String {
    format!(
        "`{}`",
        annotate(&v.to_string(), names)
            .replace('`', "'")
            .replace('|', "\\|")
    )
}

/// Markdown.
pub fn markdown(plan: &Plan) -> String {
    let mut out = format!("### mfactl plan: {}\n\n{}\n", plan.tenant, summary(plan));
    for change in &plan.changes {
        // A change in place keeps the plain heading; a create or a delete is marked.
        let mark = match symbol(change) {
            "~" => String::new(),
            other => format!("{other} "),
        };
        out.push_str(&format!(
            "\n#### {mark}`{}`\n\n`{} {}`\n\n",
            change.resource, change.method, change.path
        ));
        let (simple, nested): (Vec<&PropertyChange>, Vec<&PropertyChange>) = change
            .properties
            .iter()
            .partition(|p| scalar(&p.before).is_some() && scalar(&p.after).is_some());
        if !simple.is_empty() {
            out.push_str("| property | live | declared |\n|---|---|---|\n");
            for p in simple {
                out.push_str(&format!(
                    "| {} | {} | {} |\n",
                    p.name,
                    md_code(&p.before, &plan.names),
                    md_code(&p.after, &plan.names)
                ));
            }
            out.push('\n');
        }
        for p in nested {
            out.push_str(&format!(
                "`{}`:\n\n```diff\n{}```\n\n",
                p.name,
                unified(&p.before, &p.after, &plan.names, false, "")
            ));
        }
    }
    out.push_str(&users::section(plan, true));
    out.push_str(&unmanaged(plan, true));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan() -> Plan {
        Plan {
            format_version: 1,
            tenant: "contoso".into(),
            fingerprint: "f".into(),
            reads: vec![],
            in_sync: false,
            changes: vec![ResourceChange {
                resource: "authenticationMethodConfigurations/Sms".into(),
                method: "PATCH".into(),
                path: "/beta/x/sms".into(),
                properties: vec![
                    PropertyChange {
                        name: "state".into(),
                        before: json!("enabled"),
                        after: json!("disabled"),
                    },
                    PropertyChange {
                        name: "includeTargets".into(),
                        before: json!([{"id": "all_users"}]),
                        after: json!([{"id": "g1"}]),
                    },
                ],
                body: json!({}),
            }],
            user_changes: vec![],
            skipped_users: vec![],
            overlaps: vec![],
            notes: vec![],
            impact: None,
            coverage: None,
            unmanaged: Vec::new(),
            uncomputed: Vec::new(),
            names: Default::default(),
        }
    }

    #[test]
    fn human_shows_scalars_inline_and_nested_values_as_diffs() {
        let text = human(&plan(), false);
        assert!(text.contains("2 changes to 1 resource"), "{text}");
        assert!(text.contains("state: \"enabled\" → \"disabled\""), "{text}");
        assert!(text.contains("-     \"id\": \"all_users\""), "{text}");
        assert!(text.contains("+     \"id\": \"g1\""), "{text}");
        assert!(!text.contains('\x1b'));
        assert!(human(&plan(), true).contains("\x1b[31m"));
    }

    #[test]
    fn ids_are_followed_by_their_names_in_diffs_and_cells() {
        let group = "5c1c3233-db48-4d41-849f-521843a32281";
        let mut p = plan();
        p.changes[0].properties[1].after = json!([{"id": group, "targetType": "group"}]);
        p.changes[0].properties[0].after = json!(group);
        p.names = ObjectNames::from([(group.to_string(), "Break Glass".to_string())]);
        let named = format!("\"{group} (Break Glass)\"");
        let text = human(&p, false);
        assert!(text.contains(&format!("+     \"id\": {named},")), "{text}");
        assert!(text.contains(&format!("→ {named}\n")), "{text}");
        let md = markdown(&p);
        assert!(md.contains(&format!("| `{named}` |")), "{md}");
        assert!(md.contains(&format!("+     \"id\": {named},")), "{md}");
        p.names.clear();
        assert!(!human(&p, false).contains("Break Glass"));
    }

    #[test]
    fn markdown_has_a_table_and_diff_blocks() {
        let md = markdown(&plan());
        assert!(
            md.contains("| state | `\"enabled\"` | `\"disabled\"` |"),
            "{md}"
        );
        assert!(md.contains("```diff\n"), "{md}");
    }

    #[test]
    fn a_delete_that_leaves_a_property_set_is_a_change_in_place() {
        let delete = |path: &str, status: Value| ResourceChange {
            resource: "hardwareOathTokens/1001".into(),
            method: "DELETE".into(),
            path: path.into(),
            properties: vec![PropertyChange {
                name: "status".into(),
                before: json!("assigned"),
                after: status,
            }],
            body: Value::Null,
        };
        let mut p = plan();
        p.changes = vec![
            delete(
                "/beta/users/u/authentication/hardwareOathMethods/d",
                json!("available"),
            ),
            delete(
                "/beta/directory/authenticationMethodDevices/hardwareOathDevices/d",
                Value::Null,
            ),
        ];
        let text = human(&p, false);
        assert!(
            text.contains("\n~ hardwareOathTokens/1001  (DELETE /beta/users/"),
            "{text}"
        );
        assert!(
            text.contains("\n- hardwareOathTokens/1001  (DELETE /beta/directory/"),
            "{text}"
        );
        let md = markdown(&p);
        assert!(md.contains("#### `hardwareOathTokens/1001`"), "{md}");
        assert!(md.contains("#### - `hardwareOathTokens/1001`"), "{md}");
    }
}
