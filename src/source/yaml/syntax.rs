//! Where a YAML syntax error is reported: a character YAML forbids, the tab that indents a
//! line, the bracket that is never closed, at the fault rather than where the parser
//! noticed it.

use super::bounds::end_of;
use super::{Frame, pos};
use crate::source::diagnostic::{Finding, Pos, codes};

/// The first character YAML does not allow anywhere in a stream (outside YAML 1.2's
/// `c-printable`: C0 and C1 controls other than tab, line feed, carriage return and NEL,
/// DEL, U+FFFE and U+FFFF), at its own line and column. The parser would stop at a NUL as if
/// the stream ended there, and reads other controls into values.
pub(super) fn forbidden_character(source: &str) -> Option<Finding> {
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
pub(super) fn syntax_error(
    source: &str,
    err: &saphyr_parser::ScanError,
    stack: &[Frame],
) -> Finding {
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
