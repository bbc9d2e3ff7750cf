//! One credential, for a client: [`CredentialsSource`].

use std::{
    io::ErrorKind,
    path::{Path, PathBuf},
};

use zeroize::Zeroizing;

use super::file::{in_file, line, read_in_version, read_named, version_of, MAX_FILE};
use crate::{
    credentials::Credentials,
    error::{LoadError, LoadProblem, Part},
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
                let text = read_named(path, path, MAX_FILE)?;
                if line(&text).is_empty() {
                    return Err(in_file(path, LoadProblem::EmptyFile));
                }
                line(&text).parse().map_err(|invalid| in_file(path, LoadProblem::Invalid(invalid)))
            }
        }
    }

    /// The files this source reads, for messages.
    #[cfg(feature = "rotation")]
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            Kind::Files { id, secret } => format!("{} and {}", id.display(), secret.display()),
            Kind::Pair(path) => path.display().to_string(),
        }
    }

    /// The file the secret is read from.
    pub(super) fn secret_path(&self) -> &Path {
        match &self.kind {
            Kind::Files { secret, .. } => secret,
            Kind::Pair(path) => path,
        }
    }
}

/// Both files of one version. In a kubelet volume (a `..data` symlink beside the files) they
/// are read through the version it names, as [`read_in_version`] does; elsewhere, or where the
/// files are not in the volume's versions, as they are. Errors name the files as given.
fn read_one_version(id: &Path, secret: &Path) -> Result<(Zeroizing<String>, Zeroizing<String>), LoadError> {
    let read_pair = |id_at: &Path, secret_at: &Path| {
        Ok((read_named(id_at, id, MAX_FILE)?, read_named(secret_at, secret, MAX_FILE)?))
    };
    let dir = id.parent().filter(|dir| Some(*dir) == secret.parent());
    let (Some(dir), Some(id_name), Some(secret_name)) = (dir, id.file_name(), secret.file_name()) else {
        return read_pair(id, secret);
    };
    let Some(version) = version_of(dir) else {
        return read_pair(id, secret);
    };
    let in_version =
        read_in_version(dir, version, |from| read_pair(&from.join(id_name), &from.join(secret_name)));
    match in_version {
        Err(error) if *error.problem() == LoadProblem::Io(ErrorKind::NotFound) => read_pair(id, secret),
        result => result.map(|(_, pair)| pair),
    }
}

#[cfg(all(test, feature = "rotation"))]
mod tests {
    use super::*;

    #[test]
    fn describe_names_the_files() {
        let files = CredentialsSource::files("/run/jocloud/id", "/run/jocloud/secret");
        assert_eq!(files.describe(), "/run/jocloud/id and /run/jocloud/secret");
        assert_eq!(CredentialsSource::file("/run/jocloud/pair").describe(), "/run/jocloud/pair");
    }
}
