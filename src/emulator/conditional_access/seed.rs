//! The Conditional Access side of generated tenants: a licence, security defaults, role
//! assignments for the admins, and in some tenants the policies an organisation already has.
//!
//! The starting points real tenants come from, by position (index modulo 5), so that a
//! single generated tenant (the default, the tests' and the sandbox's) stays a P1 tenant
//! without policies:
//!
//! | index | licence | security defaults | Conditional Access |
//! |---|---|---|---|
//! | 0, 5, 10, … | P1 | off | none (turned off with nothing in their place) |
//! | 1, 6, 11, … | P1 | off | four policies: two enabled, two report-only, one naming a deleted group |
//! | 2, 7, 12, … | P2 | off | none |
//! | 3, 8, 13, … | free (`premium: false`) | on | none (a free tenant cannot hold any) |
//! | 4, 9, 14, … | P1 | on | none |

use serde_json::{Value, json};

use crate::emulator::state::{Licence, RoleAssignment, Tenant};
use crate::msgraph::conditional_access::{ADMIN_ROLE_TEMPLATES, GLOBAL_ADMINISTRATOR};
use crate::support::rng::SplitMix64;

/// Where generated tenant `index` starts from: its licence, whether security defaults are
/// on, and whether it already holds policies (the table above).
fn starting_point(index: usize) -> (Licence, bool, bool) {
    match index % 5 {
        0 => (Licence::P1, false, false),
        1 => (Licence::P1, false, true),
        2 => (Licence::P2, false, false),
        3 => (Licence::Free, true, false),
        _ => (Licence::P1, true, false),
    }
}

/// Sets the licence, security defaults, the role assignments and, for some P1 tenants,
/// existing policies. Draws from `rng` only after everything else of the tenant is generated.
pub fn seed_generated(t: &mut Tenant, index: usize, rng: &mut SplitMix64) {
    let (licence, security_defaults, policies) = starting_point(index);
    t.licence = licence;
    t.premium = licence != Licence::Free;
    t.security_defaults.is_enabled = security_defaults;
    t.role_assignments = t
        .users
        .iter()
        .filter(|u| u.is_admin)
        .enumerate()
        .map(|(n, u)| RoleAssignment {
            id: String::new(),
            principal_id: u.id.clone(),
            role_definition_id: if n == 0 {
                GLOBAL_ADMINISTRATOR.to_string()
            } else {
                ADMIN_ROLE_TEMPLATES[n % ADMIN_ROLE_TEMPLATES.len()]
                    .0
                    .to_string()
            },
        })
        .collect();
    if policies {
        t.conditional_access.policies = existing_policies(t, rng);
    }
}

fn policy(rng: &mut SplitMix64, name: &str, state: &str, conditions: Value, grant: Value) -> Value {
    json!({
        "id": rng.guid(),
        "templateId": null,
        "displayName": name,
        "createdDateTime": "2025-06-02T09:30:00Z",
        "modifiedDateTime": null,
        "state": state,
        "conditions": conditions,
        "grantControls": grant,
    })
}

/// What a P1 tenant that started on Conditional Access before mfactl typically holds.
fn existing_policies(t: &Tenant, rng: &mut SplitMix64) -> Vec<Value> {
    let break_glass: Vec<&str> = t
        .groups
        .iter()
        .filter(|g| g.display_name == "Break Glass Accounts")
        .map(|g| g.id.as_str())
        .collect();
    let admin_roles: Vec<&str> = ADMIN_ROLE_TEMPLATES.iter().map(|(id, _, _)| *id).collect();
    let mfa = json!({"operator": "OR", "builtInControls": ["mfa"]});
    let all_apps = json!({"includeApplications": ["All"]});
    let deleted_group = rng.guid();
    vec![
        policy(
            rng,
            "Require MFA for administrators",
            "enabled",
            json!({"applications": all_apps, "users": {"includeRoles": admin_roles, "excludeGroups": break_glass}}),
            mfa.clone(),
        ),
        policy(
            rng,
            "Require MFA for all users",
            "enabledForReportingButNotEnforced",
            json!({"applications": all_apps, "users": {"includeUsers": ["All"], "excludeGroups": break_glass}}),
            mfa.clone(),
        ),
        policy(
            rng,
            "Block legacy authentication",
            "enabledForReportingButNotEnforced",
            json!({"applications": all_apps, "clientAppTypes": ["exchangeActiveSync", "other"], "users": {"includeUsers": ["All"]}}),
            json!({"operator": "OR", "builtInControls": ["block"]}),
        ),
        policy(
            rng,
            "MFA for contractors",
            "enabled",
            json!({"applications": all_apps, "users": {"includeGroups": [deleted_group]}}),
            mfa,
        ),
    ]
}
