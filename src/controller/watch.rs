//! Watching the policy files: every change becomes one message on a channel, and a burst of
//! changes (a `git pull`, a git-sync symlink swap) is folded into one by the loop's debounce.

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

/// Watches `paths` (recursively) and the folders that hold them (so that replacing a
/// symlinked checkout is seen too). Dropping the returned watcher stops watching.
pub fn watch(
    paths: &[PathBuf],
) -> Result<(RecommendedWatcher, mpsc::UnboundedReceiver<()>), WatchError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })
    .map_err(|source| WatchError {
        path: PathBuf::new(),
        source,
    })?;
    for path in paths {
        watcher
            .watch(path, RecursiveMode::Recursive)
            .map_err(|source| WatchError {
                path: path.clone(),
                source,
            })?;
        if let Some(parent) = path.parent().filter(|p| *p != Path::new("") && p.exists()) {
            watcher
                .watch(parent, RecursiveMode::NonRecursive)
                .map_err(|source| WatchError {
                    path: parent.to_path_buf(),
                    source,
                })?;
        }
    }
    Ok((watcher, rx))
}
