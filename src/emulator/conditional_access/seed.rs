//! The Conditional Access side of generated tenants: a licence, role assignments for the
//! admins, and in some tenants the policies an organisation already has.
//!
//! By position (so that a single generated tenant, the default and the sandbox's, is a P1
//! tenant without policies): tenants 0, 3, 6, … are P1 without policies; 1, 4, 7, … P1 with
//! policies (two report-only, one naming a group that was deleted); 2, 5, 8, … P2.

use serde_json::{Value, json};

use crate::emulator::state::{Licence, RoleAssignment, Tenant};
use crate::msgraph::conditional_access::{ADMIN_ROLE_TEMPLATES, GLOBAL_ADMINISTRATOR};
use crate::support::rng::SplitMix64;

/// Sets the licence, the role assignments and, for some P1 tenants, existing policies.
/// Draws from `rng` only after everything else of the tenant is generated.
pub fn seed_generated(t: &mut Tenant, index: usize, rng: &mut SplitMix64) {
    t.licence = if index % 3 == 2 {
        Licence::P2
    } else {
        Licence::P1
    };
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
    if index % 3 == 1 {
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
