//! The bounds one policy file is read under (size, nodes, aliases, depth), the MFA036
//! finding for a crossed bound, and the bounded reading of a file.

use crate::source::diagnostic::{Finding, Pos, codes};

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
pub(super) fn grouped(n: u64) -> String {
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
pub(super) fn too_large(at: Pos, what: String, help: &str) -> Finding {
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
pub(super) fn end_of(bytes: &[u8]) -> Pos {
    let line_start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = 1 + bytes.iter().filter(|&&b| b == b'\n').count();
    // Continuation bytes of UTF-8 are not characters of their own.
    let column = 1 + bytes[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    Pos::new(line, column)
}
