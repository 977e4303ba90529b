//! How an overlay's tree merges into the base's: mapping by mapping, a null removing a key.

use std::collections::HashMap;

use super::node::{Entry, Node, NodeKind};

impl Node {
    /// Merges an overlay into this node: mappings merge key by key (recursively), a null in
    /// the overlay removes the key, and anything else (a list, a scalar) replaces.
    pub(crate) fn overlay(&mut self, overlay: &Node) {
        match (&mut self.kind, &overlay.kind) {
            (NodeKind::Map(base), NodeKind::Map(top)) => {
                // Keys are unique on both sides (the parser drops a repeated key), so each
                // overlay entry touches at most one base entry: found through a map, so that
                // a large overlay over a large base costs their sizes, not their product.
                let at: HashMap<String, usize> = base
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.key.clone(), i))
                    .collect();
                let mut removed = vec![false; base.len()];
                for e in top {
                    match at.get(&e.key) {
                        Some(&i) if e.value.is_null() => removed[i] = true,
                        Some(&i) => base[i].value.overlay(&e.value),
                        None if e.value.is_null() => {}
                        None => base.push(e.clone()),
                    }
                }
                let mut i = 0;
                base.retain(|_| {
                    i += 1;
                    !removed.get(i - 1).copied().unwrap_or(false)
                });
            }
            _ => *self = overlay.clone(),
        }
    }

    /// This node without the mapping entries whose value is null (an overlay's removals),
    /// recursively.
    pub(crate) fn without_nulls(&self) -> Node {
        let kind = match &self.kind {
            NodeKind::Map(entries) => NodeKind::Map(
                entries
                    .iter()
                    .filter(|e| !e.value.is_null())
                    .map(|e| Entry {
                        key: e.key.clone(),
                        key_pos: e.key_pos,
                        value: e.value.without_nulls(),
                    })
                    .collect(),
            ),
            NodeKind::Seq(items) => NodeKind::Seq(items.iter().map(Node::without_nulls).collect()),
            scalar => scalar.clone(),
        };
        Node {
            kind,
            pos: self.pos,
        }
    }
}
