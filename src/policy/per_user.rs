//! `kind: PerUserMfa` and `kind: SignInPreferences`: per-user state that lives on each user,
//! in beta `users/{id}/authentication/requirements` (`perUserMfaState`) and
//! `users/{id}/authentication/signInPreferences`.
//!
//! Both kinds say whom they apply to with a [`RuleTarget`]: `group:` (a display name, an object
//! id, or, for sign-in preferences only, `all_users` in any case) or `user:` (a UPN or an
//! object id). Object ids are kept in lower case; names stay as written until the plan stage
//! resolves them, by overwriting the `target` field.
//!
//! # `PerUserMfa`
//!
//! ```yaml
//! spec:
//!   state: disabled              # disabled | enabled | enforced: everyone no exception matches
//!   exceptions:
//!     - group: Legacy VPN Users
//!       state: enforced
//!     - user: svc-nps@contoso.com
//!       state: enabled
//! ```
//!
//! At least one of `state` and a non-empty `exceptions` list is required. For each user:
//!
//! 1. an exception naming the user directly (`user:`) decides;
//! 2. otherwise the first group exception, in the order written, whose group holds the user;
//! 3. otherwise `spec.state`;
//! 4. a user matched by none of them is not managed: their state stays as it is.
//!
//! An exception naming the same group or user as an earlier one never applies (MFA025,
//! warning). `all_users` is not an exception: everyone is `spec.state`.
//!
//! # `SignInPreferences`
//!
//! ```yaml
//! spec:
//!   rules:
//!     - name: break-glass          # optional, for messages
//!       group: Break Glass Accounts
//!       isSystemPreferredAuthenticationMethodEnabled: false
//!     - group: all_users
//!       userPreferredMethodForSecondaryAuthentication: push
//!       isSystemPreferredAuthenticationMethodEnabled: true
//! ```
//!
//! `userPreferredMethodForSecondaryAuthentication` is Graph's userDefaultAuthenticationMethodType
//! (push, oath, voiceMobile, voiceAlternateMobile, voiceOffice, sms; it has no `none`);
//! `isSystemPreferredAuthenticationMethodEnabled` is a boolean. Every rule sets at least one
//! of them. For each property separately, the first rule in the order written that targets the
//! user and sets that property decides; a property no rule sets for a user is left as it is.
//! So specific rules come first and a catch-all `group: all_users` rule last.
//!
//! What the declaration alone shows is checked here: a property of a rule that an earlier rule
//! with the same target already sets (MFA025), or that an earlier `all_users` rule already sets
//! (MFA026), never applies. Overlaps through group membership show only against the tenant.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::msgraph::schema::is_guid;
use crate::msgraph::{PerUserMfaState, PreferredMethod};
use crate::source::diagnostic::{Finding, Location, Pos, codes};
use crate::source::spec::Reader;
use crate::source::suggest;
use crate::source::targets::{ALL_USERS, normalise_id};
use crate::source::yaml::{Entry, Node, NodeKind};

/// The sign-in preference naming a user's default MFA method.
const PREFERRED: &str = "userPreferredMethodForSecondaryAuthentication";
/// The sign-in preference turning system-preferred MFA on or off for a user.
const SYSTEM_PREFERRED: &str = "isSystemPreferredAuthenticationMethodEnabled";

const PER_USER_KEYS: &[&str] = &["state", "exceptions"];
const SIGN_IN_KEYS: &[&str] = &["rules"];

/// Who a rule or exception applies to, as written, normalised like other targets: object ids
/// in lower case, `all_users` in any case as [`RuleTarget::AllUsers`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "id", rename_all = "camelCase")]
pub enum RuleTarget {
    /// `group: all_users`: every user.
    AllUsers,
    /// A group: its object id, or a display name still to be resolved.
    Group(String),
    /// A user: their object id, or a user principal name still to be resolved.
    User(String),
}

impl RuleTarget {
    /// Whether the target needs no lookup: everyone, or an object id.
    pub fn is_resolved(&self) -> bool {
        match self {
            RuleTarget::AllUsers => true,
            RuleTarget::Group(id) | RuleTarget::User(id) => is_guid(id),
        }
    }

    /// The target for messages: `group 'Finance'`, `group <object id>`, `user ada@contoso.com`,
    /// `all users`.
    pub fn describe(&self) -> String {
        match self {
            RuleTarget::AllUsers => "all users".into(),
            RuleTarget::Group(id) if is_guid(id) => format!("group {id}"),
            RuleTarget::Group(name) => format!("group '{name}'"),
            RuleTarget::User(id) => format!("user {id}"),
        }
    }

    /// Whether both name the same group or user; ids and names compare case-insensitively.
    pub fn same_as(&self, other: &RuleTarget) -> bool {
        self.identity() == other.identity()
    }

    /// What [`RuleTarget::same_as`] compares: the kind, and the name or id without case. Two
    /// targets are the same exactly when their identities are equal, so that a list can be
    /// checked for repeats with a map instead of comparing every pair.
    fn identity(&self) -> (&'static str, String) {
        match self {
            RuleTarget::AllUsers => ("all_users", String::new()),
            RuleTarget::Group(a) => ("group", a.to_lowercase()),
            RuleTarget::User(a) => ("user", a.to_lowercase()),
        }
    }

    fn noun(&self) -> &'static str {
        match self {
            RuleTarget::AllUsers => "all_users",
            RuleTarget::Group(_) => "group",
            RuleTarget::User(_) => "user",
        }
    }
}

/// The declared `PerUserMfa` document: legacy per-user MFA state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredPerUserMfa {
    /// `metadata.name`.
    pub name: String,
    /// Where the document starts.
    pub location: Location,
    /// The state of everyone no exception matches; `None` leaves them unmanaged.
    pub state: Option<PerUserMfaState>,
    /// Where `state` is written.
    pub state_location: Option<Location>,
    /// The exceptions, in the order written.
    pub exceptions: Vec<PerUserMfaException>,
}

/// One item of `PerUserMfa` `exceptions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PerUserMfaException {
    /// The group or user (never [`RuleTarget::AllUsers`]); the resolver overwrites a name with
    /// its object id.
    pub target: RuleTarget,
    /// Their per-user MFA state.
    pub state: PerUserMfaState,
    /// Where the list item starts.
    pub location: Location,
}

impl DeclaredPerUserMfa {
    /// Every exception's target, in the order written.
    pub fn targets(&self) -> Vec<&RuleTarget> {
        self.exceptions.iter().map(|e| &e.target).collect()
    }
}

/// The declared `SignInPreferences` document: each user's default MFA method and
/// system-preferred flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredSignInPreferences {
    /// `metadata.name`.
    pub name: String,
    /// Where the document starts.
    pub location: Location,
    /// The rules, in the order written.
    pub rules: Vec<SignInRule>,
}

/// One item of `SignInPreferences` `rules`; it sets at least one of the two properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignInRule {
    /// The rule's `name`, if given.
    pub name: Option<String>,
    /// Whom it applies to; the resolver overwrites a name with its object id.
    pub target: RuleTarget,
    /// `userPreferredMethodForSecondaryAuthentication`, if set.
    pub preferred_method: Option<PreferredMethod>,
    /// `isSystemPreferredAuthenticationMethodEnabled`, if set.
    pub system_preferred: Option<bool>,
    /// Where the list item starts.
    pub location: Location,
}

impl DeclaredSignInPreferences {
    /// Every rule's target, in the order written.
    pub fn targets(&self) -> Vec<&RuleTarget> {
        self.rules.iter().map(|r| &r.target).collect()
    }
}

/// Which list an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Exception,
    Rule,
}

impl Item {
    fn noun(self) -> &'static str {
        match self {
            Item::Exception => "exception",
            Item::Rule => "rule",
        }
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            Item::Exception => &["group", "user", "state"],
            Item::Rule => &["name", "group", "user", PREFERRED, SYSTEM_PREFERRED],
        }
    }

    fn has(self) -> &'static str {
        match self {
            Item::Exception => "an exception has `group` or `user`, and `state`",
            Item::Rule => {
                "a rule has `name`, `group` or `user`, userPreferredMethodForSecondaryAuthentication and isSystemPreferredAuthenticationMethodEnabled"
            }
        }
    }

    fn example(self) -> &'static str {
        match self {
            Item::Exception => "`{group: Legacy VPN Users, state: enforced}`",
            Item::Rule => {
                "`{group: all_users, isSystemPreferredAuthenticationMethodEnabled: true}`"
            }
        }
    }

    fn target_help(self) -> &'static str {
        match self {
            Item::Exception => {
                "add `group: <display name | object id>` or `user: <UPN | object id>`"
            }
            Item::Rule => {
                "add `group: <display name | object id | all_users>` or `user: <UPN | object id>`"
            }
        }
    }
}

/// Reads the spec of a `PerUserMfa` document; `spec_pos` is where the `spec` key is.
pub(crate) fn read_per_user_mfa(
    spec: &Node,
    spec_pos: Pos,
    name: String,
    location: Location,
    file: &Path,
) -> (DeclaredPerUserMfa, Vec<Finding>) {
    let mut reader = Reader::default();
    for e in spec.entries().unwrap_or_default() {
        if !PER_USER_KEYS.contains(&e.key.as_str()) {
            let help = suggest::help(&e.key, PER_USER_KEYS.iter().copied()).unwrap_or_else(|| {
                "PerUserMfa takes `state:` for everyone and `exceptions:` for groups and users"
                    .into()
            });
            reader.findings.push(
                Finding::new(
                    codes::UNKNOWN_KEY,
                    e.key_pos,
                    format!(
                        "unknown key `{}`: PerUserMfa has `state` and `exceptions`",
                        e.key
                    ),
                )
                .help(help),
            );
        }
    }
    let mut state = None;
    let mut state_location = None;
    if let Some(e) = spec.get("state") {
        state = per_user_state(&mut reader, &e.value);
        state_location = state.map(|_| e.key_pos.at(file));
    }
    let mut written: Vec<(PerUserMfaException, Pos)> = Vec::new();
    let exceptions_entry = spec.get("exceptions");
    let mut no_exceptions = exceptions_entry.is_none();
    if let Some(e) = exceptions_entry
        && let Some(items) = items(&mut reader, e, Item::Exception)
    {
        no_exceptions = items.is_empty();
        for node in items {
            if let Some(read) = exception(&mut reader, node, file) {
                written.push(read);
            }
        }
    }
    if spec.get("state").is_none() && no_exceptions {
        let at = exceptions_entry.map_or(spec_pos, |e| e.key_pos);
        reader.findings.push(
            Finding::new(
                codes::MISSING_KEY,
                at,
                "PerUserMfa needs `state` or a non-empty `exceptions` list",
            )
            .help("add `state: disabled` for everyone, or exceptions such as `- {group: Legacy VPN Users, state: enforced}`"),
        );
    }
    // The first exception naming each target, found through a map: a list of 100,000 users
    // must not cost 100,000² comparisons.
    let mut first: HashMap<(&'static str, String), usize> = HashMap::new();
    for (j, (later, at)) in written.iter().enumerate() {
        let earlier = *first.entry(later.target.identity()).or_insert(j);
        if earlier != j
            && let Some((earlier, _)) = written.get(earlier)
        {
            reader.findings.push(
                Finding::new(
                    codes::SAME_TARGET,
                    *at,
                    format!(
                        "the exception for {} never applies: the exception at {} names the same {} first",
                        later.target.describe(),
                        earlier.location,
                        later.target.noun()
                    ),
                )
                .help("the first exception naming a group or user decides: remove this one, or merge the two"),
            );
        }
    }
    let declared = DeclaredPerUserMfa {
        name,
        location,
        state,
        state_location,
        exceptions: written.into_iter().map(|(e, _)| e).collect(),
    };
    (declared, reader.findings)
}

/// Reads one exception; `None` if anything in it is wrong (and reported).
fn exception(reader: &mut Reader, node: &Node, file: &Path) -> Option<(PerUserMfaException, Pos)> {
    let before = reader.findings.len();
    let entries = item_entries(reader, node, Item::Exception)?;
    unknown_keys(reader, entries, Item::Exception);
    let target = target(reader, node, Item::Exception);
    let state = match node.get("state") {
        Some(e) => per_user_state(reader, &e.value),
        None => {
            let label = target.as_ref().map_or_else(
                || "the exception".to_string(),
                |(t, _)| format!("the exception for {}", t.describe()),
            );
            reader.findings.push(
                Finding::new(
                    codes::MISSING_KEY,
                    node.pos,
                    format!("{label} has no `state`"),
                )
                .help("add `state: disabled`, `state: enabled` or `state: enforced`"),
            );
            None
        }
    };
    if reader.findings.len() != before {
        return None;
    }
    let (target, at) = target?;
    Some((
        PerUserMfaException {
            target,
            state: state?,
            location: node.pos.at(file),
        },
        at,
    ))
}

fn per_user_state(reader: &mut Reader, node: &Node) -> Option<PerUserMfaState> {
    let members: Vec<String> = PerUserMfaState::ALL
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    let value = reader.enum_value(&members, false, "state", node)?;
    value.as_str().and_then(PerUserMfaState::parse)
}

/// A rule as read, with where its properties are written.
struct WrittenRule {
    rule: SignInRule,
    preferred_pos: Option<Pos>,
    system_pos: Option<Pos>,
}

impl WrittenRule {
    fn sets(&self, property: &str) -> bool {
        if property == PREFERRED {
            self.rule.preferred_method.is_some()
        } else {
            self.rule.system_preferred.is_some()
        }
    }
}

/// Reads the spec of a `SignInPreferences` document; `spec_pos` is where the `spec` key is.
pub(crate) fn read_sign_in_preferences(
    spec: &Node,
    spec_pos: Pos,
    name: String,
    location: Location,
    file: &Path,
) -> (DeclaredSignInPreferences, Vec<Finding>) {
    let mut reader = Reader::default();
    for e in spec.entries().unwrap_or_default() {
        let key = e.key.as_str();
        if SIGN_IN_KEYS.contains(&key) {
            continue;
        }
        let help = if Item::Rule.keys().contains(&key) {
            format!("`{key}` belongs in a rule: `rules: [{{group: all_users, {key}: ...}}]`")
        } else {
            suggest::help(key, SIGN_IN_KEYS.iter().copied())
                .unwrap_or_else(|| "list the rules under `rules:`".into())
        };
        reader.findings.push(
            Finding::new(
                codes::UNKNOWN_KEY,
                e.key_pos,
                format!("unknown key `{key}`: SignInPreferences has only `rules`"),
            )
            .help(help),
        );
    }
    let rules_help = "add `rules:` with at least one rule, such as `- {group: all_users, isSystemPreferredAuthenticationMethodEnabled: true}`";
    let mut written = Vec::new();
    match spec.get("rules") {
        None => reader.findings.push(
            Finding::new(
                codes::MISSING_KEY,
                spec_pos,
                "SignInPreferences needs `rules`",
            )
            .help(rules_help),
        ),
        Some(e) => {
            if let Some(items) = items(&mut reader, e, Item::Rule) {
                if items.is_empty() {
                    reader.findings.push(
                        Finding::new(codes::MISSING_KEY, e.key_pos, "`rules` is empty")
                            .help(rules_help),
                    );
                }
                for node in items {
                    if let Some(rule) = rule(&mut reader, node, file) {
                        written.push(rule);
                    }
                }
            }
        }
    }
    shadowed(&written, &mut reader.findings);
    let declared = DeclaredSignInPreferences {
        name,
        location,
        rules: written.into_iter().map(|w| w.rule).collect(),
    };
    (declared, reader.findings)
}

/// Reads one rule; `None` if anything in it is wrong (and reported).
fn rule(reader: &mut Reader, node: &Node, file: &Path) -> Option<WrittenRule> {
    let before = reader.findings.len();
    let entries = item_entries(reader, node, Item::Rule)?;
    unknown_keys(reader, entries, Item::Rule);
    let name = node
        .get("name")
        .and_then(|e| match e.value.as_str().map(str::trim) {
            Some(n) if !n.is_empty() => Some(n.to_string()),
            _ => {
                reader.findings.push(
                    Finding::new(
                        codes::WRONG_TYPE,
                        e.value.pos,
                        format!(
                            "`name` must be a non-empty string, found {}",
                            e.value.describe()
                        ),
                    )
                    .help("name the rule, e.g. `name: break-glass`, or remove the key"),
                );
                None
            }
        });
    let target = target(reader, node, Item::Rule);
    let preferred = node.get(PREFERRED);
    let system = node.get(SYSTEM_PREFERRED);
    let preferred_method = preferred.and_then(|e| preferred_method(reader, &e.value));
    let system_preferred = system.and_then(|e| reader.boolean(SYSTEM_PREFERRED, &e.value));
    if preferred.is_none() && system.is_none() {
        let label = match (&name, &target) {
            (Some(n), _) => format!("rule `{n}`"),
            (None, Some((t, _))) => format!("the rule for {}", t.describe()),
            (None, None) => "the rule".into(),
        };
        reader.findings.push(
            Finding::new(
                codes::MISSING_KEY,
                node.pos,
                format!("{label} sets neither `{PREFERRED}` nor `{SYSTEM_PREFERRED}`"),
            )
            .help("set at least one of them, or remove the rule"),
        );
    }
    if reader.findings.len() != before {
        return None;
    }
    let (target, _) = target?;
    Some(WrittenRule {
        rule: SignInRule {
            name,
            target,
            preferred_method,
            system_preferred,
            location: node.pos.at(file),
        },
        preferred_pos: preferred.map(|e| e.key_pos),
        system_pos: system.map(|e| e.key_pos),
    })
}

fn preferred_method(reader: &mut Reader, node: &Node) -> Option<PreferredMethod> {
    let members: Vec<String> = PreferredMethod::ALL
        .iter()
        .map(|m| m.as_str().to_string())
        .collect();
    if let Some(text) = node.as_str() {
        let help = if text.eq_ignore_ascii_case("none") {
            Some(
                "userDefaultAuthenticationMethodType has no `none`: a default method can be changed but not removed; leave the property out to keep each user's own default",
            )
        } else if text.eq_ignore_ascii_case("unknownFutureValue") {
            Some(
                "`unknownFutureValue` only marks values Graph may add later, and userDefaultAuthenticationMethodType has no `none`: name a method, or leave the property out",
            )
        } else {
            None
        };
        if let Some(help) = help {
            reader.findings.push(
                Finding::new(
                    codes::UNKNOWN_ENUM_VALUE,
                    node.pos,
                    format!(
                        "`{text}` is not a valid value for `{PREFERRED}` (expected one of {})",
                        members.join(", ")
                    ),
                )
                .help(help),
            );
            return None;
        }
    }
    let value = reader.enum_value(&members, false, PREFERRED, node)?;
    value.as_str().and_then(PreferredMethod::parse)
}

/// MFA025 and MFA026: properties of a rule that an earlier rule already decides.
fn shadowed(rules: &[WrittenRule], out: &mut Vec<Finding>) {
    // For each property: the first rule setting it for each target, and the first
    // `all_users` rule setting it, kept as the rules are walked in order (maps, so that many
    // rules cost their number, not its square).
    let mut first: HashMap<(&str, (&'static str, String)), usize> = HashMap::new();
    let mut first_all_users: HashMap<&str, usize> = HashMap::new();
    for (j, later) in rules.iter().enumerate() {
        for (property, at) in [
            (PREFERRED, later.preferred_pos),
            (SYSTEM_PREFERRED, later.system_pos),
        ] {
            let target = &later.rule.target;
            let key = (property, target.identity());
            let same = first.get(&key).copied();
            let after_all_users = first_all_users.get(property).copied();
            if later.sets(property) {
                first.entry(key).or_insert(j);
                if *target == RuleTarget::AllUsers {
                    first_all_users.entry(property).or_insert(j);
                }
            }
            let Some(at) = at else {
                continue;
            };
            if let Some(first) = same.and_then(|i| rules.get(i)) {
                out.push(
                    Finding::new(
                        codes::SAME_TARGET,
                        at,
                        format!(
                            "`{property}` of this rule never applies: the rule at {} targets the same {} and sets it first",
                            first.rule.location,
                            target.describe()
                        ),
                    )
                    .help(format!(
                        "for each property, the first rule that targets a user and sets it decides: remove `{property}` from one of the two rules"
                    )),
                );
            } else if let Some(first) = after_all_users.and_then(|i| rules.get(i)) {
                out.push(
                    Finding::new(
                        codes::AFTER_ALL_USERS,
                        at,
                        format!(
                            "`{property}` of this rule never applies: the all_users rule at {} sets it first",
                            first.rule.location
                        ),
                    )
                    .help("for each property, the first rule that targets a user and sets it decides: move this rule above the all_users rule (overlaps through group membership show only against the tenant: `mfactl plan` reports them)"),
                );
            }
        }
    }
}

/// The items of `exceptions` or `rules`; a null value is an empty list. `None` (reported) if
/// the value is not a list.
fn items<'n>(reader: &mut Reader, entry: &'n Entry, item: Item) -> Option<&'n [Node]> {
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
fn item_entries<'n>(reader: &mut Reader, node: &'n Node, item: Item) -> Option<&'n [Entry]> {
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
fn unknown_keys(reader: &mut Reader, entries: &[Entry], item: Item) {
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
fn target(reader: &mut Reader, node: &Node, item: Item) -> Option<(RuleTarget, Pos)> {
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::policy::testing::{codes_at, load_str};
    use crate::policy::{Diagnostic, LoadOutcome, Severity};

    fn only(outcome: &LoadOutcome) -> &Diagnostic {
        assert_eq!(outcome.diagnostics.len(), 1, "{:?}", outcome.diagnostics);
        &outcome.diagnostics[0]
    }

    fn at(line: usize, column: usize) -> Location {
        Location {
            file: PathBuf::from("mem.yaml"),
            line,
            column,
        }
    }

    const PER_USER: &str = "apiVersion: mfactl/v1\nkind: PerUserMfa\nmetadata: {name: p}\nspec:\n";
    const SIGN_IN: &str =
        "apiVersion: mfactl/v1\nkind: SignInPreferences\nmetadata: {name: s}\nspec:\n";

    fn per_user(spec: &str) -> LoadOutcome {
        load_str(&format!("{PER_USER}{spec}"))
    }

    fn sign_in(spec: &str) -> LoadOutcome {
        load_str(&format!("{SIGN_IN}{spec}"))
    }

    #[test]
    fn a_per_user_mfa_document_loads() {
        let out = per_user(
            "  state: disabled\n  exceptions:\n    - group: Legacy VPN Users\n      state: enforced\n    - user: svc-nps@contoso.com\n      state: enabled\n    - {group: DAD4AE4A-730C-4E52-826C-0D9094971F04, state: disabled}\n",
        );
        assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
        let set = out.set.unwrap();
        let declared = set.per_user_mfa.unwrap();
        assert_eq!(
            declared,
            DeclaredPerUserMfa {
                name: "p".into(),
                location: at(1, 1),
                state: Some(PerUserMfaState::Disabled),
                state_location: Some(at(5, 3)),
                exceptions: vec![
                    PerUserMfaException {
                        target: RuleTarget::Group("Legacy VPN Users".into()),
                        state: PerUserMfaState::Enforced,
                        location: at(7, 7),
                    },
                    PerUserMfaException {
                        target: RuleTarget::User("svc-nps@contoso.com".into()),
                        state: PerUserMfaState::Enabled,
                        location: at(9, 7),
                    },
                    PerUserMfaException {
                        target: RuleTarget::Group("dad4ae4a-730c-4e52-826c-0d9094971f04".into()),
                        state: PerUserMfaState::Disabled,
                        location: at(11, 7),
                    },
                ],
            }
        );
        let resolved: Vec<bool> = declared.targets().iter().map(|t| t.is_resolved()).collect();
        assert_eq!(resolved, [false, false, true]);
        assert!(set.sign_in_preferences.is_none());
    }

    #[test]
    fn state_alone_or_exceptions_alone_is_enough() {
        let out = per_user("  state: enforced\n");
        assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
        let out = per_user("  exceptions: [{user: ada@contoso.com, state: enabled}]\n");
        assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
        let declared = out.set.unwrap().per_user_mfa.unwrap();
        assert_eq!(declared.state, None);
        assert_eq!(declared.state_location, None);
        assert_eq!(declared.exceptions.len(), 1);
    }

    #[test]
    fn a_sign_in_preferences_document_loads() {
        let out = sign_in(
            "  rules:\n    - name: break-glass\n      group: Break Glass Accounts\n      isSystemPreferredAuthenticationMethodEnabled: false\n    - user: ADA@contoso.com\n      userPreferredMethodForSecondaryAuthentication: voiceAlternateMobile\n    - group: ALL_USERS\n      userPreferredMethodForSecondaryAuthentication: push\n      isSystemPreferredAuthenticationMethodEnabled: true\n",
        );
        assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
        let declared = out.set.unwrap().sign_in_preferences.unwrap();
        assert_eq!(
            declared,
            DeclaredSignInPreferences {
                name: "s".into(),
                location: at(1, 1),
                rules: vec![
                    SignInRule {
                        name: Some("break-glass".into()),
                        target: RuleTarget::Group("Break Glass Accounts".into()),
                        preferred_method: None,
                        system_preferred: Some(false),
                        location: at(6, 7),
                    },
                    SignInRule {
                        name: None,
                        target: RuleTarget::User("ADA@contoso.com".into()),
                        preferred_method: Some(PreferredMethod::VoiceAlternateMobile),
                        system_preferred: None,
                        location: at(9, 7),
                    },
                    SignInRule {
                        name: None,
                        target: RuleTarget::AllUsers,
                        preferred_method: Some(PreferredMethod::Push),
                        system_preferred: Some(true),
                        location: at(11, 7),
                    },
                ],
            }
        );
        assert_eq!(declared.targets()[2], &RuleTarget::AllUsers);
    }

    #[test]
    fn targets_describe_and_serialise() {
        assert_eq!(RuleTarget::AllUsers.describe(), "all users");
        assert_eq!(
            RuleTarget::Group("Finance".into()).describe(),
            "group 'Finance'"
        );
        assert_eq!(RuleTarget::User("ada@x".into()).describe(), "user ada@x");
        let guid = "dad4ae4a-730c-4e52-826c-0d9094971f04";
        assert_eq!(
            RuleTarget::Group(guid.into()).describe(),
            format!("group {guid}")
        );
        assert!(RuleTarget::AllUsers.is_resolved());
        assert!(RuleTarget::User(guid.into()).is_resolved());
        assert!(!RuleTarget::User("ada@x".into()).is_resolved());
        assert!(RuleTarget::Group("FINANCE".into()).same_as(&RuleTarget::Group("finance".into())));
        assert!(!RuleTarget::Group("x".into()).same_as(&RuleTarget::User("x".into())));
        assert_eq!(
            serde_json::to_value(RuleTarget::Group("Finance".into())).unwrap(),
            serde_json::json!({"type": "group", "id": "Finance"})
        );
        assert_eq!(
            serde_json::to_value(RuleTarget::AllUsers).unwrap(),
            serde_json::json!({"type": "allUsers"})
        );
    }

    #[test]
    fn per_user_errors_are_at_the_offending_key_or_value() {
        // A misspelt key is also a missing one, as for SecurityDefaults.
        let out = per_user("  stat: disabled\n");
        assert_eq!(
            codes_at(&out),
            [(codes::MISSING_KEY, 4, 1), (codes::UNKNOWN_KEY, 5, 3)]
        );
        assert_eq!(
            out.diagnostics[1].help.as_deref(),
            Some("did you mean `state`?")
        );
        let cases: &[(&str, (&str, usize, usize))] = &[
            ("  state: enforcd\n", (codes::UNKNOWN_ENUM_VALUE, 5, 10)),
            ("  state: true\n", (codes::WRONG_TYPE, 5, 10)),
            ("  state: ~\n", (codes::WRONG_TYPE, 5, 10)),
            ("  {}\n", (codes::MISSING_SPEC, 5, 3)),
            ("  exceptions: []\n", (codes::MISSING_KEY, 5, 3)),
            ("  exceptions: Legacy\n", (codes::WRONG_TYPE, 5, 15)),
            (
                "  exceptions:\n    - Legacy VPN Users\n",
                (codes::TARGET_FORM, 6, 7),
            ),
            (
                "  exceptions:\n    - {group: Legacy VPN Users}\n",
                (codes::MISSING_KEY, 6, 7),
            ),
            (
                "  exceptions:\n    - group: G\n      user: u@x\n      state: enabled\n",
                (codes::TARGET_FORM, 7, 7),
            ),
            (
                "  exceptions:\n    - state: enabled\n",
                (codes::TARGET_FORM, 6, 7),
            ),
            (
                "  exceptions:\n    - {group: All_Users, state: enabled}\n",
                (codes::TARGET_FORM, 6, 15),
            ),
            (
                "  exceptions:\n    - {user: all_users, state: enabled}\n",
                (codes::TARGET_FORM, 6, 14),
            ),
            (
                "  exceptions:\n    - {group: '', state: enabled}\n",
                (codes::TARGET_FORM, 6, 15),
            ),
            (
                "  exceptions:\n    - {group: 12, state: enabled}\n",
                (codes::WRONG_TYPE, 6, 15),
            ),
            (
                "  exceptions:\n    - {group: G, stat: enabled, state: enabled}\n",
                (codes::UNKNOWN_KEY, 6, 18),
            ),
            (
                "  exceptions:\n    - {group: G, state: enforce}\n",
                (codes::UNKNOWN_ENUM_VALUE, 6, 25),
            ),
        ];
        for (spec, expected) in cases {
            let out = per_user(spec);
            assert_eq!(codes_at(&out), [*expected], "{spec}");
            assert!(out.set.is_none(), "{spec}");
        }
        let out = per_user("  state: enforcd\n");
        assert_eq!(only(&out).help.as_deref(), Some("did you mean `enforced`?"));
        let out = per_user("  exceptions:\n    - {group: G, stat: enabled, state: enabled}\n");
        assert_eq!(only(&out).help.as_deref(), Some("did you mean `state`?"));
        let out = per_user("  exceptions:\n    - {group: All_Users, state: enabled}\n");
        assert!(
            only(&out)
                .help
                .as_deref()
                .unwrap_or_default()
                .contains("`state:` under `spec`")
        );
    }

    #[test]
    fn sign_in_errors_are_at_the_offending_key_or_value() {
        let cases: &[(&str, (&str, usize, usize))] = &[
            ("  {}\n", (codes::MISSING_SPEC, 5, 3)),
            ("  rules: []\n", (codes::MISSING_KEY, 5, 3)),
            ("  rules:\n", (codes::MISSING_KEY, 5, 3)),
            ("  rules: {group: all_users}\n", (codes::WRONG_TYPE, 5, 10)),
            (
                "  rule: []\n  rules: [{group: all_users, isSystemPreferredAuthenticationMethodEnabled: true}]\n",
                (codes::UNKNOWN_KEY, 5, 3),
            ),
            (
                "  rules:\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: none\n",
                (codes::UNKNOWN_ENUM_VALUE, 7, 54),
            ),
            (
                "  rules:\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: unknownFutureValue\n",
                (codes::UNKNOWN_ENUM_VALUE, 7, 54),
            ),
            (
                "  rules:\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: pussh\n",
                (codes::UNKNOWN_ENUM_VALUE, 7, 54),
            ),
            (
                "  rules:\n    - group: all_users\n      isSystemPreferredAuthenticationMethodEnabled: \"true\"\n",
                (codes::WRONG_TYPE, 7, 53),
            ),
            (
                "  rules:\n    - group: all_users\n      isSystemPreferredAuthenticationMethodEnabled: yes\n",
                (codes::WRONG_TYPE, 7, 53),
            ),
            (
                "  rules:\n    - name: nothing\n      group: all_users\n",
                (codes::MISSING_KEY, 6, 7),
            ),
            (
                "  rules:\n    - group: G\n      user: u@x\n      isSystemPreferredAuthenticationMethodEnabled: true\n",
                (codes::TARGET_FORM, 7, 7),
            ),
            (
                "  rules:\n    - {user: ALL_USERS, isSystemPreferredAuthenticationMethodEnabled: true}\n",
                (codes::TARGET_FORM, 6, 14),
            ),
            (
                "  rules:\n    - {name: 3, group: G, isSystemPreferredAuthenticationMethodEnabled: true}\n",
                (codes::WRONG_TYPE, 6, 14),
            ),
            (
                "  rules:\n    - {group: G, isSystemPreferedAuthenticationMethodEnabled: true, userPreferredMethodForSecondaryAuthentication: sms}\n",
                (codes::UNKNOWN_KEY, 6, 18),
            ),
            (
                "  rules:\n    - group: G\n      isSystemPreferredAuthenticationMethodEnabled: true\n  isSystemPreferredAuthenticationMethodEnabled: true\n",
                (codes::UNKNOWN_KEY, 8, 3),
            ),
        ];
        for (spec, expected) in cases {
            let out = sign_in(spec);
            assert_eq!(codes_at(&out), [*expected], "{spec}");
            assert!(out.set.is_none(), "{spec}");
        }
        let none = sign_in(
            "  rules:\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: none\n",
        );
        assert!(
            only(&none)
                .help
                .as_deref()
                .unwrap_or_default()
                .contains("has no `none`")
        );
        let misspelt = sign_in(
            "  rules:\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: pussh\n",
        );
        assert_eq!(
            only(&misspelt).help.as_deref(),
            Some("did you mean `push`?")
        );
        let quoted = sign_in(
            "  rules:\n    - group: all_users\n      isSystemPreferredAuthenticationMethodEnabled: \"true\"\n",
        );
        assert!(
            only(&quoted)
                .help
                .as_deref()
                .unwrap_or_default()
                .contains("remove the quotes")
        );
        let key = sign_in(
            "  rules:\n    - {group: G, isSystemPreferedAuthenticationMethodEnabled: true, userPreferredMethodForSecondaryAuthentication: sms}\n",
        );
        assert_eq!(
            only(&key).help.as_deref(),
            Some("did you mean `isSystemPreferredAuthenticationMethodEnabled`?")
        );
    }

    #[test]
    fn an_exception_naming_the_same_target_again_never_applies() {
        let out = per_user(
            "  exceptions:\n    - {group: Legacy VPN Users, state: enforced}\n    - {user: u@x, state: enabled}\n    - {group: legacy vpn users, state: disabled}\n    - {user: U@X, state: enforced}\n    - {group: u@x, state: enforced}\n",
        );
        assert_eq!(
            codes_at(&out),
            [(codes::SAME_TARGET, 8, 15), (codes::SAME_TARGET, 9, 14)]
        );
        assert!(
            out.diagnostics
                .iter()
                .all(|d| d.severity == Severity::Warning)
        );
        assert!(
            out.diagnostics[0].message.contains("mem.yaml:6:7"),
            "{}",
            out.diagnostics[0].message
        );
        assert!(out.diagnostics[1].message.contains("mem.yaml:7:7"));
        let set = out.set.expect("warnings leave the set usable");
        assert_eq!(set.per_user_mfa.unwrap().exceptions.len(), 5);
    }

    #[test]
    fn a_rule_property_set_earlier_for_the_same_target_never_applies() {
        let out = sign_in(
            "  rules:\n    - group: Finance\n      isSystemPreferredAuthenticationMethodEnabled: false\n    - group: FINANCE\n      userPreferredMethodForSecondaryAuthentication: sms\n      isSystemPreferredAuthenticationMethodEnabled: true\n",
        );
        assert_eq!(codes_at(&out), [(codes::SAME_TARGET, 10, 7)]);
        let d = only(&out);
        assert_eq!(d.severity, Severity::Warning);
        assert!(
            d.message
                .starts_with("`isSystemPreferredAuthenticationMethodEnabled`")
        );
        assert!(d.message.contains("mem.yaml:6:7"), "{}", d.message);
        assert!(out.set.is_some());
    }

    #[test]
    fn a_rule_property_after_an_all_users_rule_is_shadowed() {
        let out = sign_in(
            "  rules:\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: push\n    - group: Finance\n      userPreferredMethodForSecondaryAuthentication: sms\n      isSystemPreferredAuthenticationMethodEnabled: true\n    - group: All_Users\n      userPreferredMethodForSecondaryAuthentication: oath\n",
        );
        assert_eq!(
            codes_at(&out),
            [(codes::AFTER_ALL_USERS, 9, 7), (codes::SAME_TARGET, 12, 7)],
            "a later all_users rule is the same target, reported once"
        );
        let d = &out.diagnostics[0];
        assert_eq!(d.severity, Severity::Warning);
        assert!(
            d.message
                .starts_with("`userPreferredMethodForSecondaryAuthentication`")
        );
        assert!(d.message.contains("mem.yaml:6:7"), "{}", d.message);
        assert!(
            d.help
                .as_deref()
                .unwrap_or_default()
                .contains("mfactl plan")
        );
        // The catch-all last shadows nothing.
        let ordered = sign_in(
            "  rules:\n    - group: Finance\n      userPreferredMethodForSecondaryAuthentication: sms\n    - group: all_users\n      userPreferredMethodForSecondaryAuthentication: push\n",
        );
        assert!(ordered.diagnostics.is_empty(), "{:?}", ordered.diagnostics);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever the spec, both kinds return diagnostics with real positions, never panic.
        #[test]
        fn arbitrary_specs_never_panic(body in "[a-zA-Z0-9:{}\\[\\],\"'_@ \n-]{0,160}") {
            for head in [PER_USER, SIGN_IN] {
                let out = load_str(&format!("{head}{body}"));
                for d in &out.diagnostics {
                    proptest::prop_assert!(d.location.line >= 1 && d.location.column >= 1, "{}", d);
                }
                proptest::prop_assert_eq!(out.set.is_none(), out.has_errors());
            }
        }
    }

    #[test]
    fn each_new_kind_is_allowed_once() {
        let doc = format!("{PER_USER}  state: disabled\n");
        let out = load_str(&format!("{doc}---\n{doc}"));
        assert_eq!(codes_at(&out), [(codes::DUPLICATE_KIND, 8, 7)]);
        assert!(out.diagnostics[0].message.contains("mem.yaml:2:7"));
        let doc = format!(
            "{SIGN_IN}  rules: [{{group: all_users, isSystemPreferredAuthenticationMethodEnabled: true}}]\n"
        );
        let out = load_str(&format!("{doc}---\n{doc}"));
        assert_eq!(codes_at(&out), [(codes::DUPLICATE_KIND, 8, 7)]);
    }
}
