//! The tree of a YAML document: nodes, mapping entries and scalars with their positions,
//! and what the loader reads from a node (its entries, string, boolean, JSON).

use crate::source::diagnostic::Pos;

/// A node of a YAML document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) kind: NodeKind,
    /// Where the node starts (a flow collection at its bracket, a block mapping at its first key).
    pub(crate) pos: Pos,
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) key_pos: Pos,
    pub(crate) value: Node,
}

/// A scalar: its text as written, whether it was quoted, and its core-schema value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    pub(crate) text: String,
    pub(crate) quoted: bool,
    pub(crate) value: Resolved,
}

/// A scalar's value under the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str,
}

impl Node {
    /// The entries, if this is a mapping.
    pub(crate) fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The entry for `key`, if this is a mapping that has it.
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    /// The entry for `key`, mutably, if this is a mapping that has it.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Entry> {
        match &mut self.kind {
            NodeKind::Map(entries) => entries.iter_mut().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The string, if this is a scalar that resolved to a string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(Scalar {
                text,
                value: Resolved::Str,
                ..
            }) => Some(text),
            _ => None,
        }
    }

    /// Marks every position under this node as being in file number `file` (an overlay's).
    pub(crate) fn tag_file(&mut self, file: u32) {
        self.pos.file = file;
        match &mut self.kind {
            NodeKind::Scalar(_) => {}
            NodeKind::Seq(items) => items.iter_mut().for_each(|i| i.tag_file(file)),
            NodeKind::Map(entries) => {
                for e in entries {
                    e.key_pos.file = file;
                    e.value.tag_file(file);
                }
            }
        }
    }

    /// The boolean, if this is a scalar that resolved to one.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            NodeKind::Scalar(Scalar {
                value: Resolved::Bool(b),
                ..
            }) => Some(*b),
            _ => None,
        }
    }

    /// Whether this is a null scalar (`~`, `null` or nothing at all).
    pub(crate) fn is_null(&self) -> bool {
        matches!(
            &self.kind,
            NodeKind::Scalar(Scalar {
                value: Resolved::Null,
                ..
            })
        )
    }

    /// A short description of what the node is, for messages ("a string", "a list", ...).
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Map(_) => "a mapping".into(),
            NodeKind::Seq(_) => "a list".into(),
            NodeKind::Scalar(s) => match s.value {
                Resolved::Null => "null".into(),
                Resolved::Bool(_) => format!("the boolean `{}`", s.text),
                Resolved::Int(_) => format!("the integer `{}`", s.text),
                Resolved::Float(_) => format!("the number `{}`", s.text),
                Resolved::Str if s.quoted => format!("the string \"{}\"", s.text),
                Resolved::Str => format!("the string `{}`", s.text),
            },
        }
    }

    /// The node as plain JSON, without any checking (used for free-form values).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Scalar(s) => match s.value {
                Resolved::Null => Value::Null,
                Resolved::Bool(b) => Value::Bool(b),
                Resolved::Int(i) => Value::from(i),
                Resolved::Float(f) => serde_json::Number::from_f64(f)
                    .map_or_else(|| Value::String(s.text.clone()), Value::Number),
                Resolved::Str => Value::String(s.text.clone()),
            },
        }
    }
}
