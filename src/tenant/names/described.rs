//! The other way round: the display names of objects known only by id — an id a
//! declaration writes, or one only the live tenant holds — for output that shows a name
//! beside each id. Users and groups: one GET per id, twenty to a `$batch` POST through the
//! client's pacer; directory roles, named locations and custom strengths: one listing of
//! each collection an id is needed from; built-in strengths without a read. A name is a
//! help for the reader, not a result: a read that fails leaves its ids without a name.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::NameKind;
use super::batched;
use crate::graph::{BatchRequest, GraphClient};
use crate::msgraph::conditional_access::built_in_strength;

/// The GET of one user or group by id, for its name.
fn by_id_path(kind: NameKind, id: &str) -> Option<String> {
    let set = match kind {
        NameKind::Group => "groups",
        NameKind::User => "users",
        NameKind::Role | NameKind::Location | NameKind::Strength => return None,
    };
    Some(format!(
        "/v1.0/{set}/{}?$select=id,{}",
        utf8_percent_encode(id, NON_ALPHANUMERIC),
        kind.name_property()
    ))
}

/// The display name (a user's principal name) of each object in `wanted`, by id in lower
/// case; an object whose name could not be read is left out.
pub async fn display_names(
    client: &GraphClient,
    wanted: &[(NameKind, String)],
) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    let mut one_by_one: Vec<(NameKind, String, String)> = Vec::new();
    let mut listings: Vec<(NameKind, &'static str)> = Vec::new();
    for (kind, id) in wanted {
        let id = id.to_ascii_lowercase();
        if let Some(b) = built_in_strength(&id).filter(|_| *kind == NameKind::Strength) {
            names.insert(id, b.display_name.to_string());
        } else if let Some(path) = by_id_path(*kind, &id) {
            one_by_one.push((*kind, id, path));
        } else if let Some(path) = kind.listing()
            && !listings.iter().any(|(k, _)| k == kind)
        {
            listings.push((*kind, path));
        }
    }
    let mut found = BTreeMap::new();
    let requests = one_by_one
        .iter()
        .enumerate()
        .map(|(i, (_, _, path))| BatchRequest::get(i.to_string(), path.clone()));
    let round = batched(client, requests, |responses| {
        for response in responses {
            let Some((kind, id, _)) = response
                .id
                .parse::<usize>()
                .ok()
                .and_then(|i| one_by_one.get(i))
            else {
                continue;
            };
            match response.into_result() {
                Ok(Some(body)) => {
                    if let Some(name) = body[kind.name_property()].as_str() {
                        found.insert(id.clone(), name.to_string());
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, %id, "reading a {} by id failed", kind.noun())
                }
            }
        }
        Ok(())
    });
    let lists = join_all(
        listings
            .iter()
            .map(|&(kind, path)| async move { (kind, client.get_all(path).await) }),
    );
    let (round, lists) = tokio::join!(round, lists);
    if let Err(e) = round {
        tracing::debug!(error = %e, "reading names by id failed");
    }
    names.extend(found);
    for (kind, items) in lists {
        match items {
            Ok(items) => names.extend(named(&items).filter(|(id, _)| {
                wanted
                    .iter()
                    .any(|(k, w)| *k == kind && w.eq_ignore_ascii_case(id))
            })),
            Err(e) => {
                tracing::debug!(error = %e, "listing {}s for their names failed", kind.noun())
            }
        }
    }
    names
}

/// Each item of a listing with an id and a display name: (id in lower case, name).
pub fn named(items: &[Value]) -> impl Iterator<Item = (String, String)> + '_ {
    items.iter().filter_map(|v| {
        let id = v["id"].as_str().filter(|id| !id.is_empty())?;
        Some((
            id.to_ascii_lowercase(),
            v["displayName"].as_str()?.to_string(),
        ))
    })
}
