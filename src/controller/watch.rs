//! Watching what can change the declaration: every relevant change becomes one message on a
//! channel, and a burst of them (a `git pull`, a git-sync symlink swap) is folded into one
//! by the loop's debounce.
//!
//! Only three kinds of change are relevant: a policy file under a policy root (as the
//! loader would read it, see [`Watched::is_relevant`]), the configuration file, and a policy
//! root itself being replaced (git-sync swaps a symlink). Everything else that happens in
//! the watched folders — the `--state-dir`, the audit log, a README, `.git/`, editors' swap
//! files — is ignored, each change logged at debug level as `ignored change to PATH`.

use std::path::{Path, PathBuf};

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

/// What to watch: the policy roots (files or folders) and the configuration file.
pub struct Watched {
    /// The policy files and folders, as configured.
    pub roots: Vec<PathBuf>,
    /// The configuration file, when there is one.
    pub config: Option<PathBuf>,
}

impl Watched {
    /// Whether a change to `path` can change the declaration: the loader's own rule
    /// ([`crate::policy::files::is_declaration_change`]), so that the watch and the loader
    /// never disagree on which files are policies.
    pub fn is_relevant(&self, path: &Path) -> bool {
        crate::policy::files::is_declaration_change(&self.roots, self.config.as_deref(), path)
    }
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
