//! Watching what can change the declaration: every relevant change becomes one message on a
//! channel, and a burst of them (a `git pull`, a git-sync symlink swap) is folded into one
//! by the loop's debounce.
//!
//! Only three kinds of change are relevant: a policy file under a policy root (as the
//! loader would read it, see [`Watched::is_policy`]), the configuration file, and a policy
//! root itself being replaced (git-sync swaps a symlink). Everything else that happens in
//! the watched folders — the `--state-dir`, the audit log, a README, `.git/`, editors' swap
//! files — is ignored, each change logged at debug level as `ignored change to PATH`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Why the files cannot be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path}: {source}")]
pub struct WatchError {
    /// The path.
    pub path: PathBuf,
    /// The watcher's reason.
    pub source: notify::Error,
}

/// Whether a path, relative to a policy root, names a file the policy loader reads.
pub type PolicyPredicate = Arc<dyn Fn(&Path) -> bool + Send + Sync>;

/// What to watch: the policy roots (files or folders), the configuration file, and the rule
/// that says which files under a root are policies.
pub struct Watched {
    /// The policy files and folders.
    pub roots: Vec<PathBuf>,
    /// The configuration file, when there is one.
    pub config: Option<PathBuf>,
    /// Whether a path relative to a root is a policy file.
    pub is_policy: PolicyPredicate,
}

impl Watched {
    /// The loader's rule: `*.yaml`/`*.yml`, no hidden file or folder on the way.
    pub fn loader_rule() -> PolicyPredicate {
        Arc::new(|relative: &Path| {
            let visible = relative.components().all(|c| match c {
                std::path::Component::Normal(name) => {
                    !name.to_str().is_some_and(|n| n.starts_with('.'))
                }
                _ => true,
            });
            visible
                && relative
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| {
                        e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml")
                    })
        })
    }

    /// Whether a change to `path` can change the declaration.
    pub fn is_relevant(&self, path: &Path) -> bool {
        if self.config.as_deref().is_some_and(|c| same(c, path)) {
            return true;
        }
        self.roots.iter().any(|root| {
            if same(root, path) {
                // The root itself: replaced, created or removed (a git-sync swap).
                return true;
            }
            match relative_to(root, path) {
                Some(r) if r.as_os_str().is_empty() => true,
                // A folder created or moved in holds policies if a file in it would be one.
                Some(r) => {
                    (self.is_policy)(&r) || (path.is_dir() && (self.is_policy)(&r.join("x.yaml")))
                }
                None => false,
            }
        })
    }
}

/// `path` relative to `root`, as written or once `root` is made canonical (a symlinked
/// checkout is watched, and reported, through its target).
fn relative_to(root: &Path, path: &Path) -> Option<PathBuf> {
    if let Ok(r) = path.strip_prefix(root) {
        return Some(r.to_path_buf());
    }
    let canonical = std::fs::canonicalize(root).ok()?;
    path.strip_prefix(canonical).ok().map(Path::to_path_buf)
}

/// Whether two paths name the same file: equal as written, or once made canonical (the
/// path itself may be gone, so its folder is made canonical).
fn same(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    let canonical = |p: &Path| -> Option<PathBuf> {
        let parent = p
            .parent()
            .filter(|p| *p != Path::new(""))
            .unwrap_or(Path::new("."));
        Some(std::fs::canonicalize(parent).ok()?.join(p.file_name()?))
    };
    canonical(a).is_some_and(|ca| canonical(b).is_some_and(|cb| ca == cb))
}

/// Watches the policy roots (recursively), the folders that hold them (so that replacing a
/// symlinked checkout is seen too) and the configuration file's folder, and sends one
/// message for each relevant change. Dropping the returned watcher stops watching.
pub fn watch(
    watched: Watched,
) -> Result<(RecommendedWatcher, mpsc::UnboundedReceiver<()>), WatchError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let roots = watched.roots.clone();
    let config = watched.config.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        let mut relevant = false;
        for path in &event.paths {
            if watched.is_relevant(path) {
                relevant = true;
            } else {
                tracing::debug!(path = %path.display(), "ignored change to {}", path.display());
            }
        }
        if relevant {
            let _ = tx.send(());
        }
    })
    .map_err(|source| WatchError {
        path: PathBuf::new(),
        source,
    })?;
    let mut folders: Vec<PathBuf> = Vec::new();
    for path in &roots {
        watcher
            .watch(path, RecursiveMode::Recursive)
            .map_err(|source| WatchError {
                path: path.clone(),
                source,
            })?;
        folders.extend(path.parent().map(Path::to_path_buf));
    }
    folders.extend(
        config
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf),
    );
    folders.retain(|f| *f != Path::new("") && f.exists());
    folders.sort();
    folders.dedup();
    for folder in folders {
        watcher
            .watch(&folder, RecursiveMode::NonRecursive)
            .map_err(|source| WatchError {
                path: folder.clone(),
                source,
            })?;
    }
    Ok((watcher, rx))
}
