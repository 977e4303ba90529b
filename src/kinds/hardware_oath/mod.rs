//! `kind: HardwareOathTokens`: a token of the beta hardware OATH inventory
//! (`/directory/authenticationMethodDevices/hardwareOathDevices`, FACTS-CA items 43–46),
//! keyed by serial number, and the user it is assigned to. Its spec is read in [`spec`]; it
//! converges as a [`Collection`] keyed by serial number: a token the tenant lacks is
//! created (its secret key from the vendor's seed file, [`seed`]), assigned, reassigned or
//! unassigned, and deleted only when the tenant prunes, unassigned first as Graph requires.
//! Every change of a token shows its `status` as Graph reports it (`available`, `assigned`,
//! `activated`, `failedActivation`). What only the tenant can tell (guests, five OATH
//! methods a user, the method configuration) is checked in [`holders`].

pub mod bulk;
pub mod holders;
pub mod seed;
pub mod spec;

use serde_json::{Map, Value, json};

use super::change::property_changes;
use super::collection::{Collection, change, resource};
use super::{Declare, Kind, Phase, PropertyChange, ResourceChange, Spec};
use crate::kinds::methods_policy::spec::DeclaredMethodsPolicy;
use crate::source::diagnostic::Finding;
use crate::source::diagnostic::{Diagnostic, Severity, codes};
use crate::tenant::names::{NameKind, Names, Resolution};

pub use spec::DeclaredToken;

/// The inventory, beta only (FACTS-CA item 42).
pub const DEVICES_PATH: &str = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";

/// The `HardwareOathTokens` kind.
pub struct HardwareOathTokens;

/// A declared token with its holder resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredToken {
    /// The declaration.
    pub declared: DeclaredToken,
    /// The holder's object id (lower case); `None`: unassigned.
    pub holder: Option<String>,
}

impl Kind for HardwareOathTokens {
    const NAME: &'static str = "HardwareOathTokens";
    const PHASE: Phase = Phase::Users;
    type Declared = DeclaredToken;
    type Desired = DesiredToken;

    /// The holder, UPN or object id, is looked up like a target: one that does not exist
    /// is MFA038 before anything is sent.
    fn names(declared: &DeclaredToken, names: &mut Names) {
        if let Some(holder) = declared.assigned_to.as_deref() {
            names.add(NameKind::User, holder, &declared.assignee_at);
        }
    }

    fn desired(declared: &DeclaredToken, resolved: &Resolution) -> DesiredToken {
        let holder = declared.assigned_to.as_deref().map(|a| {
            let id = match resolved.get(NameKind::User, a) {
                Some(r) => r.id.as_str(),
                None => a,
            };
            id.to_ascii_lowercase()
        });
        DesiredToken {
            declared: declared.clone(),
            holder,
        }
    }
}

impl Declare for HardwareOathTokens {
    fn declare(spec: &Spec<'_>) -> (Option<DeclaredToken>, Vec<Finding>) {
        spec::read(spec)
    }
}

/// The holder of a live token: `assignedTo.id`, lower case.
pub fn live_holder(live: &Value) -> Option<String> {
    live["assignedTo"]["id"]
        .as_str()
        .map(str::to_ascii_lowercase)
}

fn status(live: Option<&Value>) -> Value {
    live.map_or(Value::Null, |l| l["status"].clone())
}

fn assigned(holder: Option<&str>) -> Value {
    holder.map_or(Value::Null, |id| json!({"id": id}))
}

/// The change of `assignedTo` from `before` to `after`.
fn assignment(before: Option<&str>, after: Option<&str>) -> PropertyChange {
    PropertyChange {
        name: "assignedTo".into(),
        before: assigned(before),
        after: assigned(after),
    }
}

/// `status` from the live token's (`None` for a create) to `after`.
fn status_change(live: Option<&Value>, after: Value) -> PropertyChange {
    PropertyChange {
        name: "status".into(),
        before: status(live),
        after,
    }
}

/// The request that unassigns the live token `id` from `holder`: a DELETE of the user's
/// hardware OATH method (the method's id is the token's).
fn unassign(
    serial: &str,
    holder: &str,
    id: &str,
    properties: Vec<PropertyChange>,
) -> ResourceChange {
    change(
        "DELETE",
        resource::<HardwareOathTokens>(serial),
        format!("/beta/users/{holder}/authentication/hardwareOathMethods/{id}"),
        properties,
        Value::Null,
    )
}

impl Collection for HardwareOathTokens {
    const PATH: &'static str = DEVICES_PATH;
    const RESOURCE: &'static str = "hardwareOathTokens";
    const READS: &'static [&'static str] = &[crate::kinds::methods_policy::POLICY_PATH];

    fn key(desired: &DesiredToken) -> &str {
        &desired.declared.serial_number
    }

    fn properties(desired: &DesiredToken) -> Map<String, Value> {
        desired.declared.properties.clone()
    }

    fn live_key(live: &Value) -> Option<&str> {
        live["serialNumber"].as_str()
    }

    fn addresses(path: &str) -> bool {
        path.starts_with(DEVICES_PATH)
            || (path.starts_with("/beta/users/")
                && path.contains("/authentication/hardwareOathMethods/"))
    }

    /// Every unassignment first, then the creates, then the rest (assignments, property
    /// PATCHes, deletes), each group in the order planned: a holder's slots (at most five
    /// OATH methods) are freed before anything takes one, a reassignment still unassigns
    /// before it assigns, and the creates sit together for one bulk upload ([`bulk`]).
    fn order(changes: &mut [ResourceChange]) {
        changes.sort_by_key(|c| match c.method.as_str() {
            "DELETE" if !c.path.starts_with(DEVICES_PATH) => 0,
            "POST" => 1,
            _ => 2,
        });
    }

    /// One POST with the holder (`assignTo`) and the [`seed::placeholder`] of the key,
    /// which apply fills in from the seed file; [`Collection::order`] puts the creates
    /// together, and apply sends them in bulk uploads ([`bulk`]).
    fn create(desired: &DesiredToken) -> Vec<ResourceChange> {
        let serial = &desired.declared.serial_number;
        let mut body = Map::new();
        body.insert("serialNumber".into(), json!(serial));
        body.insert("secretKey".into(), json!(seed::placeholder(serial)));
        body.extend(desired.declared.properties.clone());
        let mut properties: Vec<PropertyChange> = std::iter::once(("serialNumber", json!(serial)))
            .chain(
                desired
                    .declared
                    .properties
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.clone())),
            )
            .map(|(name, after)| PropertyChange {
                name: name.into(),
                before: Value::Null,
                after,
            })
            .collect();
        if let Some(holder) = &desired.holder {
            body.insert("assignTo".into(), json!({"id": holder}));
            properties.push(assignment(None, Some(holder)));
        }
        let state = if desired.holder.is_some() {
            "assigned"
        } else {
            "available"
        };
        properties.push(status_change(None, json!(state)));
        vec![change(
            "POST",
            resource::<Self>(serial),
            DEVICES_PATH.into(),
            properties,
            Value::Object(body),
        )]
    }

    /// What differs: a PATCH of the declared properties and, for a new holder, `assignTo`;
    /// a token held by someone else is unassigned first (Graph assigns only a free token).
    fn update(desired: &DesiredToken, observed: &Value, id: &str) -> Vec<ResourceChange> {
        let serial = &desired.declared.serial_number;
        let (mut properties, mut body) = property_changes(&desired.declared.properties, observed);
        let live = live_holder(observed);
        let want = desired.holder.as_deref();
        let mut out = Vec::new();
        if live.as_deref() != want {
            if let Some(old) = &live {
                let unassigned = vec![
                    assignment(Some(old), None),
                    status_change(Some(observed), json!("available")),
                ];
                out.push(unassign(serial, old, id, unassigned));
            }
            if let Some(new) = want {
                body.insert("assignTo".into(), json!({"id": new}));
                properties.push(assignment(None, Some(new)));
                properties.push(status_change(Some(observed), json!("assigned")));
            }
        } else if !properties.is_empty() {
            // Unchanged, shown for what the token is.
            properties.push(status_change(Some(observed), status(Some(observed))));
        }
        if !body.is_empty() {
            out.push(change(
                "PATCH",
                resource::<Self>(serial),
                format!("{DEVICES_PATH}/{id}"),
                properties,
                Value::Object(body),
            ));
        }
        out
    }

    /// Unassigned first when held, then deleted (Graph refuses to delete an assigned token).
    fn delete(live: &Value, key: &str, id: &str) -> Vec<ResourceChange> {
        let mut out = Vec::new();
        let mut status = status_change(Some(live), json!("available"));
        if let Some(holder) = live_holder(live) {
            let unassigned = vec![assignment(Some(&holder), None), status.clone()];
            out.push(unassign(key, &holder, id, unassigned));
            status.before = status.after;
        }
        status.after = Value::Null;
        let serial = PropertyChange {
            name: "serialNumber".into(),
            before: Value::String(key.to_string()),
            after: Value::Null,
        };
        out.push(change(
            "DELETE",
            resource::<Self>(key),
            format!("{DEVICES_PATH}/{id}"),
            vec![serial, status],
            Value::Null,
        ));
        out
    }
}

/// MFA048 at validate time: tokens assigned while the declared methods policy turns the
/// Hardware OATH method off (`state: disabled`, or no include target), one per holder
/// written. What only the tenant can tell (the live configuration, who is in its groups) is
/// checked at plan time ([`holders`]).
pub(crate) fn declared_off(
    methods: &DeclaredMethodsPolicy,
    tokens: &[DeclaredToken],
) -> Vec<Diagnostic> {
    let Some(m) = methods.methods.iter().find(|m| m.key == "hardwareOath") else {
        return Vec::new();
    };
    let disabled = m.properties.get("state") == Some(&json!("disabled"));
    let nobody = m.properties.get("includeTargets") == Some(&json!([]));
    if !disabled && !nobody {
        return Vec::new();
    }
    let why = if disabled {
        "`state: disabled`"
    } else {
        "`includeTargets: []`"
    };
    tokens
        .iter()
        .filter(|t| t.assigned_to.is_some())
        .map(|t| Diagnostic {
            code: codes::OATH_METHOD_OFF,
            severity: Severity::Error,
            location: t.assignee_at.clone(),
            message: format!(
                "token {} is assigned, but the AuthenticationMethodsPolicy at {} declares the Hardware OATH method off ({why})",
                t.serial_number, m.location
            ),
            help: Some("enable `hardwareOath` for the holders, or leave `assignedTo` out".into()),
        })
        .collect()
}

#[cfg(test)]
mod tests;
