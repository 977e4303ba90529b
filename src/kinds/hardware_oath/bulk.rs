//! The bulk upload of the inventory (FACTS-CA item 43): a run of token creates that follow
//! each other in a plan is sent as one `PATCH` of [`DEVICES_PATH`] with a `#$delta` body, as
//! the concept doc and the API page's header say, at most [`BATCH`] tokens a request. The
//! plan is unchanged: each token stays its own create, and its own line in the audit log;
//! only apply groups them.

use serde_json::{Value, json};

use super::DEVICES_PATH;
use super::seed::SeedKeys;
use crate::kinds::ResourceChange;

/// Tokens a bulk request carries at most: the portal uploads "up to 50 tokens at a time"
/// (FACTS-CA item 46); Graph documents no limit.
pub const BATCH: usize = 50;

/// Whether `change` creates a token: a POST of the inventory.
pub fn creates(change: &ResourceChange) -> bool {
    change.method == "POST" && change.path == DEVICES_PATH
}

/// How many of the changes `changes` begins with are token creates to send in one bulk
/// request: at most [`BATCH`]; fewer than two are sent one by one.
pub fn run(changes: &[ResourceChange]) -> usize {
    changes
        .iter()
        .take(BATCH)
        .take_while(|c| creates(c))
        .count()
}

/// The body of the bulk request that creates `group`, each token's key filled in from `keys`
/// as it leaves, and numbered by `@contentId` from 1 in the plan's order.
pub fn body(group: &[ResourceChange], keys: &SeedKeys) -> Value {
    let value: Vec<Value> = group
        .iter()
        .zip(1..)
        .map(|(change, n)| {
            let mut item = keys.fill(&change.body);
            if let Some(m) = item.as_object_mut() {
                m.insert("@contentId".into(), json!(n.to_string()));
            }
            item
        })
        .collect();
    json!({"@context": "#$delta", "value": value})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretRef;
    use crate::kinds::collection::change;
    use crate::kinds::hardware_oath::seed::placeholder;

    fn create(serial: &str) -> ResourceChange {
        let body = json!({"serialNumber": serial, "secretKey": placeholder(serial)});
        change(
            "POST",
            format!("hardwareOathTokens/{serial}"),
            DEVICES_PATH.into(),
            Vec::new(),
            body,
        )
    }

    #[test]
    fn a_run_of_creates_is_cut_at_the_batch_size_and_at_the_first_other_change() {
        let many: Vec<ResourceChange> = (0..60).map(|n| create(&format!("{n}"))).collect();
        assert_eq!(run(&many), BATCH);
        assert_eq!(run(&many[50..]), 10);
        let mut mixed = vec![create("1"), create("2")];
        mixed.push(change(
            "PATCH",
            "hardwareOathTokens/3".into(),
            format!("{DEVICES_PATH}/id-3"),
            Vec::new(),
            json!({"model": "T2"}),
        ));
        mixed.push(create("4"));
        assert_eq!(run(&mixed), 2);
        assert_eq!(run(&mixed[2..]), 0);
        assert_eq!(run(&mixed[3..]), 1);
    }

    #[test]
    fn the_body_numbers_the_tokens_in_order_and_fills_each_key() {
        let group = [create("1001"), create("1002")];
        let seed = std::env::temp_dir().join(format!("mfactl-bulk-{}.csv", std::process::id()));
        std::fs::write(
            &seed,
            "upn,serial number,secret key\n,1001,JBSWY3DPEHPK3PXP\n,1002,GEZDGNBVGY3TQOJQ\n",
        )
        .unwrap();
        let keys = SeedKeys::for_changes(Some(&SecretRef::File(seed.clone())), &group);
        std::fs::remove_file(&seed).unwrap();
        let b = body(&group, &keys.unwrap());
        assert_eq!(b["@context"], json!("#$delta"));
        let items = b["value"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            (&items[0]["@contentId"], &items[0]["secretKey"]),
            (&json!("1"), &json!("JBSWY3DPEHPK3PXP"))
        );
        assert_eq!(
            (&items[1]["@contentId"], &items[1]["serialNumber"]),
            (&json!("2"), &json!("1002"))
        );
        assert_eq!(items[1]["secretKey"], json!("GEZDGNBVGY3TQOJQ"));
        // The plan's changes still hold only the placeholders.
        assert_eq!(group[1].body["secretKey"], json!(placeholder("1002")));
    }
}
