//! The `mfactl.yaml` document re-read with positions ([`Located`]), to place the errors found
//! after deserialisation (duplicate names, bad URLs, unknown keys) at their line and column.

use saphyr_parser::{Event, Parser, Span};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn of(span: &Span) -> Self {
        Self {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// A YAML node with its position (only what locating needs).
#[derive(Debug)]
pub(super) enum Located {
    /// A scalar (its text is not kept: it might be a secret).
    Scalar(Pos),
    /// A sequence.
    Seq(Pos, Vec<Located>),
    /// A mapping: (key text, key position, value).
    Map(Pos, Vec<(String, Pos, Located)>),
}

/// One step of a path into the document.
#[derive(Debug, Clone, Copy)]
pub(super) enum Seg<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A sequence index.
    Index(usize),
}

impl Located {
    /// Parses the first document; `None` when the text is not YAML (serde reports that).
    pub fn parse(text: &str) -> Option<Located> {
        let mut events = Parser::new_from_str(text);
        loop {
            let (event, span) = events.next()?.ok()?;
            match event {
                Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => continue,
                Event::StreamEnd | Event::DocumentEnd => return None,
                other => return Self::node(other, span, &mut events),
            }
        }
    }

    fn node<'i>(
        event: Event<'i>,
        span: Span,
        events: &mut Parser<'i, saphyr_parser::StrInput<'i>>,
    ) -> Option<Located> {
        let pos = Pos::of(&span);
        match event {
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let (e, s) = events.next()?.ok()?;
                    if matches!(e, Event::SequenceEnd) {
                        return Some(Located::Seq(pos, items));
                    }
                    items.push(Self::node(e, s, events)?);
                }
            }
            Event::MappingStart(..) => {
                let mut entries = Vec::new();
                loop {
                    let (k, ks) = events.next()?.ok()?;
                    let key = match k {
                        Event::MappingEnd => return Some(Located::Map(pos, entries)),
                        Event::Scalar(ref text, ..) => text.to_string(),
                        _ => String::new(),
                    };
                    // A complex key is consumed and ignored.
                    if !matches!(k, Event::Scalar(..)) {
                        Self::node(k, ks, events)?;
                    }
                    let (v, vs) = events.next()?.ok()?;
                    let value = Self::node(v, vs, events)?;
                    entries.push((key, Pos::of(&ks), value));
                }
            }
            _ => Some(Located::Scalar(pos)),
        }
    }

    /// The position of this node.
    pub fn pos(&self) -> Pos {
        match self {
            Located::Scalar(p) | Located::Seq(p, _) | Located::Map(p, _) => *p,
        }
    }

    /// The node at `path`.
    pub fn find(&self, path: &[Seg<'_>]) -> Option<&Located> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        let next = match (self, first) {
            (Located::Map(_, entries), Seg::Key(k)) => {
                entries.iter().find(|(key, ..)| key == k).map(|(.., v)| v)
            }
            (Located::Seq(_, items), Seg::Index(i)) => items.get(*i),
            _ => None,
        }?;
        next.find(rest)
    }

    /// The position of the key `key` in the mapping at `path`.
    pub fn key_pos(&self, path: &[Seg<'_>], key: &str) -> Option<Pos> {
        match self.find(path)? {
            Located::Map(_, entries) => entries
                .iter()
                .find(|(k, ..)| k == key)
                .map(|(_, pos, _)| *pos),
            _ => None,
        }
    }
}
