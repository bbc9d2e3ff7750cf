//! A Secret volume laid out as the kubelet writes it: `id` and `secret` are symlinks into
//! `..data`, itself a symlink to a timestamped directory, swapped atomically on each update.

use std::{
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
};

pub struct SecretVolume {
    pub dir: tempfile::TempDir,
    version: usize,
}

impl SecretVolume {
    pub fn new(id: &str, secret: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut volume = Self { dir, version: 0 };
        volume.update(id, secret);
        symlink("..data/id", volume.path().join("id")).unwrap();
        symlink("..data/secret", volume.path().join("secret")).unwrap();
        volume
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a new timestamped directory and swaps `..data` to it in one rename, as the
    /// kubelet's atomic writer does; the previous version's directory is then removed.
    pub fn update(&mut self, id: &str, secret: &str) {
        self.version += 1;
        let name = format!("..2026_11_26_21_00_00.{:04}", self.version);
        let versioned = self.path().join(&name);
        fs::create_dir(&versioned).unwrap();
        fs::write(versioned.join("id"), format!("{id}\n")).unwrap();
        fs::write(versioned.join("secret"), format!("{secret}\n")).unwrap();
        let staged = self.path().join("..data_tmp");
        symlink(&name, &staged).unwrap();
        let previous = fs::read_link(self.path().join("..data")).ok();
        fs::rename(&staged, self.path().join("..data")).unwrap();
        if let Some(previous) = previous {
            // Gone already if a test moved it away.
            let _ = fs::remove_dir_all(self.path().join(previous));
        }
    }

    #[allow(dead_code)] // not every test binary reads it
    pub fn data_dir(&self) -> PathBuf {
        self.path().join(fs::read_link(self.path().join("..data")).unwrap())
    }
}
