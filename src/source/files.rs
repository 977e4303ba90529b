//! Which files are policy files.
//!
//! A path given on the command line or in mfactl.yaml is read as it is when it is a file.
//! A directory is walked, following symbolic links, and only these are read:
//!
//! - files whose name ends in `.yaml` or `.yml` (any case);
//! - not hidden: no file or folder whose name starts with `.` (`.github/`, `.git/`, the
//!   default `--state-dir` `.mfactl/`, editors' swap files) is read or entered;
//! - not a configuration file: `mfactl.yaml` and `mfactl.yml` (the default configuration
//!   file's names), and the configuration file in use wherever it is, are never policies;
//! - each file once, however many links lead to it; a link back to a folder being walked (a
//!   symbolic-link loop) is reported once, as an error naming the link, and not followed.
//!
//! The controller's file watch uses [`is_declaration_change`] so that only what can change
//! the declaration starts a cycle.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, Finding, Pos, codes};

/// The names of the default configuration file, never read as policies in a directory walk.
pub const CONFIG_FILE_NAMES: &[&str] = &["mfactl.yaml", "mfactl.yml"];

/// Whether a file or folder name is hidden (starts with `.`).
pub fn is_hidden(name: &OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// Whether a file name has a policy file's extension (`.yaml`, `.yml`, any case).
pub fn has_policy_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// Whether a file name is one of the default configuration file's.
fn is_config_name(name: &OsStr) -> bool {
    CONFIG_FILE_NAMES.iter().any(|n| name == OsStr::new(n))
}

/// Whether a change at `changed` can change the declaration read from `roots` (the policy
/// files and directories as configured): a file the loader would read under one of them, a
/// root itself (a git-sync symlink swap replaces it whole), or the configuration file.
/// Relative paths are taken against the current directory, as the watcher takes them.
pub fn is_declaration_change(
    roots: &[PathBuf],
    config_file: Option<&Path>,
    changed: &Path,
) -> bool {
    // The watcher reports absolute paths; the roots may be written relative (`--policies .`).
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let changed = absolute(changed);
    let changed = changed.as_path();
    if config_file.is_some_and(|c| absolute(c) == changed) {
        return true;
    }
    roots.iter().any(|root| {
        let root = absolute(root);
        if changed == root.as_path() {
            return true;
        }
        let Ok(rest) = changed.strip_prefix(&root) else {
            return false;
        };
        let names: Vec<&OsStr> = rest.iter().collect();
        let Some((file, folders)) = names.split_last() else {
            return false;
        };
        // A folder created, removed or renamed under the root can add or remove files.
        let hidden = names.iter().any(|n| is_hidden(n));
        let folder_change = changed.is_dir() && !hidden;
        folder_change
            || (!hidden
                && !folders.iter().any(|n| is_hidden(n))
                && !is_config_name(file)
                && has_policy_extension(changed))
    })
}

/// The policy files under `paths`, in order (each directory's files sorted by path), each
/// once, never one of `excluded`; every problem found is pushed to `diagnostics`.
pub(crate) fn collect(
    paths: &[PathBuf],
    excluded: &[PathBuf],
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<PathBuf> {
    let excluded: HashSet<PathBuf> = excluded
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let mut seen = HashSet::new();
    let mut files = Vec::new();
    for path in paths {
        let metadata = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(err) => {
                diagnostics.push(io_error(
                    path,
                    format!("cannot read {}: {err}", path.display()),
                ));
                continue;
            }
        };
        let mut found = Vec::new();
        if metadata.is_dir() {
            let root = (metadata.dev(), metadata.ino());
            let mut walk = Walk {
                ancestors: vec![root],
                visited: HashSet::from([root]),
                found: &mut found,
                diagnostics,
            };
            walk.dir(path);
            if found.is_empty() {
                diagnostics.push(
                    Finding::new(
                        codes::IO,
                        Pos::START,
                        format!(
                            "{} holds no *.yaml or *.yml policy file (hidden files and folders and mfactl.yaml are not read)",
                            path.display()
                        ),
                    )
                    .help("point mfactl at the directory holding the policy files, or at a file")
                    .in_file(path),
                );
            }
            found.sort();
        } else {
            found.push(path.clone());
        }
        for file in found {
            let canonical = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            if !excluded.contains(&canonical) && seen.insert(canonical) {
                files.push(file);
            }
        }
    }
    files
}

/// One directory walk: the folders being walked and those walked (by device and inode), the
/// files found.
struct Walk<'a> {
    ancestors: Vec<(u64, u64)>,
    visited: HashSet<(u64, u64)>,
    found: &'a mut Vec<PathBuf>,
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(err) => {
                self.diagnostics.push(io_error(
                    dir,
                    format!("cannot read {}: {err}", dir.display()),
                ));
                return;
            }
        };
        let mut entries: Vec<_> = entries
            .filter_map(|entry| match entry {
                Ok(entry) => Some(entry),
                Err(err) => {
                    self.diagnostics.push(io_error(
                        dir,
                        format!("cannot read {}: {err}", dir.display()),
                    ));
                    None
                }
            })
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            if is_hidden(&name) {
                continue;
            }
            let path = entry.path();
            // Follows links: a link to a folder is walked, a link to a file read.
            let Ok(metadata) = std::fs::metadata(&path) else {
                if has_policy_extension(&path) {
                    self.diagnostics.push(io_error(
                        &path,
                        format!(
                            "cannot read {}: a broken link or unreadable file",
                            path.display()
                        ),
                    ));
                }
                continue;
            };
            if metadata.is_dir() {
                let id = (metadata.dev(), metadata.ino());
                if self.ancestors.contains(&id) {
                    let target = std::fs::read_link(&path).map_or_else(
                        |_| "a folder being read".into(),
                        |t| t.display().to_string(),
                    );
                    self.diagnostics.push(
                        Finding::new(
                            codes::IO,
                            Pos::START,
                            format!(
                                "{} is a symbolic-link loop (it leads back to {target}); not followed",
                                path.display()
                            ),
                        )
                        .help("remove the link, or point it outside the policy folder")
                        .in_file(&path),
                    );
                    continue;
                }
                // Another link to a folder already walked leads to the same files.
                if !self.visited.insert(id) {
                    continue;
                }
                self.ancestors.push(id);
                self.dir(&path);
                self.ancestors.pop();
            } else if has_policy_extension(&path) && !is_config_name(&name) {
                self.found.push(path);
            }
        }
    }
}

/// An MFA000 diagnostic about `path`.
pub(crate) fn io_error(path: &Path, message: String) -> Diagnostic {
    Finding::new(codes::IO, Pos::START, message).in_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn relative(root: &Path, files: &[PathBuf]) -> Vec<String> {
        files
            .iter()
            .map(|f| f.strip_prefix(root).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn hidden_config_and_other_files_are_not_policies() {
        let dir = std::env::temp_dir().join(format!("mfactl-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for f in [
            "b.yaml",
            "a/c.YML",
            ".github/workflows/ci.yml",
            ".hidden.yaml",
            "a/.mfactl/state.yaml",
            "mfactl.yaml",
            "sub/mfactl.yml",
            "README.md",
            "notes.txt",
            "other-config.yaml",
        ] {
            write(&dir.join(f), "x: 1\n");
        }
        let mut diagnostics = Vec::new();
        let files = collect(
            std::slice::from_ref(&dir),
            &[dir.join("other-config.yaml")],
            &mut diagnostics,
        );
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(relative(&dir, &files), ["a/c.YML", "b.yaml"]);
        // A file named explicitly is read whatever its name.
        let explicit = collect(&[dir.join(".hidden.yaml")], &[], &mut diagnostics);
        assert_eq!(explicit, [dir.join(".hidden.yaml")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_loop_is_reported_once_and_files_are_read_once() {
        let dir = std::env::temp_dir().join(format!("mfactl-loop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&dir.join("k2/p.yaml"), "x: 1\n");
        std::os::unix::fs::symlink(dir.join("k2"), dir.join("k2/sub")).unwrap();
        // A second link to the same folder is no loop: its files are the same files.
        std::os::unix::fs::symlink(dir.join("k2"), dir.join("again")).unwrap();
        let mut diagnostics = Vec::new();
        let files = collect(std::slice::from_ref(&dir), &[], &mut diagnostics);
        assert_eq!(relative(&dir, &files), ["again/p.yaml"]);
        let loops: Vec<_> = diagnostics
            .iter()
            .filter(|d| d.message.contains("symbolic-link loop"))
            .collect();
        assert_eq!(loops.len(), 1, "{diagnostics:?}");
        assert_eq!(loops[0].code, codes::IO);
        assert_eq!(loops[0].location.file, dir.join("again/sub"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_loop_through_two_links_is_reported_once() {
        let dir = std::env::temp_dir().join(format!("mfactl-loop2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&dir.join("a/p.yaml"), "x: 1\n");
        write(&dir.join("b/q.yaml"), "x: 1\n");
        std::os::unix::fs::symlink(dir.join("b"), dir.join("a/to-b")).unwrap();
        std::os::unix::fs::symlink(dir.join("a"), dir.join("b/to-a")).unwrap();
        let mut diagnostics = Vec::new();
        let files = collect(std::slice::from_ref(&dir), &[], &mut diagnostics);
        assert_eq!(relative(&dir, &files), ["a/p.yaml", "a/to-b/q.yaml"]);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert_eq!(diagnostics[0].location.file, dir.join("a/to-b/to-a"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_declaration_files_are_changes() {
        let roots = [PathBuf::from("/repo/policies")];
        let config = Path::new("/repo/mfactl.yaml");
        let yes = |p: &str| is_declaration_change(&roots, Some(config), Path::new(p));
        assert!(yes("/repo/policies/a.yaml"));
        assert!(yes("/repo/policies/sub/b.yml"));
        assert!(yes("/repo/policies"));
        assert!(yes("/repo/mfactl.yaml"));
        assert!(!yes("/repo/policies/.x.yaml.swp"));
        assert!(!yes("/repo/policies/.hidden/a.yaml"));
        assert!(!yes("/repo/policies/README.md"));
        assert!(!yes("/repo/policies/mfactl.yaml"));
        assert!(!yes("/repo/README.md"));
        assert!(!yes("/repo/.mfactl/alerts.json"));
        // `--policies .`: a relative root, changes reported absolute.
        let cwd = std::env::current_dir().unwrap();
        let here = [PathBuf::from(".")];
        assert!(is_declaration_change(&here, None, &cwd.join("./p/a.yaml")));
        assert!(!is_declaration_change(
            &here,
            None,
            &cwd.join(".github/w.yml")
        ));
    }
}
