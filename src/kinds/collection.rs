//! The collection shape: a kind whose documents are items of a Graph collection (named
//! locations, Conditional Access policies, authentication strengths, hardware OATH tokens),
//! each matched with the live item of the same key: its display name, or what the kind keys
//! its items by ([`Collection::live_key`], a token's serial number). Items the tenant lacks
//! are created,
//! items that differ are PATCHed (whole top-level objects, never a partial collection),
//! items no document declares are left alone and listed as unmanaged, or deleted when the
//! tenant opts in to pruning.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::change::property_changes;
use super::{Kind, PlanError, PropertyChange, ResourceChange};

/// A kind whose documents are items of one Graph collection, keyed by display name (or
/// [`Collection::live_key`]).
pub trait Collection: Kind {
    /// The collection's path, version included: listed with GET, created into with POST;
    /// an item is at `{PATH}/{id}`.
    const PATH: &'static str;
    /// How an item is named in a plan: `namedLocations/<display name>`.
    const RESOURCE: &'static str;
    /// The singletons its plan is weighed against, by path, read with it even when not
    /// declared.
    const READS: &'static [&'static str] = &[];

    /// The display name a declared item is matched by.
    fn key(desired: &Self::Desired) -> &str;

    /// The top-level properties the item declares, in Graph JSON, display name included.
    fn properties(desired: &Self::Desired) -> Map<String, Value>;

    /// Members every write of the item carries whatever changed (an `@odata.type`).
    fn always_sent(_desired: &Self::Desired) -> Map<String, Value> {
        Map::new()
    }

    /// `live` as `desired` compares with it: what Graph normalises on read made equal to
    /// what was written.
    fn observed(_desired: &Self::Desired, live: &Value) -> Value {
        live.clone()
    }

    /// Whether a live item may never be deleted or renamed by mfactl (Microsoft-managed).
    fn protected(_live: &Value) -> bool {
        false
    }

    /// Whether a live item is one no document could declare (a built-in), so it is not
    /// listed as unmanaged.
    fn built_in(_live: &Value) -> bool {
        false
    }

    /// The key a live item is matched by: its display name, unless the kind keys its items
    /// otherwise (hardware OATH tokens by serial number). `None` when the item has none.
    fn live_key(live: &Value) -> Option<&str> {
        live["displayName"].as_str()
    }

    /// Puts the plan's requests in the order they are sent. By default they stay as planned:
    /// creates and updates in the order declared, then deletes.
    fn order(_changes: &mut [ResourceChange]) {}

    /// Whether a request to `path` is one of this kind's (its collection's items; a kind
    /// may also write elsewhere, such as a user's assignment of a token).
    fn addresses(path: &str) -> bool {
        path.starts_with(Self::PATH)
    }

    /// The requests that create the declared item the tenant lacks: one POST of its
    /// properties and what every write carries.
    fn create(desired: &Self::Desired) -> Vec<ResourceChange> {
        let declared = Self::properties(desired);
        let properties = declared
            .iter()
            .map(|(k, v)| PropertyChange {
                name: k.clone(),
                before: Value::Null,
                after: v.clone(),
            })
            .collect();
        let mut body = Self::always_sent(desired);
        body.extend(declared);
        vec![change(
            "POST",
            resource::<Self>(Self::key(desired)),
            Self::PATH.into(),
            properties,
            Value::Object(body),
        )]
    }

    /// The requests that delete the live item `id`, keyed `key`, when pruning: one DELETE.
    fn delete(_live: &Value, key: &str, id: &str) -> Vec<ResourceChange> {
        vec![change(
            "DELETE",
            resource::<Self>(key),
            format!("{}/{id}", Self::PATH),
            vec![PropertyChange {
                name: "displayName".into(),
                before: Value::String(key.to_string()),
                after: Value::Null,
            }],
            Value::Null,
        )]
    }

    /// The requests that make the live item `id` (as [`Collection::observed`] shows it)
    /// match `desired`: one PATCH of what differs, with what every write carries.
    fn update(desired: &Self::Desired, observed: &Value, id: &str) -> Vec<ResourceChange> {
        let (properties, changed) = property_changes(&Self::properties(desired), observed);
        if properties.is_empty() {
            return Vec::new();
        }
        let mut body = Self::always_sent(desired);
        body.extend(changed);
        vec![change(
            "PATCH",
            resource::<Self>(Self::key(desired)),
            format!("{}/{id}", Self::PATH),
            properties,
            Value::Object(body),
        )]
    }
}

/// How the item `name` of `K` is named in a plan: `namedLocations/<display name>`.
pub fn resource<K: Collection + ?Sized>(name: &str) -> String {
    format!("{}/{name}", K::RESOURCE)
}

/// The placeholder for the id of the item a create in the same plan makes, `resource` as
/// [`resource`] names it: `{created:namedLocations/Office}`. Apply replaces it, in paths and
/// bodies, with the id the create answered.
pub fn created(resource: &str) -> String {
    format!("{{created:{resource}}}")
}

/// An item's declared properties with its display name first, as most collection kinds
/// write them.
pub fn with_display_name(name: &str, properties: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("displayName".into(), Value::String(name.to_string()));
    out.extend(properties.clone());
    out
}

/// A live item that no document declares: left alone, or deleted when pruning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unmanaged {
    /// The collection, as in the plan's resource names (`namedLocations`).
    pub collection: String,
    /// The item's display name.
    pub display_name: String,
    /// The item's id.
    pub id: String,
    /// Whether this plan deletes it (pruning is on and the item is not protected).
    pub deleted: bool,
}

/// What planning one collection kind gives: its changes, in the order to send (creates and
/// updates in the order declared, then deletes), and the live items no document declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectionPlan {
    /// The requests.
    pub changes: Vec<ResourceChange>,
    /// Live items no document declares.
    pub unmanaged: Vec<Unmanaged>,
}

fn live_key<K: Collection>(live: &Value) -> &str {
    K::live_key(live).unwrap_or_default()
}

/// One request of a collection plan.
pub(crate) fn change(
    method: &str,
    resource: String,
    path: String,
    properties: Vec<PropertyChange>,
    body: Value,
) -> ResourceChange {
    ResourceChange {
        resource,
        method: method.into(),
        path,
        properties,
        body,
    }
}

/// Checks that every live item has the id and key ([`Collection::live_key`]) the plan
/// matches and addresses it by: a listing without them is not understood, never taken as
/// items to create.
pub fn check_live<K: Collection>(live: &[Value]) -> Result<(), PlanError> {
    match live
        .iter()
        .find(|l| l["id"].as_str().is_none_or(str::is_empty) || K::live_key(l).is_none())
    {
        Some(_) => Err(PlanError::UnexpectedCollectionShape {
            collection: K::RESOURCE,
        }),
        None => Ok(()),
    }
}

/// Compares the declared items of `K` with the live collection (checked by
/// [`check_live`]).
pub fn plan<K: Collection>(desired: &[K::Desired], live: &[Value], prune: bool) -> CollectionPlan {
    let mut out = CollectionPlan::default();
    for item in desired {
        let name = K::key(item);
        match live.iter().find(|l| live_key::<K>(l) == name) {
            None => out.changes.extend(K::create(item)),
            Some(l) => {
                let id = l["id"].as_str().unwrap_or_default();
                out.changes
                    .extend(K::update(item, &K::observed(item, l), id));
            }
        }
    }
    for l in live {
        let name = live_key::<K>(l);
        if K::built_in(l) || desired.iter().any(|d| K::key(d) == name) {
            continue;
        }
        let id = l["id"].as_str().unwrap_or_default().to_string();
        let deleted = prune && !K::protected(l);
        if deleted {
            out.changes.extend(K::delete(l, name, &id));
        }
        out.unmanaged.push(Unmanaged {
            collection: K::RESOURCE.into(),
            display_name: name.to_string(),
            id,
            deleted,
        });
    }
    K::order(&mut out.changes);
    out
}

/// The item `change` (one of `K`'s) was sent to, found in a fresh read of the collection:
/// by id for an update or a delete (a deleted item still listed has not converged), by
/// display name for a create. `None` when it is not (or no longer) listed.
pub fn changed<'a, K: Collection>(change: &ResourceChange, live: &'a [Value]) -> Option<&'a Value> {
    match change.method.as_str() {
        "PATCH" | "DELETE" => {
            let id = change.path.rsplit('/').next()?;
            live.iter().find(|l| l["id"].as_str() == Some(id))
        }
        "POST" => {
            let name = change
                .resource
                .strip_prefix(K::RESOURCE)?
                .strip_prefix('/')?;
            live.iter().find(|l| live_key::<K>(l) == name)
        }
        _ => None,
    }
}
