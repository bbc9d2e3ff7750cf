//! A Secret volume laid out as the kubelet writes it: each key (`id` and `secret`, or one per
//! customer) is a symlink into `..data`, itself a symlink to a timestamped directory, swapped
//! atomically on each update.

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
    #[allow(dead_code)] // not every test binary reads it
    pub fn new(id: &str, secret: &str) -> Self {
        Self::with_keys(&[("id", id), ("secret", secret)])
    }

    /// A volume of a Secret with these keys and values (each written with a trailing newline).
    pub fn with_keys(keys: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut volume = Self { dir, version: 0 };
        volume.update_keys(keys);
        volume
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a new timestamped directory and swaps `..data` to it in one rename, as the
    /// kubelet's atomic writer does; the previous version's directory is then removed.
    #[allow(dead_code)] // not every test binary reads it
    pub fn update(&mut self, id: &str, secret: &str) {
        self.update_keys(&[("id", id), ("secret", secret)]);
    }

    /// [`update`](Self::update) for any keys; then, as the kubelet does, a symlink for each
    /// new key is made beside `..data` and the symlinks of keys that are gone are removed.
    pub fn update_keys(&mut self, keys: &[(&str, &str)]) {
        self.version += 1;
        let name = format!("..2026_11_26_21_00_00.{:04}", self.version);
        let versioned = self.path().join(&name);
        fs::create_dir(&versioned).unwrap();
        for (key, value) in keys {
            fs::write(versioned.join(key), format!("{value}\n")).unwrap();
        }
        let staged = self.path().join("..data_tmp");
        symlink(&name, &staged).unwrap();
        let previous = fs::read_link(self.path().join("..data")).ok();
        fs::rename(&staged, self.path().join("..data")).unwrap();
        if let Some(previous) = previous {
            // Gone already if a test moved it away.
            let _ = fs::remove_dir_all(self.path().join(previous));
        }
        for entry in fs::read_dir(self.path()).unwrap() {
            let entry = entry.unwrap().file_name();
            let gone = !keys.iter().any(|(key, _)| entry == *key);
            if gone && !entry.to_string_lossy().starts_with('.') {
                fs::remove_file(self.path().join(entry)).unwrap();
            }
        }
        for (key, _) in keys {
            let link = self.path().join(key);
            if fs::symlink_metadata(&link).is_err() {
                symlink(format!("..data/{key}"), link).unwrap();
            }
        }
    }

    #[allow(dead_code)] // not every test binary reads it
    pub fn data_dir(&self) -> PathBuf {
        self.path().join(fs::read_link(self.path().join("..data")).unwrap())
    }
}
