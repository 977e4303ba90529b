//! `kind: SignInPreferences`: how its spec is read and checked.
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

use crate::kinds::Spec;
use crate::kinds::per_user::read::{item_entries, items, target, unknown_keys};
use crate::kinds::per_user::{Item, PREFERRED, RuleTarget, SYSTEM_PREFERRED};
use crate::msgraph::PreferredMethod;
use crate::source::diagnostic::{Finding, Location, Pos, codes};
use crate::source::spec::Reader;
use crate::source::suggest;
use crate::source::yaml::Node;

const SIGN_IN_KEYS: &[&str] = &["rules"];

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
pub(crate) fn read(at: &Spec<'_>) -> (DeclaredSignInPreferences, Vec<Finding>) {
    let (spec, spec_pos, file) = (at.node, at.key_pos, at.file);
    let (name, location) = (at.name.clone(), at.document.clone());
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
