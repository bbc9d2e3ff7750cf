//! Reading a file without blocking on what sits at its path, and a kubelet volume's files from
//! one version.

use std::{
    fs::{File, OpenOptions},
    io::Read as _,
    path::{Path, PathBuf},
};

use zeroize::Zeroizing;

use crate::error::{LoadError, LoadProblem};

/// The largest file read for one credential: far above any credential (whose header value is
/// capped at 8 KiB), so that a wrong path to a large file fails fast instead of being read.
pub(super) const MAX_FILE: u64 = 16 * 1024;

pub(super) fn in_file(path: &Path, problem: LoadProblem) -> LoadError {
    LoadError::File { path: path.to_owned(), problem }
}

/// The current version of a kubelet volume at `dir`: the directory its `..data` symlink names,
/// or `None` if `dir` is no such volume.
pub(super) fn version_of(dir: &Path) -> Option<PathBuf> {
    std::fs::read_link(dir.join("..data")).ok()
}

/// How often a volume is read again when the kubelet swapped its version during a read (it
/// does not do so twice within its sync period).
const VERSION_ATTEMPTS: usize = 3;

/// Reads with `read` from the directory of `version` of the volume at `dir`, and makes sure
/// `..data` still names it afterwards: a read never straddles an update. Read again from the
/// new version when it does not; after three swaps, [`LoadProblem::Changed`].
pub(super) fn read_in_version<T>(
    dir: &Path,
    mut version: PathBuf,
    mut read: impl FnMut(&Path) -> Result<T, LoadError>,
) -> Result<(PathBuf, T), LoadError> {
    for _ in 0..VERSION_ATTEMPTS {
        let result = read(&dir.join(&version));
        match version_of(dir) {
            Some(now) if now == version => return result.map(|read| (version, read)),
            Some(now) => version = now,
            None => break,
        }
    }
    Err(in_file(dir, LoadProblem::Changed))
}

/// [`read`], with an error that names `named`: the path as the source was given it.
pub(super) fn read_named(path: &Path, named: &Path, max: u64) -> Result<Zeroizing<String>, LoadError> {
    read(path, max).map_err(|problem| in_file(named, problem))
}

/// The whole file as text, in a buffer zeroized on drop; refused unread if it is larger than
/// `max` bytes.
fn read(path: &Path, max: u64) -> Result<Zeroizing<String>, LoadProblem> {
    let io = |error: std::io::Error| LoadProblem::Io(error.kind());
    let (file, len) = open_regular_file(path)?;
    if len > max {
        return Err(LoadProblem::TooLarge { max_bytes: max });
    }
    // Exactly the length the file had when opened: reading never moves the buffer (which would
    // leave a copy of the secret behind). A byte more to read, or fewer, is a file changed
    // while it was read.
    let mut bytes = Zeroizing::new(Vec::with_capacity(len as usize));
    (&file).take(len).read_to_end(&mut bytes).map_err(io)?;
    let grew = (&file).read(&mut [0]).map_err(io)? > 0;
    if grew || bytes.len() as u64 != len {
        return Err(LoadProblem::Changed);
    }
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(error) => {
            // The bytes may be the secret: zeroize them before returning the error.
            drop(Zeroizing::new(error.into_bytes()));
            Err(LoadProblem::NotUnicode)
        }
    }
}

/// Opens `path` for reading if it is a regular file, without blocking whatever it is; with
/// the file's length.
///
/// Opening a FIFO for reading blocks until a writer comes, and some devices block too; so the
/// path is checked before opening, opened non-blocking in case it was swapped in between, and
/// what was opened is checked again.
fn open_regular_file(path: &Path) -> Result<(File, u64), LoadProblem> {
    let io = |error: std::io::Error| LoadProblem::Io(error.kind());
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(LoadProblem::NotAFile);
    }
    let file = open_nonblocking(path).map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    if !metadata.is_file() {
        return Err(LoadProblem::NotAFile);
    }
    Ok((file, metadata.len()))
}

/// Opens `path` for reading without waiting for a writer if it is a FIFO, and without making
/// it the process's controlling terminal if it is one.
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK | libc::O_NOCTTY);
    options.open(path)
}

/// `text` without one trailing `\n` or `\r\n`.
pub(super) fn line(text: &str) -> &str {
    text.strip_suffix('\n').map_or(text, |text| text.strip_suffix('\r').unwrap_or(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path is checked before it is opened; this is for a FIFO swapped in between.
    #[cfg(unix)]
    #[test]
    fn a_fifo_opens_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let (opened, open) = std::sync::mpsc::channel();
        // Left blocked in `open`, if it blocks, when the test fails: the test process ends anyway.
        std::thread::spawn(move || opened.send(open_nonblocking(&fifo).is_ok()));
        let opened = open.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(opened, Ok(true), "a FIFO with no writer is opened at once");
    }

    /// A kubelet swap between the read and the check: the read is done again, in the new
    /// version, and a third swap in a row is an error rather than a torn read.
    #[cfg(unix)]
    #[test]
    fn a_read_straddling_a_swap_is_read_again_in_the_new_version() {
        let dir = tempfile::tempdir().unwrap();
        let swap_to = |version: &str| {
            let link = dir.path().join("..data_tmp");
            std::os::unix::fs::symlink(version, &link).unwrap();
            std::fs::rename(&link, dir.path().join("..data")).unwrap();
        };
        for version in ["v1", "v2", "v3", "v4"] {
            std::fs::create_dir(dir.path().join(version)).unwrap();
        }
        swap_to("v1");
        let mut reads = Vec::new();
        let read = read_in_version(dir.path(), "v1".into(), |path| {
            reads.push(path.file_name().unwrap().to_owned());
            if reads.len() == 1 {
                swap_to("v2");
            }
            Ok(reads.len())
        });
        let (version, count) = read.unwrap();
        assert_eq!((version, count), (PathBuf::from("v2"), 2));
        assert_eq!(reads, ["v1", "v2"]);

        let mut next = ["v3", "v4", "v1"].into_iter();
        let read = read_in_version(dir.path(), "v2".into(), |_| {
            swap_to(next.next().unwrap());
            Ok(())
        });
        assert_eq!(read.unwrap_err().problem(), &LoadProblem::Changed);
    }

    #[test]
    fn line_strips_one_line_ending() {
        for (text, expected) in [
            ("id:secret", "id:secret"),
            ("id:secret\n", "id:secret"),
            ("id:secret\r\n", "id:secret"),
            ("id:secret\n\n", "id:secret\n"),
            ("id:secret\r", "id:secret\r"),
            ("\n", ""),
            ("", ""),
        ] {
            assert_eq!(line(text), expected, "{text:?}");
        }
    }
}
