//! `kind: ConditionalAccessPolicy`: an item of `/identity/conditionalAccess/policies`, keyed
//! by display name. Its spec is read in [`spec`]; it converges as a [`Collection`]: what
//! Graph normalises on read (null, `[]` and absent alike; `clientAppTypes` defaulting to
//! `all`; the strength returned whole where `{id}` was written) is never drift (FACTS-CA
//! item 24), and a changed top-level object (`conditions`, `grantControls`,
//! `sessionControls`) is sent whole, merged from live and desired, never a partial
//! collection (item 23). Its lint (MFA042) is in [`lints`].

pub mod export;
pub(crate) mod lints;
pub mod spec;

use serde_json::{Map, Value, json};

use crate::msgraph::ApiVersion;
use crate::msgraph::schema::Schema;

use super::collection::{Collection, with_display_name};
use super::security_defaults::SECURITY_DEFAULTS_PATH;
use super::{Declare, Kind, Phase, Spec};
use crate::source::diagnostic::Finding;
use crate::tenant::names::{Names, Resolution};

pub use spec::{DeclaredConditionalAccessPolicy, is_managed_name};

pub use crate::msgraph::conditional_access::POLICIES_PATH;

/// The `ConditionalAccessPolicy` kind.
pub struct ConditionalAccessPolicy;

fn lists(value: &Value, word: &str) -> bool {
    value
        .as_array()
        .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(word)))
}

impl DeclaredConditionalAccessPolicy {
    /// The declared top-level property `key` (`null` when not declared).
    fn property(&self, key: &str) -> &Value {
        self.properties.get(key).unwrap_or(&Value::Null)
    }

    /// Whether it is declared `state: enabled`.
    pub fn enabled(&self) -> bool {
        self.property("state") == "enabled"
    }

    /// Whether it is declared `state: enabled` or `enabledForReportingButNotEnforced`
    /// (FACTS-CA item 15): enforced or evaluated, not `disabled`.
    pub fn in_effect(&self) -> bool {
        self.enabled() || self.property("state") == "enabledForReportingButNotEnforced"
    }

    /// Whether its grant requires MFA: `mfa` among the built-in controls, or an
    /// authentication strength (FACTS-CA item 21).
    pub fn requires_mfa(&self) -> bool {
        let grant = self.property("grantControls");
        lists(&grant["builtInControls"], "mfa") || !grant["authenticationStrength"].is_null()
    }

    /// Whether its grant blocks access: `block` among the built-in controls.
    pub fn blocks(&self) -> bool {
        lists(&self.property("grantControls")["builtInControls"], "block")
    }

    /// Whether it blocks legacy authentication, as Microsoft's "Block legacy
    /// authentication" policy does in place of security defaults (FACTS-CA items 11, 31):
    /// `block` for client app types that include `exchangeActiveSync` or `other`.
    pub fn blocks_legacy_authentication(&self) -> bool {
        let client_apps = &self.property("conditions")["clientAppTypes"];
        self.blocks() && (lists(client_apps, "exchangeActiveSync") || lists(client_apps, "other"))
    }

    /// Whether, once enabled, it requires MFA (or an authentication strength) of every
    /// user for every resource, as security defaults did: `includeUsers: [All]`,
    /// `includeApplications: [All]`, and `mfa` or a strength granted, alone or with `AND`.
    /// Exclusions (break-glass) do not change the answer; narrowing conditions
    /// (platforms, locations, client apps, risk) do.
    pub fn requires_mfa_of_everyone(&self) -> bool {
        let tree = Value::Object(self.properties.clone());
        let conditions = &tree["conditions"];
        let everyone = lists(&conditions["users"]["includeUsers"], "All");
        let everything = lists(&conditions["applications"]["includeApplications"], "All")
            && conditions["applications"]["excludeApplications"]
                .as_array()
                .is_none_or(Vec::is_empty);
        let narrowed = conditions.as_object().into_iter().flatten().any(|(k, v)| {
            !matches!(k.as_str(), "users" | "applications")
                && !(k == "clientAppTypes" && (lists(v, "all") || v.is_null()))
                && !(v.is_null() || v.as_array().is_some_and(Vec::is_empty))
        });
        let grant = &tree["grantControls"];
        let controls = grant["builtInControls"].as_array().map_or(0, Vec::len);
        let alone = controls <= 1 || grant["operator"] == "AND";
        everyone && everything && !narrowed && self.requires_mfa() && alone
    }
}

impl Kind for ConditionalAccessPolicy {
    const NAME: &'static str = "ConditionalAccessPolicy";
    const PHASE: Phase = Phase::Protection;
    type Declared = DeclaredConditionalAccessPolicy;
    type Desired = DeclaredConditionalAccessPolicy;

    fn names(declared: &DeclaredConditionalAccessPolicy, names: &mut Names) {
        let tree = Value::Object(declared.properties.clone());
        for (pointer, location) in &declared.name_locations {
            let name = tree.pointer(pointer).and_then(Value::as_str);
            if let (Some(kind), Some(name)) = (spec::name_kind(pointer), name) {
                names.add(kind, name, location);
            }
        }
    }

    fn desired(
        declared: &DeclaredConditionalAccessPolicy,
        resolved: &Resolution,
    ) -> DeclaredConditionalAccessPolicy {
        let mut tree = Value::Object(declared.properties.clone());
        for (pointer, _) in &declared.name_locations {
            let Some(slot) = tree.pointer_mut(pointer) else {
                continue;
            };
            let found = slot
                .as_str()
                .zip(spec::name_kind(pointer))
                .and_then(|(name, kind)| resolved.get(kind, name));
            if let Some(r) = found {
                *slot = Value::String(r.id.clone());
            }
        }
        let mut desired = declared.clone();
        if let Value::Object(properties) = tree {
            desired.properties = properties;
        }
        desired
    }
}

impl Declare for ConditionalAccessPolicy {
    fn declare(spec: &Spec<'_>) -> (Option<DeclaredConditionalAccessPolicy>, Vec<Finding>) {
        let (declared, mut found) = spec::read(spec);
        if let Some(policy) = &declared {
            found.extend(lints::no_break_glass(policy, spec.node));
        }
        (declared, found)
    }
}

/// `live` as the declaration compares with it: where the declaration has a list and Graph
/// `null` or nothing, an empty list; `clientAppTypes` absent or null as `["all"]`; the
/// strength as `{id}`.
fn normalised(declared: &Value, live: &Value, key: &str) -> Value {
    match (declared, live) {
        (Value::Array(_), Value::Null) if key == "clientAppTypes" => json!(["all"]),
        (Value::Array(_), Value::Null) => json!([]),
        (Value::Object(d), Value::Object(l)) => {
            let mut out = l.clone();
            for (k, dv) in d {
                let lv = l.get(k).unwrap_or(&Value::Null);
                let value = if k == "authenticationStrength" {
                    lv.get("id").map_or(Value::Null, |id| json!({ "id": id }))
                } else {
                    normalised(dv, lv, k)
                };
                out.insert(k.clone(), value);
            }
            Value::Object(out)
        }
        _ => live.clone(),
    }
}

impl Collection for ConditionalAccessPolicy {
    const PATH: &'static str = POLICIES_PATH;
    const RESOURCE: &'static str = "conditionalAccessPolicies";
    /// Whether security defaults are on decides how an enabled policy is staged
    /// (`crate::plan::migration`).
    const READS: &'static [&'static str] = &[SECURITY_DEFAULTS_PATH];

    fn key(desired: &DeclaredConditionalAccessPolicy) -> &str {
        &desired.display_name
    }

    fn properties(desired: &DeclaredConditionalAccessPolicy) -> Map<String, Value> {
        with_display_name(&desired.display_name, &desired.properties)
    }

    /// `live` as the declaration compares with it ([`normalised`]), without the members
    /// outside the CSDL that responses carry, so that an update never sends them back.
    fn observed(desired: &DeclaredConditionalAccessPolicy, live: &Value) -> Value {
        let known = Schema::get().known_members(ApiVersion::V1, "conditionalAccessPolicy", live);
        normalised(&Value::Object(Self::properties(desired)), &known, "")
    }

    /// Microsoft-managed: a v1.0 `templateId`, or the display-name prefix (FACTS-CA item 33).
    fn protected(live: &Value) -> bool {
        !live["templateId"].is_null() || live["displayName"].as_str().is_some_and(is_managed_name)
    }
}

#[cfg(test)]
mod tests;
