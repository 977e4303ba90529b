//! Microsoft Teams Workflows webhooks: an Adaptive Card 1.4 in a `message` envelope.
//!
//! Teams rejects cards of version 1.5 and payloads of about 28 KB; the payload here stays
//! under [`MAX_BYTES`] by listing only the first changes that fit and saying how many were
//! left out. The card uses only 1.4 elements (TextBlock, FactSet, Action.OpenUrl) plus the
//! `msteams` host extension for full width.

use serde_json::{Value, json};

use super::render::{self, VALUE_CHARS};
use super::{Action, DriftAlert, Kind};

/// Largest payload sent, in bytes of serialized JSON.
pub const MAX_BYTES: usize = 24 * 1024;

/// The Adaptive Card version Teams accepts.
pub const CARD_VERSION: &str = "1.4";

/// The webhook payload: `{"type":"message","attachments":[{contentType, content: CARD}]}`,
/// at most [`MAX_BYTES`] when serialized.
pub fn payload(alert: &DriftAlert, kind: Kind) -> Value {
    let total = alert.changes.len();
    let size =
        |k: usize| serde_json::to_vec(&envelope(alert, kind, k)).map_or(usize::MAX, |b| b.len());
    let shown = render::largest_fitting(total, |k| size(k) <= MAX_BYTES);
    envelope(alert, kind, shown)
}

/// The payload's bytes, as sent.
pub(crate) fn body(alert: &DriftAlert, kind: Kind) -> Vec<u8> {
    serde_json::to_vec(&payload(alert, kind)).unwrap_or_default()
}

fn envelope(alert: &DriftAlert, kind: Kind, shown: usize) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": card(alert, kind, shown),
        }],
    })
}

fn colour(alert: &DriftAlert) -> &'static str {
    match alert.action {
        Action::Resolved | Action::Applied { verified: true } => "Good",
        Action::Applied { verified: false } | Action::Partial { .. } => "Warning",
        Action::Observed | Action::Failed { .. } | Action::Invalid => "Attention",
    }
}

fn text(text: String) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true})
}

/// The card, listing the first `shown` changes.
fn card(alert: &DriftAlert, kind: Kind, shown: usize) -> Value {
    let headline = render::headline(alert, kind);
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": headline,
        "size": "Medium",
        "weight": "Bolder",
        "color": colour(alert),
        "wrap": true,
    })];
    body.push(text(render::action_text(alert)));
    if let Some(r) = render::reminder_text(kind) {
        body.push(text(r));
    }
    if let Some(impact) = alert
        .impact
        .as_ref()
        .filter(|i| !render::impact_lines(i).is_empty())
    {
        body.push(json!({
            "type": "TextBlock",
            "text": render::IMPACT_TITLE,
            "weight": "Bolder",
            "wrap": true,
            "separator": true,
        }));
        let mut facts: Vec<Value> = Vec::new();
        for (count, title) in [
            (
                impact.newly_without_mfa,
                "newly left with no usable MFA method",
            ),
            (
                impact.lose_mfa_requirement,
                "members losing their MFA requirement",
            ),
            (
                impact.newly_blocked,
                "blocked or unable to satisfy a strength",
            ),
        ] {
            if count > 0 {
                facts.push(json!({
                    "title": title,
                    "value": format!("{} user(s)", crate::printer::thousands(count as u64)),
                }));
            }
        }
        facts.extend(impact.prompts.iter().map(|p| {
            json!({
                "title": format!("{} → {}", render::truncate(&p.from, 60), render::truncate(&p.to, 60)),
                "value": format!("{} user(s)", crate::printer::thousands(p.users as u64)),
            })
        }));
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    if !alert.changes.is_empty() {
        body.push(json!({
            "type": "TextBlock",
            "text": format!("{}; each line reads property: live → declared.", render::count_text(&alert.changes)),
            "wrap": true,
            "isSubtle": true,
        }));
    }
    let shown = shown.min(alert.changes.len());
    for (resource, changes) in render::by_resource(&alert.changes[..shown]) {
        body.push(json!({
            "type": "TextBlock",
            "text": render::truncate(resource, 200),
            "weight": "Bolder",
            "wrap": true,
            "separator": true,
        }));
        let facts: Vec<Value> = changes
            .iter()
            .map(|c| {
                json!({
                    "title": render::truncate(&c.property, 100),
                    "value": format!(
                        "{} → {}",
                        render::compact(&c.live, &alert.names, VALUE_CHARS),
                        render::compact(&c.declared, &alert.names, VALUE_CHARS)
                    ),
                })
            })
            .collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    let omitted = alert.changes.len() - shown;
    if omitted > 0 {
        body.push(json!({
            "type": "TextBlock",
            "text": render::omitted_text(omitted),
            "wrap": true,
            "weight": "Bolder",
            "separator": true,
        }));
    }
    let mut card = json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "fallbackText": headline,
        "body": body,
        "msteams": {"width": "Full"},
    });
    if let Some(link) = &alert.link {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open the run", "url": link}]);
    }
    card
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::DriftChange;

    fn alert(n: usize) -> DriftAlert {
        DriftAlert {
            tenant: "contoso".into(),
            action: Action::Observed,
            changes: (0..n)
                .map(|i| DriftChange {
                    resource: format!("authenticationMethodConfigurations/M{}", i / 4),
                    property: format!("property{i}"),
                    live: json!({"includeTargets": [{"id": "all_users", "targetType": "group"}], "n": i}),
                    declared: json!("x".repeat(500)),
                })
                .collect(),
            impact: None,
            declaration: None,
            link: Some("https://github.com/contoso/mfa/actions/runs/1".into()),
            names: Default::default(),
        }
    }

    #[test]
    fn the_card_is_version_1_4_in_a_message_envelope() {
        let p = payload(&alert(2), Kind::Alert);
        assert_eq!(p["type"], "message");
        let att = &p["attachments"][0];
        assert_eq!(
            att["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &att["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
        let facts = &card["body"][4]["facts"];
        assert_eq!(facts[0]["title"], "property0");
        let value = facts[0]["value"].as_str().unwrap_or_default();
        assert!(value.contains(" → "), "{value}");
        assert!(value.chars().count() <= 2 * VALUE_CHARS + 3, "{value}");
    }

    #[test]
    fn a_large_plan_is_cut_under_the_limit_and_says_how_much() {
        let p = payload(&alert(500), Kind::Alert);
        let bytes = serde_json::to_vec(&p).unwrap_or_default();
        assert!(bytes.len() <= MAX_BYTES, "{}", bytes.len());
        let text = p.to_string();
        assert!(text.contains("more changes not shown"), "{text}");
        let facts: usize = p["attachments"][0]["content"]["body"]
            .as_array()
            .map(|b| {
                b.iter()
                    .filter_map(|e| e["facts"].as_array())
                    .map(Vec::len)
                    .sum()
            })
            .unwrap_or(0);
        assert!(facts > 10 && facts < 500);
        assert!(text.contains(&format!("{} more changes", 500 - facts)));
    }
}
