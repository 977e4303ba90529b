//! Slack incoming webhooks: `text` (all that mobile notifications show) plus Block Kit
//! `blocks`, within Slack's limits: at most [`MAX_BLOCKS`] blocks and [`MAX_SECTION_CHARS`]
//! characters per section text. When the changes do not fit, the first ones are listed and
//! a context block says how many were left out.

use serde_json::{Value, json};

use super::render::{self, VALUE_CHARS};
use super::{DriftAlert, Kind};
use crate::plan::names::ObjectNames;

/// Most blocks in one message.
pub const MAX_BLOCKS: usize = 50;
/// Most characters in one section's text.
pub const MAX_SECTION_CHARS: usize = 3000;
/// Most characters in a header block.
pub const MAX_HEADER_CHARS: usize = 150;
/// Largest payload sent, in bytes of serialized JSON (Slack refuses very large messages).
pub const MAX_BYTES: usize = 40_000;

/// The webhook payload.
pub fn payload(alert: &DriftAlert, kind: Kind) -> Value {
    let total = alert.changes.len();
    let fits = |k: usize| {
        let p = build(alert, kind, k);
        let blocks = p["blocks"].as_array().map_or(usize::MAX, Vec::len);
        let bytes = serde_json::to_vec(&p).map_or(usize::MAX, |b| b.len());
        blocks <= MAX_BLOCKS && bytes <= MAX_BYTES
    };
    let shown = render::largest_fitting(total, fits);
    build(alert, kind, shown)
}

/// The payload's bytes, as sent.
pub(crate) fn body(alert: &DriftAlert, kind: Kind) -> Vec<u8> {
    serde_json::to_vec(&payload(alert, kind)).unwrap_or_default()
}

/// Escapes the three characters Slack's mrkdwn gives a meaning to.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A value inside a code span.
fn code(v: &Value, names: &ObjectNames) -> String {
    format!(
        "`{}`",
        escape(&render::compact(v, names, VALUE_CHARS).replace('`', "'"))
    )
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn context(text: String) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
}

/// The notification text: headline and size of the drift.
fn summary(alert: &DriftAlert, kind: Kind) -> String {
    let headline = render::headline(alert, kind);
    if alert.changes.is_empty() {
        escape(&headline)
    } else {
        escape(&format!(
            "{headline}: {}",
            render::count_text(&alert.changes)
        ))
    }
}

/// Sections listing `lines` under a bold title, each at most [`MAX_SECTION_CHARS`].
fn sections(title: &str, lines: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    let head = format!("*{}*", escape(&render::truncate(title, 200)));
    let mut current = head.clone();
    let mut has_lines = false;
    for line in lines {
        let line = render::truncate(line, MAX_SECTION_CHARS - head.chars().count() - 20);
        if has_lines && current.chars().count() + 1 + line.chars().count() > MAX_SECTION_CHARS {
            out.push(section(std::mem::replace(
                &mut current,
                format!("{head} (continued)"),
            )));
        }
        current.push('\n');
        current.push_str(&line);
        has_lines = true;
    }
    out.push(section(current));
    out
}

fn build(alert: &DriftAlert, kind: Kind, shown: usize) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": render::truncate(&render::headline(alert, kind), MAX_HEADER_CHARS),
            "emoji": true,
        },
    })];
    let mut intro = escape(&render::action_text(alert));
    if let Some(r) = render::reminder_text(kind) {
        intro.push('\n');
        intro.push_str(&escape(&r));
    }
    if !alert.changes.is_empty() {
        intro.push('\n');
        intro.push_str(&escape(&format!(
            "{}; each line reads property: live → declared.",
            render::count_text(&alert.changes)
        )));
    }
    blocks.push(section(render::truncate(&intro, MAX_SECTION_CHARS)));
    if let Some(impact) = &alert.impact {
        let lines: Vec<String> = render::impact_lines(impact)
            .iter()
            .map(|l| format!("• {}", escape(l)))
            .collect();
        if !lines.is_empty() {
            blocks.extend(sections(render::IMPACT_TITLE, &lines));
        }
    }
    let shown = shown.min(alert.changes.len());
    for (resource, changes) in render::by_resource(&alert.changes[..shown]) {
        let lines: Vec<String> = changes
            .iter()
            .map(|c| {
                format!(
                    "• {}: {} → {}",
                    escape(&render::truncate(&c.property, 100)),
                    code(&c.live, &alert.names),
                    code(&c.declared, &alert.names)
                )
            })
            .collect();
        blocks.extend(sections(resource, &lines));
    }
    let omitted = alert.changes.len() - shown;
    if omitted > 0 {
        blocks.push(context(escape(&render::omitted_text(omitted))));
    }
    if let Some(link) = &alert.link {
        let url: String = link
            .chars()
            .map(|c| match c {
                '<' => "%3C".to_string(),
                '>' => "%3E".to_string(),
                '|' => "%7C".to_string(),
                c => c.to_string(),
            })
            .collect();
        blocks.push(context(format!("<{url}|Open the run>")));
    }
    json!({"text": summary(alert, kind), "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{Action, DriftChange};

    fn alert(n: usize, width: usize) -> DriftAlert {
        DriftAlert {
            tenant: "contoso <prod>".into(),
            action: Action::Applied { verified: true },
            changes: (0..n)
                .map(|i| DriftChange {
                    resource: format!("authenticationMethodConfigurations/M{}", i / 30),
                    property: format!("property{i}"),
                    live: json!("a".repeat(width)),
                    declared: json!({"state": "enabled", "n": i, "pad": "b`&".repeat(width)}),
                })
                .collect(),
            impact: None,
            declaration: None,
            link: Some("https://github.com/contoso/mfa/actions/runs/1".into()),
            names: Default::default(),
        }
    }

    fn section_texts(p: &Value) -> Vec<String> {
        p["blocks"]
            .as_array()
            .map(|b| {
                b.iter()
                    .filter(|b| b["type"] == "section")
                    .filter_map(|b| b["text"]["text"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn text_and_blocks_escape_mrkdwn() {
        let p = payload(&alert(2, 5), Kind::Alert);
        let text = p["text"].as_str().unwrap_or_default();
        assert!(text.contains("contoso &lt;prod&gt;"), "{text}");
        assert!(text.contains("2 drifted properties"), "{text}");
        let sections = section_texts(&p);
        assert!(
            sections[1].contains("• property0: `aaaaa` → `{"),
            "{}",
            sections[1]
        );
        assert!(!sections[1].contains("b`&"), "backticks and & are escaped");
        assert_eq!(p["blocks"][0]["type"], "header");
        assert!(
            p.to_string()
                .contains("<https://github.com/contoso/mfa/actions/runs/1|Open the run>")
        );
    }

    #[test]
    fn a_large_plan_stays_within_block_kit_limits_and_says_how_much_is_left_out() {
        for (n, width) in [(400, 100), (2000, 5), (60, 2000)] {
            let p = payload(&alert(n, width), Kind::Alert);
            let blocks = p["blocks"].as_array().map_or(0, Vec::len);
            assert!(blocks <= MAX_BLOCKS, "{blocks}");
            for s in section_texts(&p) {
                assert!(
                    s.chars().count() <= MAX_SECTION_CHARS,
                    "{}",
                    s.chars().count()
                );
            }
            let shown: usize = section_texts(&p)
                .iter()
                .map(|s| s.matches("\n• ").count())
                .sum();
            let text = p.to_string();
            if shown < n {
                assert!(
                    text.contains(&format!("{} more change", n - shown)),
                    "{n}: {shown}"
                );
            }
            assert!(shown > 0);
        }
    }
}
