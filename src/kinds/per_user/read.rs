//! Reading the items of `exceptions` and `rules`: lists, mappings, keys and targets.

use super::{Item, RuleTarget};
use crate::source::diagnostic::{Finding, Pos, codes};
use crate::source::spec::Reader;
use crate::source::suggest;
use crate::source::targets::{ALL_USERS, normalise_id};
use crate::source::yaml::{Entry, Node, NodeKind};

/// The items of `exceptions` or `rules`; a null value is an empty list. `None` (reported) if
/// the value is not a list.
pub(crate) fn items<'n>(reader: &mut Reader, entry: &'n Entry, item: Item) -> Option<&'n [Node]> {
    match &entry.value.kind {
        NodeKind::Seq(items) => Some(items),
        _ if entry.value.is_null() => Some(&[]),
        _ => {
            reader.findings.push(
                Finding::new(
                    codes::WRONG_TYPE,
                    entry.value.pos,
                    format!(
                        "`{}` must be a list, found {}",
                        entry.key,
                        entry.value.describe()
                    ),
                )
                .help(format!(
                    "write a list: `{}:` followed by items such as `- {}`",
                    entry.key,
                    item.example().trim_matches('`')
                )),
            );
            None
        }
    }
}

/// The entries of a list item; `None` (reported) if it is not a mapping.
pub(crate) fn item_entries<'n>(
    reader: &mut Reader,
    node: &'n Node,
    item: Item,
) -> Option<&'n [Entry]> {
    if let Some(entries) = node.entries() {
        return Some(entries);
    }
    let help = match node.as_str() {
        Some(text) => format!(
            "write `group: {text}` or `user: {text}`, with the {}'s settings next to it",
            item.noun()
        ),
        None => format!("write a mapping such as {}", item.example()),
    };
    reader.findings.push(
        Finding::new(
            codes::TARGET_FORM,
            node.pos,
            format!(
                "{} must be a mapping such as {}, found {}",
                if item == Item::Exception {
                    "an exception"
                } else {
                    "a rule"
                },
                item.example(),
                node.describe()
            ),
        )
        .help(help),
    );
    None
}

/// Reports the keys an item does not take (MFA008).
pub(crate) fn unknown_keys(reader: &mut Reader, entries: &[Entry], item: Item) {
    for e in entries {
        let key = e.key.as_str();
        if item.keys().contains(&key) {
            continue;
        }
        let help = if matches!(key, "id" | "targetType") {
            Some("write `group: <object id>` or `user: <object id>`".to_string())
        } else {
            suggest::help(key, item.keys().iter().copied())
        };
        reader.findings.push(
            Finding::new(
                codes::UNKNOWN_KEY,
                e.key_pos,
                format!("unknown key `{key}`: {}", item.has()),
            )
            .maybe_help(help),
        );
    }
}

/// Reads the `group:` or `user:` of an item (a mapping): the target and where its value is
/// written. `None` (reported) if it names none, both, or something it may not.
pub(crate) fn target(reader: &mut Reader, node: &Node, item: Item) -> Option<(RuleTarget, Pos)> {
    let forms: Vec<&Entry> = node
        .entries()
        .unwrap_or_default()
        .iter()
        .filter(|e| e.key == "group" || e.key == "user")
        .collect();
    let noun = item.noun();
    let form = match forms.as_slice() {
        [] => {
            reader.findings.push(
                Finding::new(
                    codes::TARGET_FORM,
                    node.pos,
                    format!("the {noun} names no group or user"),
                )
                .help(item.target_help()),
            );
            return None;
        }
        [one] => *one,
        [first, second, ..] => {
            reader.findings.push(
                Finding::new(
                    codes::TARGET_FORM,
                    second.key_pos,
                    format!("the {noun} has both `{}` and `{}`", first.key, second.key),
                )
                .help(format!(
                    "a {noun} names exactly one group or user: split it into two {noun}s"
                )),
            );
            return None;
        }
    };
    let what = form.key.as_str();
    let Some(raw) = form.value.as_str().filter(|s| !s.trim().is_empty()) else {
        let (code, help) = if form.value.is_null() || form.value.as_str().is_some() {
            (
                codes::TARGET_FORM,
                format!("write the {what}'s name or object id after `{what}:`"),
            )
        } else {
            (codes::WRONG_TYPE, format!("quote it: `{what}: \"...\"`"))
        };
        reader.findings.push(
            Finding::new(
                code,
                form.value.pos,
                format!(
                    "`{what}` must be a non-empty string, found {}",
                    form.value.describe()
                ),
            )
            .help(help),
        );
        return None;
    };
    let id = normalise_id(raw);
    let at = form.value.pos;
    if id == ALL_USERS {
        let (message, help) = match (item, what) {
            (Item::Rule, "group") => return Some((RuleTarget::AllUsers, at)),
            (Item::Rule, _) => (
                format!("`all_users` is a group, not a {what}"),
                "write `group: all_users`",
            ),
            (Item::Exception, _) => (
                "an exception cannot name `all_users`".to_string(),
                "the state of everyone no exception matches is `state:` under `spec`",
            ),
        };
        reader
            .findings
            .push(Finding::new(codes::TARGET_FORM, at, message).help(help));
        return None;
    }
    let target = if what == "group" {
        RuleTarget::Group(id)
    } else {
        RuleTarget::User(id)
    };
    Some((target, at))
}
