//! Names matched in one listing of their collection: directory roles (by their templates'
//! display names), named locations and authentication strengths. Each collection a name is
//! needed from is read once, whole; the built-in strengths are known without a read. A
//! display name is matched exactly, as the collection kinds match their documents.

use std::collections::HashMap;

use serde_json::Value;

use super::{NameKind, Outcome, Resolved};
use crate::graph::{GraphClient, GraphError};
use crate::msgraph::conditional_access::{BUILT_IN_STRENGTHS, built_in_strength_named};
use crate::source::diagnostic::Location;

/// The collections read, by kind of name.
#[derive(Debug, Default)]
pub(super) struct Listings {
    items: HashMap<NameKind, Vec<Value>>,
}

/// Reads, concurrently, each collection that a name in `wanted` is to be found in: not for
/// users and groups, and not for a strength that is built in.
pub(super) async fn read(
    client: &GraphClient,
    wanted: &[(NameKind, String, Location)],
) -> Result<Listings, GraphError> {
    let mut paths: Vec<(NameKind, &'static str)> = Vec::new();
    for (kind, name, _) in wanted {
        let Some(path) = kind.listing() else { continue };
        let known = *kind == NameKind::Strength && built_in_strength_named(name).is_some();
        if !known && !paths.iter().any(|(k, _)| k == kind) {
            paths.push((*kind, path));
        }
    }
    let reads = paths
        .iter()
        .map(|&(kind, path)| async move { client.get_all(path).await.map(|items| (kind, items)) });
    let items = futures_util::future::try_join_all(reads).await?;
    Ok(Listings::from(items))
}

impl From<Vec<(NameKind, Vec<Value>)>> for Listings {
    fn from(items: Vec<(NameKind, Vec<Value>)>) -> Self {
        Listings {
            items: items.into_iter().collect(),
        }
    }
}

impl Listings {
    /// The items of `kind` read, with an id and a display name.
    fn named(&self, kind: NameKind) -> impl Iterator<Item = (&str, &str)> {
        self.items.get(&kind).into_iter().flatten().filter_map(|v| {
            let id = v["id"].as_str().filter(|id| !id.is_empty())?;
            Some((id, v["displayName"].as_str()?))
        })
    }

    /// How `name` of `kind` fares: a built-in strength, else the one item of the listing
    /// with exactly this display name; none in the tenant is `placeholder` when the policy
    /// set declares the item, else unknown.
    pub(super) fn outcome(
        &self,
        kind: NameKind,
        name: &str,
        placeholder: Option<&String>,
    ) -> Outcome {
        let one = |id: &str| {
            Outcome::One(Resolved {
                id: id.to_string(),
                upn: None,
            })
        };
        if kind == NameKind::Strength
            && let Some(b) = built_in_strength_named(name)
        {
            return one(b.id);
        }
        let ids: Vec<&str> = self
            .named(kind)
            .filter(|(_, n)| *n == name)
            .map(|(id, _)| id)
            .collect();
        match (ids.as_slice(), placeholder) {
            ([id], _) => one(id),
            ([], Some(p)) => one(p),
            ([], None) => Outcome::None,
            (many, _) => Outcome::Many(many.len()),
        }
    }

    /// Every display name of `kind`, built-in strengths included: the candidates for a
    /// suggestion.
    pub(super) fn names(&self, kind: NameKind) -> Vec<String> {
        let built_in = BUILT_IN_STRENGTHS
            .iter()
            .filter(|_| kind == NameKind::Strength)
            .map(|b| b.display_name);
        let mut out: Vec<String> = self
            .named(kind)
            .map(|(_, n)| n)
            .chain(built_in)
            .map(String::from)
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listings() -> Listings {
        Listings::from(vec![
            (
                NameKind::Location,
                vec![
                    json!({"id": "l1", "displayName": "Office"}),
                    json!({"id": "l2", "displayName": "Branch"}),
                    json!({"id": "l3", "displayName": "Branch"}),
                    json!({"displayName": "No id"}),
                ],
            ),
            (
                NameKind::Strength,
                vec![json!({"id": "s1", "displayName": "Registration"})],
            ),
        ])
    }

    fn id(outcome: Outcome) -> Option<String> {
        match outcome {
            Outcome::One(r) => Some(r.id),
            _ => None,
        }
    }

    #[test]
    fn a_name_resolves_to_the_one_item_so_named_exactly() {
        let l = listings();
        assert_eq!(
            id(l.outcome(NameKind::Location, "Office", None)),
            Some("l1".into())
        );
        assert_eq!(l.outcome(NameKind::Location, "office", None), Outcome::None);
        assert_eq!(
            l.outcome(NameKind::Location, "Branch", None),
            Outcome::Many(2)
        );
        assert_eq!(l.outcome(NameKind::Location, "No id", None), Outcome::None);
        assert_eq!(l.outcome(NameKind::Role, "Office", None), Outcome::None);
    }

    #[test]
    fn built_in_strengths_need_no_listing_and_declared_items_their_placeholder() {
        let l = listings();
        assert_eq!(
            id(l.outcome(NameKind::Strength, "Phishing-resistant MFA", None)),
            Some("00000000-0000-0000-0000-000000000004".into())
        );
        assert_eq!(
            id(l.outcome(NameKind::Strength, "Registration", None)),
            Some("s1".into())
        );
        let placeholder = "{created:namedLocations/Home}".to_string();
        assert_eq!(
            id(l.outcome(NameKind::Location, "Home", Some(&placeholder))),
            Some(placeholder.clone())
        );
        assert_eq!(
            id(l.outcome(NameKind::Location, "Office", Some(&placeholder))),
            Some("l1".into()),
            "an item the tenant has is the tenant's"
        );
        assert_eq!(
            l.names(NameKind::Strength),
            [
                "Multifactor authentication",
                "Passwordless MFA",
                "Phishing resistant MFA",
                "Registration"
            ]
        );
        assert_eq!(l.names(NameKind::Location), ["Branch", "Office"]);
    }
}
