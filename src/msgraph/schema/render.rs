//! Responses rewritten for the caller: evolvable enum members hidden behind
//! `unknownFutureValue` unless asked for, and the types that can hold one.

use std::collections::HashSet;

use serde_json::Value;

use super::{Schema, is_annotation};
use crate::msgraph::ApiVersion;

impl Schema {
    /// The fixed point of "has a property whose type is an evolvable enum, or a type (or a
    /// type derived from one) already in the set".
    pub(super) fn evolvable_types(&self) -> HashSet<String> {
        let names: Vec<String> = self
            .v1
            .types
            .keys()
            .chain(self.beta.types.keys())
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut set: HashSet<String> = HashSet::new();
        loop {
            let mut changed = false;
            for name in &names {
                if set.contains(name) {
                    continue;
                }
                let reaches = [ApiVersion::V1, ApiVersion::Beta].iter().any(|&v| {
                    self.all_properties(v, name).iter().any(|p| {
                        self.enum_def(v, &p.type_name)
                            .is_some_and(|e| !e.after_unknown.is_empty())
                            || set.iter().any(|t| self.derives_from(v, t, &p.type_name))
                    })
                });
                if reaches {
                    set.insert(name.clone());
                    changed = true;
                }
            }
            if !changed {
                return set;
            }
        }
    }

    /// Rewrites a response body of `type_name` for `version`: evolvable enum members are
    /// replaced by `unknownFutureValue` unless `include_unknown` (FACTS.md §11).
    pub fn render(
        &self,
        version: ApiVersion,
        type_name: &str,
        value: &mut Value,
        include_unknown: bool,
    ) {
        if include_unknown {
            return;
        }
        let Value::Object(map) = value else { return };
        let concrete = map
            .get("@odata.type")
            .and_then(Value::as_str)
            .map(|t| t.trim_start_matches("#microsoft.graph.").to_string())
            .unwrap_or_else(|| type_name.to_string());
        if !self.evolvable.contains(&concrete) {
            return;
        }
        for (key, v) in map.iter_mut() {
            if is_annotation(key) {
                continue;
            }
            let Some(prop) = self.property(version, &concrete, key) else {
                continue;
            };
            match v {
                Value::Array(items) => {
                    for item in items {
                        self.render_value(version, &prop.type_name, item);
                    }
                }
                other => self.render_value(version, &prop.type_name, other),
            }
        }
    }

    fn render_value(&self, version: ApiVersion, type_name: &str, value: &mut Value) {
        if let Some(e) = self.enum_def(version, type_name) {
            if let Value::String(s) = value
                && e.after_unknown.iter().any(|m| m == s)
            {
                *s = "unknownFutureValue".to_string();
            }
        } else if value.is_object() {
            self.render(version, type_name, value, false);
        }
    }
}
