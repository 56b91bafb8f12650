//! Scratch folders for the library's own tests: each is removed when its guard drops,
//! also when the test fails, so repeated runs leave nothing behind in the temp folder.

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// A folder under the temp folder, named for the test and the process, empty at first
/// (whatever an earlier, killed run left there is removed) and removed on drop.
#[derive(Debug)]
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// The folder `logbridge-NAME-PID`, not created: the code under test often creates it.
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("logbridge-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_is_gone_after_the_guard_even_when_the_test_panics() {
        let kept = Scratch::new("scratch-kept");
        let path = kept.to_path_buf();
        std::fs::create_dir_all(path.join("deep")).unwrap();
        std::fs::write(path.join("deep/file"), "x").unwrap();
        drop(kept);
        assert!(!path.exists(), "{} is left behind", path.display());

        let panicked = std::panic::catch_unwind(|| {
            let dir = Scratch::new("scratch-panic");
            std::fs::create_dir_all(&*dir).unwrap();
            std::fs::write(dir.join("file"), "x").unwrap();
            let path = dir.to_path_buf();
            assert!(!path.exists(), "a failing test");
        });
        assert!(panicked.is_err());
        let path =
            std::env::temp_dir().join(format!("logbridge-scratch-panic-{}", std::process::id()));
        assert!(
            !path.exists(),
            "{} is left behind by a failed test",
            path.display()
        );
    }

    #[test]
    fn a_leftover_of_a_killed_run_is_cleared_first() {
        let path =
            std::env::temp_dir().join(format!("logbridge-scratch-left-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("old"), "x").unwrap();
        let dir = Scratch::new("scratch-left");
        assert!(!dir.exists());
    }
}
