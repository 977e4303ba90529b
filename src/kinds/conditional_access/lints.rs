//! The lint of a `ConditionalAccessPolicy` (MFA042): a legal policy that weakens the
//! tenant's recovery, described with the other lints in `crate::policy::lints`, where
//! silencing is. A policy silences it with its own `mfactl.io/silence-MFA042` annotation.

use super::{DeclaredConditionalAccessPolicy, lists};
use crate::source::diagnostic::{Finding, codes};
use crate::source::yaml::{Node, NodeKind};

/// The exclusions under `conditions.users` that can exempt an emergency-access account.
const EXCLUSIONS: &[&str] = &["excludeUsers", "excludeGroups", "excludeRoles"];

/// MFA042: a policy, enabled or report-only, that requires MFA (or a strength) of `All`
/// users or blocks them, and excludes no user, group or role: no emergency-access
/// (break-glass) account is exempt (FACTS-CA items 31, 34). Reported at `All` in
/// `includeUsers`; `spec` is the document's spec, for the position.
pub(crate) fn no_break_glass(
    policy: &DeclaredConditionalAccessPolicy,
    spec: &Node,
) -> Option<Finding> {
    let users = &policy.property("conditions")["users"];
    let excludes_nobody = EXCLUSIONS
        .iter()
        .all(|k| users[*k].as_array().is_none_or(Vec::is_empty));
    let what = if policy.blocks() {
        "blocks"
    } else if policy.requires_mfa() {
        "requires MFA of"
    } else {
        return None;
    };
    if !policy.in_effect() || !lists(&users["includeUsers"], "All") || !excludes_nobody {
        return None;
    }
    let include = spec
        .get("conditions")?
        .value
        .get("users")?
        .value
        .get("includeUsers")?;
    let at = match &include.value.kind {
        NodeKind::Seq(items) => items.iter().find(|i| i.as_str() == Some("All")),
        _ => None,
    }
    .map_or(include.value.pos, |all| all.pos);
    Some(
        Finding::new(
            codes::POLICY_WITHOUT_BREAK_GLASS,
            at,
            format!(
                "`{}` {what} All users and excludes no user, group or role: no emergency-access (break-glass) account is exempt",
                policy.display_name
            ),
        )
        .help(
            "Microsoft recommends excluding the emergency-access (break-glass) accounts from Conditional Access policies, \
             so that a mistaken policy cannot lock every administrator out: write `excludeGroups: [Break Glass Accounts]` \
             under `conditions.users`",
        ),
    )
}

#[cfg(test)]
mod tests {
    use crate::policy::codes;
    use crate::policy::testing::{assert_quiet, assert_silenced, codes_at, load_str};

    /// A policy whose `includeUsers: [All{more}]` has its `All` on line 8, column 28.
    fn policy(annotations: &str, state: &str, more: &str, grant: &str) -> String {
        format!(
            "apiVersion: mfactl/v1\nkind: ConditionalAccessPolicy\nmetadata: {{name: Everyone, annotations: {{{annotations}}}}}\nspec:\n  state: {state}\n  conditions:\n    applications: {{includeApplications: [All]}}\n    users: {{includeUsers: [All{more}]}}\n  grantControls: {grant}\n"
        )
    }

    const MFA: &str = "{operator: OR, builtInControls: [mfa]}";
    const ALL: (&str, usize, usize) = (codes::POLICY_WITHOUT_BREAK_GLASS, 8, 28);

    #[test]
    fn a_policy_for_all_users_without_an_exclusion() {
        let out = load_str(&policy("", "enabled", "", MFA));
        assert_eq!(codes_at(&out), [ALL]);
        assert!(out.set.is_some(), "a lint is a warning");
        let d = &out.diagnostics[0];
        assert_eq!(
            d.message,
            "`Everyone` requires MFA of All users and excludes no user, group or role: no emergency-access (break-glass) account is exempt"
        );
        assert!(
            d.help
                .as_deref()
                .is_some_and(|h| h.contains("excludeGroups: [Break Glass Accounts]"))
        );
        for (state, more, grant, says) in [
            (
                "enabledForReportingButNotEnforced",
                "",
                "{operator: OR, builtInControls: [block]}",
                "blocks All users",
            ),
            (
                "enabled",
                ", alice@contoso.com",
                "{authenticationStrength: 00000000-0000-0000-0000-000000000004}",
                "requires MFA of All users",
            ),
            // Exclusions declared empty exclude nobody either.
            (
                "enabled",
                "], excludeUsers: [], excludeGroups: [",
                MFA,
                "requires MFA of All users",
            ),
        ] {
            let out = load_str(&policy("", state, more, grant));
            assert_eq!(codes_at(&out), [ALL], "{state} {more} {grant}");
            assert!(
                out.diagnostics[0].message.contains(says),
                "{}",
                out.diagnostics[0].message
            );
        }
    }

    #[test]
    fn an_exclusion_a_narrower_scope_or_no_mfa_is_quiet() {
        for (state, more, grant) in [
            ("enabled", "], excludeGroups: [Break Glass Accounts", MFA),
            (
                "enabled",
                "], excludeUsers: [bg1@contoso.onmicrosoft.com",
                MFA,
            ),
            (
                "enabled",
                "], excludeRoles: [62e90394-69f5-4237-9190-012177145e10",
                MFA,
            ),
            ("disabled", "", MFA),
            (
                "enabled",
                "",
                "{operator: OR, builtInControls: [compliantDevice]}",
            ),
        ] {
            assert_quiet(&policy("", state, more, grant));
        }
        assert_quiet(
            &policy("", "enabled", "", MFA)
                .replace("includeUsers: [All]", "includeUsers: [alice@contoso.com]"),
        );
    }

    #[test]
    fn the_policy_silences_it_with_a_reason() {
        assert_silenced(
            &policy(
                "mfactl.io/silence-MFA042: \"break-glass accounts sign in with passkeys\"",
                "enabled",
                "",
                MFA,
            ),
            &[(
                ALL.0,
                ALL.1,
                ALL.2,
                "break-glass accounts sign in with passkeys",
            )],
        );
    }
}
