//! `plan --target KIND[/NAME]` and `apply --target`: plan only some declared resources, as
//! Terraform's `-target`. The policy set is narrowed to the targeted documents before
//! planning, so that the plan, its impact and its guards see exactly what would be sent:
//! what is not targeted is not managed in that run.

use std::fmt;
use std::str::FromStr;

use crate::kinds::{KindId, PolicySet};

/// One `--target`: a kind, and for a collection kind optionally one item's name
/// (`ConditionalAccessPolicy/Require MFA for all users`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTarget {
    /// The kind, as written after `kind:`.
    pub kind: KindId,
    /// The item's `metadata.name`; `None` targets every declared document of the kind.
    pub name: Option<String>,
}

impl fmt::Display for ResourceTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{name}", self.kind.name()),
            None => f.write_str(self.kind.name()),
        }
    }
}

fn kinds() -> String {
    KindId::ALL
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for ResourceTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, name) = match s.split_once('/') {
            Some((kind, name)) => (kind, Some(name.to_string())),
            None => (s, None),
        };
        let kind =
            KindId::named(kind).ok_or_else(|| format!("no kind '{kind}': one of {}", kinds()))?;
        match &name {
            Some(n) if n.is_empty() => Err(format!("'{s}' names no {}", kind.name())),
            Some(_) if !kind.is_collection() => Err(format!(
                "{} is declared once, without a name: target it as {0}",
                kind.name()
            )),
            _ => Ok(ResourceTarget { kind, name }),
        }
    }
}

/// Why the targets cannot narrow the policy set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The kind is not declared in any policy file.
    #[error("--target {0}: no {0} is declared in the policy files")]
    NotDeclared(String),
    /// No document of the collection kind has that name.
    #[error("--target {target}: no {kind} named '{name}' is declared; declared: {declared}")]
    NoSuchName {
        /// The target as written.
        target: String,
        /// The kind.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The names declared, for the message.
        declared: String,
    },
}

/// Keeps the items of `items` that `name` selects (all of them for `None`), without
/// repeating one already in `into`.
fn pick<T: Clone + PartialEq>(
    target: &ResourceTarget,
    items: &[T],
    display_name: impl Fn(&T) -> &str,
    into: &mut Vec<T>,
) -> Result<(), TargetError> {
    if items.is_empty() {
        return Err(TargetError::NotDeclared(target.kind.name().into()));
    }
    let chosen: Vec<&T> = match &target.name {
        None => items.iter().collect(),
        Some(name) => items.iter().filter(|i| display_name(i) == name).collect(),
    };
    if chosen.is_empty() {
        return Err(TargetError::NoSuchName {
            target: target.to_string(),
            kind: target.kind.name(),
            name: target.name.clone().unwrap_or_default(),
            declared: items
                .iter()
                .map(|i| format!("'{}'", display_name(i)))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    for item in chosen {
        if !into.contains(item) {
            into.push(item.clone());
        }
    }
    Ok(())
}

/// Copies a singleton or per-user declaration when it is declared.
fn take<T: Clone>(
    target: &ResourceTarget,
    declared: &Option<T>,
    into: &mut Option<T>,
) -> Result<(), TargetError> {
    match declared {
        Some(d) => {
            *into = Some(d.clone());
            Ok(())
        }
        None => Err(TargetError::NotDeclared(target.kind.name().into())),
    }
}

/// The policy set narrowed to the targeted documents.
pub fn select(set: &PolicySet, targets: &[ResourceTarget]) -> Result<PolicySet, TargetError> {
    let mut out = PolicySet {
        files: set.files.clone(),
        ..PolicySet::default()
    };
    for t in targets {
        match t.kind {
            KindId::NamedLocation => pick(
                t,
                &set.named_locations,
                |d| d.display_name.as_str(),
                &mut out.named_locations,
            )?,
            KindId::AuthenticationStrength => pick(
                t,
                &set.authentication_strengths,
                |d| d.display_name.as_str(),
                &mut out.authentication_strengths,
            )?,
            KindId::ConditionalAccessPolicy => pick(
                t,
                &set.conditional_access_policies,
                |d| d.display_name.as_str(),
                &mut out.conditional_access_policies,
            )?,
            KindId::HardwareOathTokens => pick(
                t,
                &set.hardware_oath_tokens,
                |d| d.serial_number.as_str(),
                &mut out.hardware_oath_tokens,
            )?,
            KindId::AuthenticationMethodsPolicy => {
                take(t, &set.methods_policy, &mut out.methods_policy)?
            }
            KindId::SecurityDefaults => {
                take(t, &set.security_defaults, &mut out.security_defaults)?
            }
            KindId::PerUserMfa => take(t, &set.per_user_mfa, &mut out.per_user_mfa)?,
            KindId::SignInPreferences => {
                take(t, &set.sign_in_preferences, &mut out.sign_in_preferences)?
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_kind_and_name_and_refuse_what_cannot_be() {
        let t: ResourceTarget = "ConditionalAccessPolicy/Require MFA for all users/x"
            .parse()
            .unwrap();
        assert_eq!(
            (t.kind, t.name.as_deref()),
            (
                KindId::ConditionalAccessPolicy,
                Some("Require MFA for all users/x")
            )
        );
        assert_eq!(
            "SecurityDefaults".parse::<ResourceTarget>().unwrap().name,
            None
        );
        assert!(
            "SecurityDefault"
                .parse::<ResourceTarget>()
                .unwrap_err()
                .contains("one of")
        );
        assert!(
            "SecurityDefaults/x"
                .parse::<ResourceTarget>()
                .unwrap_err()
                .contains("without a name")
        );
        assert!("NamedLocation/".parse::<ResourceTarget>().is_err());
    }
}
