//! YAML documents as trees that remember where every key and value is written.
//!
//! `serde_yaml` gives values without positions, so the loader builds its own small tree from
//! `saphyr-parser` events. Scalars are resolved with the YAML 1.2 core schema, which is what
//! users get from any current YAML tool: `yes`/`no`/`on`/`off` are strings, and a quoted
//! `"true"` is a string too. The original text and whether it was quoted are kept, so that a
//! diagnostic can say exactly why a value has the wrong type.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Tag};

use super::diagnostic::{Finding, Pos, codes};

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

/// One document of a YAML stream. An empty document has no root or a null scalar root.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Document {
    pub(crate) root: Option<Node>,
}

fn pos(m: &Marker) -> Pos {
    Pos::new(m.line(), m.col() + 1)
}

/// What one policy file may expand to. Past any of these the file is refused with MFA036 at
/// the alias, node or byte that crosses the bound, and nothing after it is read: the answer to
/// the "billion laughs" (a few hundred bytes of nested anchors that expand to billions of
/// nodes, CVE-2019-11253 in the Kubernetes API server). go-yaml v3 refuses a document whose
/// aliases make up too large a share of its decoded nodes, and the API server caps a request
/// body at 3 MiB; mfactl bounds the same four things absolutely, per file:
///
/// - `file_bytes`, 16 MiB: about three times the largest legitimate file we know of, 100,000
///   user targets written one per line (5.6 MB). Checked from the file's metadata before it is
///   read, and again while reading (a FIFO or a growing file reports no size).
/// - `nodes`, 2,000,000: every scalar (keys included) and collection the loader builds,
///   counting each copy an anchor or an alias makes. 100,000 targets of one key each take
///   300,000; two properties per target, 500,000. At about 100 bytes per node, the bound keeps
///   the tree of any one file near 200 MB at the very worst, and the work to build it as
///   short.
/// - `aliases`, 10,000 `*alias` uses: a hand-written policy uses a few dozen (a shared target
///   list); the node bound already caps what they expand to.
/// - `depth`, 64 nested collections (aliases expanded): Graph's deepest declared structure
///   (a certificate rule under `methods`) is 7 below `spec`; the loader's own walks over the
///   tree recurse, so depth must be bounded for the stack's sake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) file_bytes: u64,
    pub(crate) nodes: usize,
    pub(crate) aliases: usize,
    pub(crate) depth: usize,
}

/// The bounds every policy file is read under.
pub(crate) const LIMITS: Limits = Limits {
    file_bytes: 16 * 1024 * 1024,
    nodes: 2_000_000,
    aliases: 10_000,
    depth: 64,
};

/// A number with thousands separators, for messages.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The MFA036 finding for a crossed bound.
fn too_large(at: Pos, what: String, help: &str) -> Finding {
    Finding::new(codes::INPUT_BOUND, at, what).help(help)
}

/// Why a policy file could not be read: a bound, or the file system.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// The file is larger than [`Limits::file_bytes`] (MFA036 at the first byte past it).
    TooLarge(Finding),
    /// The file cannot be read or is not UTF-8.
    Io(std::io::Error),
}

/// Reads a policy file whole, but never more than `limits.file_bytes`: a file whose metadata
/// says it is larger is not read past the bound (only to find the line and column of the
/// first byte beyond it), and neither is one that reports no size (a FIFO, `/dev/zero`).
pub(crate) fn read_file(path: &std::path::Path, limits: &Limits) -> Result<String, ReadFailure> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(ReadFailure::Io)?;
    let declared = file.metadata().map_err(ReadFailure::Io)?.len();
    let mut bytes =
        Vec::with_capacity(usize::try_from(declared.min(limits.file_bytes)).unwrap_or(0));
    file.take(limits.file_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadFailure::Io)?;
    if declared > limits.file_bytes || bytes.len() as u64 > limits.file_bytes {
        bytes.truncate(usize::try_from(limits.file_bytes).unwrap_or(usize::MAX));
        let at = end_of(&bytes);
        let size = if declared > limits.file_bytes {
            format!("{} bytes", grouped(declared))
        } else {
            "larger than that".into()
        };
        return Err(ReadFailure::TooLarge(too_large(
            at,
            format!(
                "the file is {size}: mfactl reads at most {} bytes{} of one file",
                grouped(limits.file_bytes),
                mebibytes(limits.file_bytes)
            ),
            "split the declaration over several files, or name groups instead of listing every user",
        )));
    }
    String::from_utf8(bytes)
        .map_err(|e| ReadFailure::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

/// ` (16 MiB)` for a whole number of mebibytes.
fn mebibytes(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes.is_multiple_of(MIB) {
        format!(" ({} MiB)", bytes / MIB)
    } else {
        String::new()
    }
}

/// The position just after `bytes` (lines by `\n`, columns in characters).
fn end_of(bytes: &[u8]) -> Pos {
    let line_start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = 1 + bytes.iter().filter(|&&b| b == b'\n').count();
    // Continuation bytes of UTF-8 are not characters of their own.
    let column = 1 + bytes[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    Pos::new(line, column)
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

/// The first character YAML does not allow anywhere in a stream (outside YAML 1.2's
/// `c-printable`: C0 and C1 controls other than tab, line feed, carriage return and NEL,
/// DEL, U+FFFE and U+FFFF), at its own line and column. The parser would stop at a NUL as if
/// the stream ended there, and reads other controls into values.
fn forbidden_character(source: &str) -> Option<Finding> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    };
    let (offset, c) = source.char_indices().find(|&(_, c)| !allowed(c))?;
    let at = end_of(&source.as_bytes()[..offset]);
    let code = c as u32;
    let message = match c {
        '\0' => "a NUL byte (U+0000) is not allowed in YAML".to_string(),
        '\u{FFFE}' | '\u{FFFF}' => format!("the noncharacter U+{code:04X} is not allowed in YAML"),
        _ => format!("the control character U+{code:04X} is not allowed in YAML"),
    };
    Some(
        Finding::new(codes::YAML_SYNTAX, at, message).help(
            "remove it; a value that needs it writes it as an escape in a double-quoted string (\"\\x07\")",
        ),
    )
}

/// The finding for a parser error, at the fault rather than where the parser noticed it: the
/// tab that indents a line, or the bracket that is never closed.
fn syntax_error(source: &str, err: &saphyr_parser::ScanError, stack: &[Frame]) -> Finding {
    let noticed = pos(err.marker());
    let info = err.info();
    if info.contains("tab")
        && let Some(at) = indenting_tab(source, noticed.line)
    {
        return Finding::new(
            codes::YAML_SYNTAX,
            at,
            "a tab character cannot indent YAML; use spaces",
        )
        .help(format!(
            "replace the tab with spaces (the parser noticed it at line {}, column {}: {info})",
            noticed.line, noticed.column
        ));
    }
    if let Some((bracket, at)) = unclosed_bracket(source, stack) {
        let close = if bracket == '[' { ']' } else { '}' };
        return Finding::new(
            codes::YAML_SYNTAX,
            at,
            format!("`{bracket}` opened here is never closed"),
        )
        .help(format!(
            "close it with `{close}` (the parser stopped at line {}, column {}: {info})",
            noticed.line, noticed.column
        ));
    }
    Finding::new(
        codes::YAML_SYNTAX,
        noticed,
        format!("YAML syntax error: {info}"),
    )
}

/// The first tab in the indentation of line `from` or of one of the two lines after it (the
/// parser reports a tab that starts a line at the end of the line before).
fn indenting_tab(source: &str, from: usize) -> Option<Pos> {
    source
        .split('\n')
        .enumerate()
        .skip(from.saturating_sub(1))
        .take(3)
        .find_map(|(i, line)| {
            let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
            let column = line[..indent].find('\t')?;
            Some(Pos::new(i + 1, column + 1))
        })
}

/// The innermost flow collection (`[` or `{`) open when the parser stopped that no bracket
/// closes anywhere after it: its bracket and position.
fn unclosed_bracket(source: &str, stack: &[Frame]) -> Option<(char, Pos)> {
    let outermost = stack.iter().find_map(|frame| {
        let offset = byte_offset(source, frame.index)?;
        let c = source[offset..].chars().next()?;
        matches!(c, '[' | '{').then_some((offset, frame.pos))
    })?;
    let (offset, pos) = outermost;
    // (bracket, byte offset) of the brackets still open, from the outermost.
    let mut open: Vec<(char, usize)> = Vec::new();
    let bytes = source.as_bytes();
    let mut i = offset;
    let mut previous = b' ';
    while i < bytes.len() {
        let b = bytes[i];
        let at_line_start = i == 0 || bytes[i - 1] == b'\n';
        if at_line_start
            && (source[i..].starts_with("---") || source[i..].starts_with("..."))
            && bytes.get(i + 3).is_none_or(|c| c.is_ascii_whitespace())
        {
            break;
        }
        match b {
            b'[' | b'{' => open.push((b as char, i)),
            b']' | b'}' => {
                let want = if b == b']' { '[' } else { '{' };
                match open.last() {
                    Some(&(c, _)) if c == want => {
                        open.pop();
                        if open.is_empty() {
                            return None;
                        }
                    }
                    _ => break,
                }
            }
            b'#' if previous.is_ascii_whitespace() => {
                i = source[i..].find('\n').map_or(bytes.len(), |n| i + n);
                continue;
            }
            b'"' | b'\''
                if matches!(previous, b'[' | b'{' | b',' | b':')
                    || previous.is_ascii_whitespace() =>
            {
                i = end_of_quoted(bytes, i);
                previous = b;
                continue;
            }
            _ => {}
        }
        previous = b;
        i += 1;
    }
    let &(bracket, at) = open.last()?;
    let at = if at == offset {
        pos
    } else {
        end_of(&bytes[..at])
    };
    Some((bracket, at))
}

/// The byte just after the quoted scalar that starts at `start` (or the end of the source).
fn end_of_quoted(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The byte offset of the character at `index` (characters from the start).
fn byte_offset(source: &str, index: usize) -> Option<usize> {
    if source.is_ascii() {
        return (index < source.len()).then_some(index);
    }
    source.char_indices().nth(index).map(|(i, _)| i)
}

fn scalar(text: Cow<'_, str>, style: ScalarStyle, tag: Option<&Tag>) -> Scalar {
    let text = text.into_owned();
    let quoted = !matches!(style, ScalarStyle::Plain);
    let tagged = tag.filter(|t| t.is_yaml_core_schema() || t.handle == "!!");
    let value = match tagged.map(|t| t.suffix.as_str()) {
        Some("str") => Resolved::Str,
        Some(_) => resolve_plain(&text),
        None if quoted => Resolved::Str,
        None => resolve_plain(&text),
    };
    Scalar {
        text,
        quoted,
        value,
    }
}

/// The YAML 1.2 core schema's resolution of a plain scalar.
fn resolve_plain(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|c| c.is_ascii_digit()) {
        // An integer too large for i64 is still a number.
        return text
            .parse::<i64>()
            .map(Resolved::Int)
            .unwrap_or_else(|_| text.parse::<f64>().map_or(Resolved::Str, Resolved::Float));
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Resolved::Int(i);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Resolved::Int(i);
    }
    if is_core_float(unsigned)
        && let Ok(f) = text.parse::<f64>()
    {
        return Resolved::Float(f);
    }
    Resolved::Str
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Node {
        let (docs, findings) = parse(src);
        assert!(findings.is_empty(), "{findings:?}");
        docs.into_iter().next().and_then(|d| d.root).unwrap()
    }

    fn value(src: &str) -> Resolved {
        match one(&format!("k: {src}")).get("k").map(|e| &e.value.kind) {
            Some(NodeKind::Scalar(s)) => s.value.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn core_schema_resolution() {
        assert_eq!(value("true"), Resolved::Bool(true));
        assert_eq!(value("\"true\""), Resolved::Str);
        assert_eq!(value("yes"), Resolved::Str);
        assert_eq!(value("on"), Resolved::Str);
        assert_eq!(value("12"), Resolved::Int(12));
        assert_eq!(value("-3"), Resolved::Int(-3));
        assert_eq!(value("0x1f"), Resolved::Int(31));
        assert_eq!(value("1.5"), Resolved::Float(1.5));
        assert_eq!(value("'12'"), Resolved::Str);
        assert_eq!(value("!!str 12"), Resolved::Str);
        assert_eq!(value("~"), Resolved::Null);
        assert_eq!(value(""), Resolved::Null);
        assert_eq!(value("1.2.3"), Resolved::Str);
        assert_eq!(value("all_users"), Resolved::Str);
    }

    #[test]
    fn positions_are_one_based_and_point_at_keys_and_values() {
        let root = one("a: 1\nb:\n  c: \"x\"\n");
        let b = root.get("b").unwrap();
        assert_eq!(b.key_pos, Pos::new(2, 1));
        let c = b.value.get("c").unwrap();
        assert_eq!(c.key_pos, Pos::new(3, 3));
        assert_eq!(c.value.pos, Pos::new(3, 6));
    }

    #[test]
    fn duplicate_keys_are_reported_at_the_second() {
        let (_, findings) = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, codes::DUPLICATE_KEY);
        assert_eq!(findings[0].pos, Pos::new(3, 1));
    }

    #[test]
    fn several_documents_and_aliases() {
        let (docs, findings) = parse("a: &x {s: 1}\nb: *x\n---\n---\nc: 2\n");
        assert!(findings.is_empty());
        assert_eq!(docs.len(), 3);
        assert!(docs[1].root.as_ref().is_none_or(Node::is_null));
        let root = docs[0].root.as_ref().unwrap();
        assert_eq!(
            root.get("a").unwrap().value.kind,
            root.get("b").unwrap().value.kind
        );
    }

    #[test]
    fn syntax_error_keeps_earlier_documents() {
        let (docs, findings) = parse("a: 1\n---\nb: [1, 2\nc: 3\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, codes::YAML_SYNTAX);
        assert_eq!(findings[0].pos, Pos::new(3, 4), "at the unclosed bracket");
    }

    /// The one finding of `src`, as (code, line, column, message).
    fn fault(src: &str, limits: &Limits) -> (&'static str, usize, usize, String) {
        let (_, findings) = parse_with(src, limits);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let f = &findings[0];
        (f.code, f.pos.line, f.pos.column, f.message.clone())
    }

    const SMALL: Limits = Limits {
        file_bytes: 1024,
        nodes: 20,
        aliases: 3,
        depth: 4,
    };

    #[test]
    fn nodes_count_every_copy_an_alias_makes_and_stop_at_the_alias_that_crosses() {
        // `a` is 4 nodes (list + 3), its anchor's copy 4 more; each `*a` copies 4: the key
        // `b` and list bring 12, the first alias 16, the second 20, the third 24 > 20.
        let src = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n";
        let (code, line, column, message) = fault(src, &SMALL);
        assert_eq!((code, line, column), (codes::INPUT_BOUND, 2, 13));
        assert!(message.contains("more than 20 YAML nodes"), "{message}");
        let roomy = Limits { nodes: 24, ..SMALL };
        let (docs, findings) = parse_with(src, &roomy);
        assert!(findings.is_empty(), "{findings:?}");
        let root = docs[0].root.as_ref().unwrap();
        let NodeKind::Seq(items) = &root.get("b").unwrap().value.kind else {
            panic!("b is a list");
        };
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[2].pos,
            Pos::new(2, 13),
            "a copy is where its alias is"
        );
    }

    #[test]
    fn the_billion_laughs_stop_at_the_bound_not_at_the_end_of_memory() {
        let mut src = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (prev, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
            let refs = vec![format!("*{prev}"); 9].join(", ");
            src.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let (code, line, _, message) = fault(&src, &LIMITS);
        assert_eq!(code, codes::INPUT_BOUND);
        // 9^7 nodes under `g` are more than 2,000,000; everything up to `f` is fewer.
        assert_eq!(line, 7, "{message}");
        assert!(message.contains("2,000,000"), "{message}");
    }

    #[test]
    fn aliases_are_counted_even_when_they_expand_to_little() {
        let (code, line, column, message) = fault("a: &a 1\nb: [*a, *a, *a, *a]\n", &SMALL);
        assert_eq!((code, line, column), (codes::INPUT_BOUND, 2, 17));
        assert!(message.contains("more than 3 aliases"), "{message}");
    }

    #[test]
    fn depth_counts_collections_and_what_an_alias_brings() {
        let (code, line, column, message) = fault("a:\n  b:\n    c: [[1]]\n", &SMALL);
        assert_eq!((code, line, column), (codes::INPUT_BOUND, 3, 9));
        assert!(message.contains("more than 4 deep"), "{message}");
        assert!(parse_with("a:\n  b:\n    c: [1]\n", &SMALL).1.is_empty());
        // `x` is 2 deep; under three open mappings its alias would make 5.
        let (code, line, column, _) = fault("x: &x [[1]]\ny:\n  z:\n    w: *x\n", &SMALL);
        assert_eq!((code, line, column), (codes::INPUT_BOUND, 4, 8));
        assert!(
            parse_with("x: &x [[1]]\ny:\n  z: *x\n", &SMALL)
                .1
                .is_empty()
        );
    }

    #[test]
    fn a_file_over_the_size_bound_is_not_read_and_is_refused_at_the_first_byte_past_it() {
        let dir = std::env::temp_dir().join(format!("mfactl-yaml-size-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.yaml");
        let line = "k: v\n".repeat(204) + "x: 123456789\n";
        assert!(line.len() > 1024);
        std::fs::write(&path, &line).unwrap();
        let Err(ReadFailure::TooLarge(f)) = read_file(&path, &SMALL) else {
            panic!("over the bound");
        };
        // 204 lines of 5 bytes, then byte 1,025 is the 5th of `x: 123456789`.
        assert_eq!((f.code, f.pos), (codes::INPUT_BOUND, Pos::new(205, 5)));
        assert!(f.message.contains("1,033 bytes"), "{}", f.message);
        std::fs::write(&path, &line[..1024]).unwrap();
        assert_eq!(
            read_file(&path, &SMALL).ok().as_deref(),
            Some(&line[..1024])
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mappings_with_many_keys_find_duplicates_through_the_index() {
        let mut src: String = (0..100).map(|i| format!("k{i}: {i}\n")).collect();
        src.push_str("k3: again\nk99: again\n");
        let (docs, findings) = parse(&src);
        let at: Vec<_> = findings.iter().map(|f| (f.code, f.pos.line)).collect();
        assert_eq!(
            at,
            [(codes::DUPLICATE_KEY, 101), (codes::DUPLICATE_KEY, 102)]
        );
        assert_eq!(docs[0].root.as_ref().unwrap().entries().unwrap().len(), 100);
    }

    #[test]
    fn a_tab_that_indents_is_reported_where_it_is() {
        let src =
            "spec:\n  methods:\n    sms:\n      state: enabled\n\tvoice:\n      state: disabled\n";
        let (code, line, column, message) = fault(src, &LIMITS);
        assert_eq!((code, line, column), (codes::YAML_SYNTAX, 5, 1));
        assert_eq!(message, "a tab character cannot indent YAML; use spaces");
        let (_, line, column, _) = fault("a:\n  b: 1\n \tc: 2\n", &LIMITS);
        assert_eq!((line, column), (3, 2));
        assert!(
            parse("a: |\n  x\ty\nb: [1,\t2]\t# c\n").1.is_empty(),
            "tabs inside lines are fine"
        );
    }

    #[test]
    fn an_unclosed_bracket_is_reported_where_it_opens() {
        let src = "a:\n  b: [{x: 1}, {x: 2}\n  c: 3\nd: 4\n";
        let (code, line, column, message) = fault(src, &LIMITS);
        assert_eq!((code, line, column), (codes::YAML_SYNTAX, 2, 6));
        assert_eq!(message, "`[` opened here is never closed");
        let (_, line, column, message) = fault("a: [1, {x: 2, y: \"]\" ]\nb: 1\n", &LIMITS);
        assert_eq!((line, column), (1, 8), "{message}");
        assert_eq!(message, "`{` opened here is never closed");
        // A closed bracket keeps the parser's own message and position.
        let (_, line, _, message) = fault("a: [\n  1,\n  b: c: d,\n]\n", &LIMITS);
        assert_eq!(line, 3);
        assert!(message.starts_with("YAML syntax error:"), "{message}");
    }

    #[test]
    fn control_characters_are_refused_at_their_own_position() {
        let (code, line, column, message) = fault("a: 1\nb: \"x\0y\"\n", &LIMITS);
        assert_eq!((code, line, column), (codes::YAML_SYNTAX, 2, 6));
        assert_eq!(message, "a NUL byte (U+0000) is not allowed in YAML");
        let (_, line, column, message) = fault("name: é\u{7}\n", &LIMITS);
        assert_eq!((line, column), (1, 8));
        assert_eq!(
            message,
            "the control character U+0007 is not allowed in YAML"
        );
        let (_, _, _, message) = fault("a: \u{9b}\n", &LIMITS);
        assert!(message.contains("U+009B"), "{message}");
        assert!(parse("a: \"\\0 \\x07\"\r\nb: \u{85}é\n").1.is_empty());
    }
}
