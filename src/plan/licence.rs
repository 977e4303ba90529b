//! The licence pre-check: Conditional Access, and the named locations and authentication
//! strengths it references, need at least Microsoft Entra ID P1 (FACTS-CA item 27; security
//! defaults need none). What Graph answers a tenant without P1 is not documented (item 36),
//! so a policy set declaring those kinds is refused before anything is read or sent, from
//! the tenant's subscriptions, as peers check them: a service plan `AAD_PREMIUM` (P1) or
//! `AAD_PREMIUM_P2` (P2, whose SKUs carry the P1 plan too). Nothing is read when none of
//! those kinds is declared.

use serde_json::Value;

use super::PlanError;
use super::live::PlanningError;
use crate::graph::GraphClient;
use crate::kinds::{KindId, PolicySet};
use crate::msgraph::conditional_access::{LicenceSku, SKU_P1, SKU_P2};

/// The tenant's subscriptions (permission: LicenseAssignment.Read.All, or
/// Organization.Read.All).
pub const SUBSCRIBED_SKUS_PATH: &str = "/v1.0/subscribedSkus";

/// The declared kinds that need P1, by `kind:` name, in the order of the kinds.
pub fn kinds_needing_p1(set: &PolicySet) -> Vec<&'static str> {
    [
        (KindId::NamedLocation, !set.named_locations.is_empty()),
        (
            KindId::AuthenticationStrength,
            !set.authentication_strengths.is_empty(),
        ),
        (
            KindId::ConditionalAccessPolicy,
            !set.conditional_access_policies.is_empty(),
        ),
    ]
    .into_iter()
    .filter(|(_, declared)| *declared)
    .map(|(kind, _)| kind.name())
    .collect()
}

/// Whether one of `skus` (the `value` of `subscribedSkus`) grants P1: a subscription that is
/// in force (`capabilityStatus` `Enabled`, or `Warning` in its grace period; not
/// `Suspended`, `Deleted` or `LockedOut`) with a P1 or P2 service plan that is not
/// `Disabled`. Plans are matched by name or id, names without case.
pub fn grants_p1(skus: &[Value]) -> bool {
    let premium = |plan: &Value| {
        [SKU_P1, SKU_P2]
            .iter()
            .any(|(_, _, name, id): &LicenceSku| {
                plan["servicePlanName"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
                    || plan["servicePlanId"]
                        .as_str()
                        .is_some_and(|i| i.eq_ignore_ascii_case(id))
            })
    };
    skus.iter()
        .filter(|sku| {
            sku["capabilityStatus"]
                .as_str()
                .is_none_or(|s| matches!(s, "Enabled" | "Warning"))
        })
        .flat_map(|sku| sku["servicePlans"].as_array().into_iter().flatten())
        .any(|plan| premium(plan) && plan["provisioningStatus"].as_str() != Some("Disabled"))
}

/// Refuses a policy set that declares kinds needing P1 on a tenant without it
/// ([`PlanError::NoEntraIdP1`]); reads `subscribedSkus` only when such a kind is declared.
pub async fn require_p1(client: &GraphClient, set: &PolicySet) -> Result<(), PlanningError> {
    let kinds = kinds_needing_p1(set);
    if kinds.is_empty() {
        return Ok(());
    }
    let skus = client.get_all(SUBSCRIBED_SKUS_PATH).await?;
    if grants_p1(&skus) {
        Ok(())
    } else {
        Err(PlanError::NoEntraIdP1 { kinds }.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sku(status: &str, plans: &[(&str, &str, &str)]) -> Value {
        json!({
            "capabilityStatus": status,
            "servicePlans": plans.iter().map(|(name, id, provisioning)| json!({
                "servicePlanName": name, "servicePlanId": id, "provisioningStatus": provisioning,
            })).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn a_p1_or_p2_plan_in_force_grants_p1_and_nothing_else_does() {
        let (p1, p2) = ((SKU_P1.2, SKU_P1.3), (SKU_P2.2, SKU_P2.3));
        let exchange = (
            "EXCHANGE_S_STANDARD",
            "9aaf7827-d63c-4b61-89c3-182f06f82e5c",
        );
        assert!(!grants_p1(&[]));
        assert!(!grants_p1(&[sku(
            "Enabled",
            &[(exchange.0, exchange.1, "Success")]
        )]));
        assert!(grants_p1(&[
            sku("Enabled", &[(exchange.0, exchange.1, "Success")]),
            sku("Enabled", &[(p1.0, p1.1, "Success")]),
        ]));
        assert!(grants_p1(&[sku("Warning", &[(p2.0, p2.1, "Success")])]));
        assert!(grants_p1(&[sku(
            "Enabled",
            &[("aad_premium", "x", "Success")]
        )]));
        assert!(grants_p1(&[sku(
            "Enabled",
            &[("renamed", p1.1, "Success")]
        )]));
        for status in ["Suspended", "Deleted", "LockedOut"] {
            assert!(
                !grants_p1(&[sku(status, &[(p1.0, p1.1, "Success")])]),
                "{status}"
            );
        }
        assert!(!grants_p1(&[sku("Enabled", &[(p1.0, p1.1, "Disabled")])]));
    }

    #[test]
    fn only_conditional_access_and_what_it_references_need_p1() {
        let load = |source: &str| {
            let out = crate::policy::testing::load_str(source);
            assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
            out.set.unwrap()
        };
        let set = load(
            "apiVersion: mfactl/v1\nkind: SecurityDefaults\nmetadata: {name: sd}\nspec: {enabled: true}\n---\napiVersion: mfactl/v1\nkind: PerUserMfa\nmetadata: {name: legacy}\nspec: {state: disabled}\n",
        );
        assert!(kinds_needing_p1(&set).is_empty());
        let set = load(
            "apiVersion: mfactl/v1\nkind: NamedLocation\nmetadata: {name: Office}\nspec: {ipRanges: [203.0.113.0/24]}\n---\napiVersion: mfactl/v1\nkind: ConditionalAccessPolicy\nmetadata: {name: MFA}\nspec:\n  state: enabledForReportingButNotEnforced\n  conditions: {users: {includeUsers: [All], excludeGroups: [Break Glass Accounts]}, applications: {includeApplications: [All]}}\n  grantControls: {operator: OR, builtInControls: [mfa]}\n",
        );
        assert_eq!(
            kinds_needing_p1(&set),
            ["NamedLocation", "ConditionalAccessPolicy"]
        );
    }
}
