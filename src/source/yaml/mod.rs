//! YAML documents as trees that remember where every key and value is written.
//!
//! `serde_yaml` gives values without positions, so the loader builds its own small tree from
//! `saphyr-parser` events. Scalars are resolved with the YAML 1.2 core schema, which is what
//! users get from any current YAML tool: `yes`/`no`/`on`/`off` are strings, and a quoted
//! `"true"` is a string too. The original text and whether it was quoted are kept, so that a
//! diagnostic can say exactly why a value has the wrong type.
//!
//! The tree's types are in [`node`] (an overlay's merge in [`merge`]), the bounds a file is
//! read under in [`bounds`], the core schema's resolution of scalars in [`resolve`], and
//! where a syntax error is reported in [`syntax`]. The builder of the tree is here.

mod bounds;
mod merge;
mod node;
mod resolve;
mod syntax;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser};

use super::diagnostic::{Finding, Pos, codes};
use bounds::{grouped, too_large};
use resolve::scalar;
use syntax::{forbidden_character, syntax_error};

pub(crate) use bounds::{LIMITS, Limits, ReadFailure, read_file};
pub(crate) use node::{Entry, Node, NodeKind, Resolved};

/// One document of a YAML stream. An empty document has no root or a null scalar root.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Document {
    pub(crate) root: Option<Node>,
}

fn pos(m: &Marker) -> Pos {
    Pos::new(m.line(), m.col() + 1)
}

/// An open collection while its events are read.
struct Frame {
    body: Body,
    pos: Pos,
    /// Where the collection starts, in characters from the start of the source.
    index: usize,
    anchor: usize,
    /// Nodes under and including this one built so far.
    nodes: usize,
    /// Nesting below this node so far (0 for a collection with no collection in it).
    height: usize,
}

enum Body {
    Seq(Vec<Node>),
    Map {
        entries: Vec<Entry>,
        /// The key read and waiting for its value; `Some(None)` for a key that is not a scalar.
        key: Option<Option<(String, Pos)>>,
        /// Where each key is in `entries`, once there are enough of them for a linear search
        /// to cost more than the map.
        index: Option<HashMap<String, usize>>,
    },
}

/// How many entries a mapping has before duplicate keys are looked up in a hash map.
const INDEXED_ENTRIES: usize = 16;

/// A completed node with what the bounds need to know about it.
#[derive(Clone)]
struct Built {
    node: Node,
    nodes: usize,
    height: usize,
}

/// Builds documents from events; duplicate and non-scalar keys become findings.
struct Builder<'l> {
    limits: &'l Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Built>,
    documents: Vec<Document>,
    current: Option<Document>,
    findings: Vec<Finding>,
    /// Nodes built in this file so far, copies made by anchors and aliases included.
    nodes: usize,
    /// `*alias` uses in this file so far.
    aliases: usize,
}

impl<'l> Builder<'l> {
    fn new(limits: &'l Limits) -> Self {
        Builder {
            limits,
            stack: Vec::new(),
            anchors: HashMap::new(),
            documents: Vec::new(),
            current: None,
            findings: Vec::new(),
            nodes: 0,
            aliases: 0,
        }
    }

    /// Counts `n` more nodes built at `at`; a finding once the file holds too many.
    fn count(&mut self, n: usize, at: Pos) -> Result<(), Finding> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.nodes {
            return Err(too_large(
                at,
                format!(
                    "the file expands to more than {} YAML nodes here (aliases included), the bound for one policy file",
                    grouped(self.limits.nodes as u64)
                ),
                "write the values out instead of repeating them through anchors and aliases, or split the file",
            ));
        }
        Ok(())
    }

    /// Checks that `levels` more nested collections may open under the open ones.
    fn check_depth(&self, levels: usize, at: Pos) -> Result<(), Finding> {
        let depth = self.stack.len() + levels;
        if depth > self.limits.depth {
            return Err(too_large(
                at,
                format!(
                    "collections nest more than {} deep here, the bound for a policy file",
                    self.limits.depth
                ),
                "no policy needs this depth: flatten the structure",
            ));
        }
        Ok(())
    }

    fn open(&mut self, body: Body, at: Pos, index: usize, anchor: usize) -> Result<(), Finding> {
        self.check_depth(1, at)?;
        self.count(1, at)?;
        self.stack.push(Frame {
            body,
            pos: at,
            index,
            anchor,
            nodes: 1,
            height: 0,
        });
        Ok(())
    }

    fn alias(&mut self, id: usize, at: Pos) -> Result<(), Finding> {
        self.aliases += 1;
        if self.aliases > self.limits.aliases {
            return Err(too_large(
                at,
                format!(
                    "the file uses more than {} aliases, the bound for one policy file",
                    grouped(self.limits.aliases as u64)
                ),
                "write the values out instead of repeating them through anchors and aliases",
            ));
        }
        // The parser refuses an alias to an unknown anchor, so the lookup succeeds.
        let Some((nodes, levels)) = self.anchors.get(&id).map(|a| {
            let collection = !matches!(a.node.kind, NodeKind::Scalar(_));
            (a.nodes, if collection { a.height + 1 } else { 0 })
        }) else {
            return Ok(());
        };
        self.check_depth(levels, at)?;
        // Counted before the copy is made: the copy is the work the bound prevents.
        self.count(nodes, at)?;
        let Some(mut built) = self.anchors.get(&id).cloned() else {
            return Ok(());
        };
        built.node.pos = at;
        self.complete(built, 0)
    }

    fn complete(&mut self, built: Built, anchor: usize) -> Result<(), Finding> {
        if anchor != 0 {
            // The anchor keeps a copy of its own, which counts.
            self.count(built.nodes, built.node.pos)?;
            self.anchors.insert(anchor, built.clone());
        }
        let Built {
            node,
            nodes,
            height,
        } = built;
        let Some(frame) = self.stack.last_mut() else {
            if let Some(doc) = self.current.as_mut() {
                doc.root = Some(node);
            }
            return Ok(());
        };
        frame.nodes += nodes;
        if !matches!(node.kind, NodeKind::Scalar(_)) {
            frame.height = frame.height.max(height + 1);
        }
        match &mut frame.body {
            Body::Seq(items) => items.push(node),
            Body::Map {
                entries,
                key,
                index,
            } => match key.take() {
                None => match &node.kind {
                    NodeKind::Scalar(s) => *key = Some(Some((s.text.clone(), node.pos))),
                    _ => {
                        self.findings.push(
                            Finding::new(
                                codes::DUPLICATE_KEY,
                                node.pos,
                                format!("a key must be a string, not {}", node.describe()),
                            )
                            .help("write the key as a plain string"),
                        );
                        *key = Some(None);
                    }
                },
                Some(None) => {}
                Some(Some((k, key_pos))) => {
                    let first = match index {
                        Some(index) => index.get(&k).copied(),
                        None => entries.iter().position(|e| e.key == k),
                    };
                    if let Some(first) = first.and_then(|i| entries.get(i)) {
                        let first_line = first.key_pos.line;
                        let first_column = first.key_pos.column;
                        self.findings.push(
                            Finding::new(
                                codes::DUPLICATE_KEY,
                                key_pos,
                                format!(
                                    "duplicate key `{k}`; it is first written at line {first_line}, column {first_column}"
                                ),
                            )
                            .help("remove one of them: YAML keeps only one value per key"),
                        );
                    } else {
                        if let Some(index) = index {
                            index.insert(k.clone(), entries.len());
                        } else if entries.len() + 1 >= INDEXED_ENTRIES {
                            let mut map: HashMap<String, usize> = entries
                                .iter()
                                .enumerate()
                                .map(|(i, e)| (e.key.clone(), i))
                                .collect();
                            map.insert(k.clone(), entries.len());
                            *index = Some(map);
                        }
                        entries.push(Entry {
                            key: k,
                            key_pos,
                            value: node,
                        });
                    }
                }
            },
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), Finding> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        // A vector grows to four items at its first push: most mappings hold one or two
        // entries, and the tree of a large file would be half spare capacity.
        let kind = match frame.body {
            Body::Seq(mut items) => {
                items.shrink_to_fit();
                NodeKind::Seq(items)
            }
            Body::Map { mut entries, .. } => {
                entries.shrink_to_fit();
                NodeKind::Map(entries)
            }
        };
        let built = Built {
            node: Node {
                kind,
                pos: frame.pos,
            },
            nodes: frame.nodes,
            height: frame.height,
        };
        self.complete(built, frame.anchor)
    }

    fn event(&mut self, event: Event<'_>, span: &saphyr_parser::Span) -> Result<(), Finding> {
        let at = pos(&span.start);
        match event {
            Event::DocumentStart(_) => {
                self.anchors.clear();
                self.current = Some(Document { root: None });
            }
            Event::DocumentEnd => {
                if let Some(doc) = self.current.take() {
                    self.documents.push(doc);
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, at)?;
                let node = Node {
                    kind: NodeKind::Scalar(scalar(text, style, tag.as_deref())),
                    pos: at,
                };
                self.complete(
                    Built {
                        node,
                        nodes: 1,
                        height: 0,
                    },
                    anchor,
                )?;
            }
            Event::Alias(id) => self.alias(id, at)?,
            Event::SequenceStart(anchor, _) => {
                self.open(Body::Seq(Vec::new()), at, span.start.index(), anchor)?;
            }
            Event::MappingStart(anchor, _) => self.open(
                Body::Map {
                    entries: Vec::new(),
                    key: None,
                    index: None,
                },
                at,
                span.start.index(),
                anchor,
            )?,
            Event::SequenceEnd | Event::MappingEnd => self.close()?,
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(())
    }
}

/// Parses a YAML stream into documents under [`LIMITS`]. A syntax error or a crossed bound
/// ends the stream: documents completed before it are returned, together with the finding.
pub(crate) fn parse(source: &str) -> (Vec<Document>, Vec<Finding>) {
    parse_with(source, &LIMITS)
}

/// [`parse`] under the given bounds.
pub(crate) fn parse_with(source: &str, limits: &Limits) -> (Vec<Document>, Vec<Finding>) {
    let mut b = Builder::new(limits);
    if let Some(finding) = forbidden_character(source) {
        b.findings.push(finding);
        return (b.documents, b.findings);
    }
    for event in Parser::new_from_str(source) {
        let stop = match event {
            Ok((event, span)) => b.event(event, &span).err(),
            Err(err) => Some(syntax_error(source, &err, &b.stack)),
        };
        if let Some(finding) = stop {
            b.findings.push(finding);
            return (b.documents, b.findings);
        }
    }
    (b.documents, b.findings)
}
