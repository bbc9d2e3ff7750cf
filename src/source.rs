//! Credentials where deployments keep them: a directory of `id` and `secret` files (a
//! Kubernetes Secret volume, Docker secrets), or one file holding `id:secret`.

use std::{
    fs::{File, OpenOptions},
    io::{ErrorKind, Read},
    path::{Path, PathBuf},
};

use zeroize::Zeroizing;

use crate::{
    error::{LoadError, LoadProblem, Part},
    Credentials,
};

/// Where to read [`Credentials`] from: the files a Kubernetes Secret volume, a Docker secret or
/// a Vault Agent template leaves.
///
/// Each file may end with one `\n` or `\r\n` (every tool writes one); it is stripped, and
/// anything else [`Credentials::new`] would refuse is an error that names the file and the
/// problem, never the content. Files over 16 KiB, and anything that is not a regular file, are
/// refused unread.
///
/// In a volume the kubelet writes (the files are symlinks into `..data`, which it swaps in one
/// rename), both files are read from one version, never one from each. Two plain files that a
/// writer rewrites one after the other can be torn on disk for a moment; a follower
/// (`LiveCredentials::follow`, feature `rotation`) publishes only what two consecutive reads
/// agree on, so such a moment is never published, but a writer that wants no torn state at all
/// should write one `id:secret` file and `mv` it into place.
///
/// ```
/// use jocloud_auth::CredentialsSource;
///
/// # let dir = std::env::temp_dir().join(format!("jocloud-auth-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// // A Secret with keys `id` and `secret`, mounted at `dir`.
/// std::fs::write(dir.join("id"), "qawsedrftg\n")?;
/// std::fs::write(dir.join("secret"), "abcdefghijk\n")?;
/// let credentials = CredentialsSource::dir(&dir).load()?;
/// assert_eq!(credentials.id(), "qawsedrftg");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialsSource {
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Files { id: PathBuf, secret: PathBuf },
    Pair(PathBuf),
}

/// The largest file read: far above any credential (whose header value is capped at 8 KiB),
/// so that a wrong path to a large file fails fast instead of being read.
const MAX_FILE: u64 = 16 * 1024;

impl CredentialsSource {
    /// The file [`dir`](Self::dir) reads the certificate ID from, unless told otherwise: `id`.
    pub const ID_FILE: &'static str = "id";
    /// The file [`dir`](Self::dir) reads the secret key from, unless told otherwise: `secret`.
    pub const SECRET_FILE: &'static str = "secret";

    /// The files `id` and `secret` in `dir`, as a Kubernetes Secret with those keys is mounted.
    pub fn dir(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        Self::files(dir.join(Self::ID_FILE), dir.join(Self::SECRET_FILE))
    }

    /// The certificate ID and the secret key in files of their own.
    pub fn files(id: impl Into<PathBuf>, secret: impl Into<PathBuf>) -> Self {
        Self { kind: Kind::Files { id: id.into(), secret: secret.into() } }
    }

    /// One file holding `<id>:<secret>`.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self { kind: Kind::Pair(path.into()) }
    }

    /// Reads and validates the credentials.
    ///
    /// Reading never blocks on what sits at a path: anything that is not a regular file (after
    /// following symlinks), such as a FIFO, a socket, a device or a directory, is refused
    /// unread with [`LoadProblem::NotAFile`].
    ///
    /// # Errors
    ///
    /// A [`LoadError::File`] naming the file the problem is in (as this source was given it),
    /// with what went wrong: it could not be read, is not a regular file, is too large or not
    /// UTF-8, or its content is not valid credentials.
    pub fn load(&self) -> Result<Credentials, LoadError> {
        let in_file = |path: &Path, problem| LoadError::File { path: path.to_owned(), problem };
        match &self.kind {
            Kind::Files { id, secret } => {
                let (id_text, secret_text) = read_one_version(id, secret)?;
                Credentials::new(line(&id_text), line(&secret_text)).map_err(|invalid| {
                    // Name the file of the part that is wrong.
                    let path = if invalid.part() == Some(Part::Id) { id } else { secret };
                    in_file(path, LoadProblem::Invalid(invalid))
                })
            }
            Kind::Pair(path) => {
                let text = read(path).map_err(|problem| in_file(path, problem))?;
                line(&text).parse().map_err(|invalid| in_file(path, LoadProblem::Invalid(invalid)))
            }
        }
    }

    /// The files this source reads, for messages.
    #[cfg(all(feature = "rotation", feature = "tracing"))]
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            Kind::Files { id, secret } => format!("{} and {}", id.display(), secret.display()),
            Kind::Pair(path) => path.display().to_string(),
        }
    }
}

/// Both files of one version. In a volume the kubelet writes (a `..data` symlink beside the
/// files, pointing at a directory that is never changed, only replaced), they are read through
/// the directory `..data` points to, and `..data` must point there still afterwards: a read
/// cannot straddle an update. Elsewhere they are read one after the other. Errors name the
/// files as the caller gave them.
fn read_one_version(id: &Path, secret: &Path) -> Result<(Zeroizing<String>, Zeroizing<String>), LoadError> {
    let named = |path: &Path, read: Result<Zeroizing<String>, LoadProblem>| {
        read.map_err(|problem| LoadError::File { path: path.to_owned(), problem })
    };
    let as_they_are = || Ok((named(id, read(id))?, named(secret, read(secret))?));
    let dir = id.parent().filter(|dir| Some(*dir) == secret.parent());
    let data = dir.map(|dir| dir.join("..data"));
    let (Some(data), Some(id_name), Some(secret_name)) = (data, id.file_name(), secret.file_name()) else {
        return as_they_are();
    };
    let Ok(version) = std::fs::read_link(&data) else {
        return as_they_are();
    };
    let version_dir = data.with_file_name(&version);
    let pair = (read(&version_dir.join(id_name)), read(&version_dir.join(secret_name)));
    let not_there = |read: &Result<_, LoadProblem>| matches!(read, Err(LoadProblem::Io(ErrorKind::NotFound)));
    if not_there(&pair.0) || not_there(&pair.1) || std::fs::read_link(&data).ok().as_ref() != Some(&version) {
        // Files that are not part of the volume's versions, or an update while reading (the
        // next one comes no sooner than the kubelet's next sync): read them as they are.
        return as_they_are();
    }
    Ok((named(id, pair.0)?, named(secret, pair.1)?))
}

/// The whole file as text, in a buffer zeroized on drop.
fn read(path: &Path) -> Result<Zeroizing<String>, LoadProblem> {
    let io = |error: std::io::Error| LoadProblem::Io(error.kind());
    let file = open_regular_file(path)?;
    // Sized for the largest file read, so that reading never moves the buffer and leaves a
    // copy of the secret behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_FILE as usize + 1));
    file.take(MAX_FILE + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(LoadProblem::TooLarge { max_bytes: MAX_FILE });
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

/// Opens `path` for reading if it is a regular file, without blocking whatever it is.
///
/// Opening a FIFO for reading blocks until a writer comes, and some devices block too; so the
/// path is checked before opening, opened non-blocking in case it was swapped in between, and
/// what was opened is checked again.
fn open_regular_file(path: &Path) -> Result<File, LoadProblem> {
    let io = |error: std::io::Error| LoadProblem::Io(error.kind());
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(LoadProblem::NotAFile);
    }
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK | libc::O_NOCTTY);
    let file = options.open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(LoadProblem::NotAFile);
    }
    Ok(file)
}

/// `text` without one trailing `\n` or `\r\n`.
fn line(text: &str) -> &str {
    text.strip_suffix('\n').map_or(text, |text| text.strip_suffix('\r').unwrap_or(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(feature = "rotation", feature = "tracing"))]
    #[test]
    fn describe_names_the_files() {
        let files = CredentialsSource::files("/run/jocloud/id", "/run/jocloud/secret");
        assert_eq!(files.describe(), "/run/jocloud/id and /run/jocloud/secret");
        assert_eq!(CredentialsSource::file("/run/jocloud/pair").describe(), "/run/jocloud/pair");
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
