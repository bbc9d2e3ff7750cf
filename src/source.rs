//! Credentials where deployments keep them: a directory of `id` and `secret` files (a
//! Kubernetes Secret volume, Docker secrets), or one file holding `id:secret`; and a gateway's
//! many credentials, a file per certificate ID or a line per credential.

use std::{
    ffi::OsStr,
    fs::{File, OpenOptions},
    hash::{BuildHasher, RandomState},
    io::{ErrorKind, Read as _},
    path::{Path, PathBuf},
};

use zeroize::Zeroizing;

use crate::{
    credentials::{AcceptedCredential, Credentials},
    error::{InvalidCredentials, LoadError, LoadProblem, Part},
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

/// The largest file read for one credential: far above any credential (whose header value is
/// capped at 8 KiB), so that a wrong path to a large file fails fast instead of being read.
const MAX_FILE: u64 = 16 * 1024;

/// The largest file of lines read: room for about half a million credentials.
const MAX_LINES_FILE: u64 = 64 * 1024 * 1024;

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
    fn secret_path(&self) -> &Path {
        match &self.kind {
            Kind::Files { secret, .. } => secret,
            Kind::Pair(path) => path,
        }
    }
}

/// Where to read a gateway's many credentials from: one per customer application.
///
/// - [`dir`](Self::dir): a directory with one file per credential, named by its certificate
///   ID and holding its secret key, as a Kubernetes Secret with a key per customer is mounted.
///   Entries whose name starts with `.` are skipped (the kubelet's `..data` and its version
///   directories among them). In a volume the kubelet writes, every file is read from one
///   version, and a version already read is not read again (the kubelet never changes one,
///   only replaces it), so following a large volume costs one `readlink` per poll.
/// - [`lines`](Self::lines): a file with one `<id>:<secret>` per line, as Vault Agent or the
///   external-secrets operator render one; blank lines and lines starting with `#` are
///   skipped. Every line ends with a line ending, the last one too: a file cut short in the
///   middle of a line is refused. A file cut at a line's end cannot be told from a whole one,
///   so write the file elsewhere and `rename` it into place. A file of lines is read whole at
///   each poll: up to 64 MiB.
/// - Any [`CredentialsSource`], as a set of one (`From`).
///
/// Each file follows the rules of a [`CredentialsSource`] file (one trailing line ending
/// stripped, anything that is not a regular file refused unread, 16 KiB at most), and every
/// error names the file (and the line), never the content. A version with any error, or
/// with no credentials at all (an emptied Secret, a file caught truncated), is refused whole:
/// a follower keeps the last good set.
///
/// ```
/// use jocloud_auth::CredentialSetSource;
///
/// # let dir = tempfile::tempdir()?;
/// let file = dir.path().join("customers");
/// std::fs::write(&file, "# id:secret, one per customer\nqawsedrftg:abcdefghijk\nzxcvbnmlkj:lmnopqrstuv\n")?;
/// let credentials = CredentialSetSource::lines(&file).load()?;
/// assert_eq!(credentials.iter().map(|c| c.id()).collect::<Vec<_>>(), ["qawsedrftg", "zxcvbnmlkj"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialSetSource {
    kind: SetKind,
    rules: Rules,
}

/// What a version of a set source must be besides valid credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rules {
    /// Whether a credential held by its secret is an error.
    digests_only: bool,
    /// The most credentials it may hold.
    max: usize,
}

impl Rules {
    const DEFAULT: Self = Self { digests_only: false, max: CredentialSetSource::MAX_CREDENTIALS };

    /// `credential`, unless the source holds digests only and it is held by its secret.
    fn check(self, credential: AcceptedCredential) -> Result<AcceptedCredential, InvalidCredentials> {
        if self.digests_only && !credential.is_digest() {
            return Err(InvalidCredentials::NotADigest);
        }
        Ok(credential)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SetKind {
    One(CredentialsSource),
    Dir(PathBuf),
    Lines(PathBuf),
}

impl From<CredentialsSource> for CredentialSetSource {
    fn from(source: CredentialsSource) -> Self {
        Self { kind: SetKind::One(source), rules: Rules::DEFAULT }
    }
}

impl CredentialSetSource {
    /// The most credentials one source may hold: more is a load error
    /// ([`LoadProblem::TooMany`]), for a file of lines before any is parsed, so that a wrong
    /// file cannot grow a set to gigabytes. A gateway of this many customers holds about
    /// 300 MB.
    pub const MAX_CREDENTIALS: usize = 1_000_000;

    /// A directory with a file per credential: the file's name is the certificate ID, its
    /// content the secret key.
    pub fn dir(dir: impl Into<PathBuf>) -> Self {
        Self { kind: SetKind::Dir(dir.into()), rules: Rules::DEFAULT }
    }

    /// A file with one `<id>:<secret>` per line.
    pub fn lines(path: impl Into<PathBuf>) -> Self {
        Self { kind: SetKind::Lines(path.into()), rules: Rules::DEFAULT }
    }

    /// Refuses a credential held by its secret: every line, or every file, must be a digest
    /// entry (`{SHA256}<hex>`), and one that is not makes the version an error that names its
    /// line or file ([`InvalidCredentials::NotADigest`]), so that a follower keeps the last
    /// good set. For a gateway that is to hold no secret at all.
    ///
    /// [`InvalidCredentials::NotADigest`]: crate::InvalidCredentials::NotADigest
    #[must_use]
    pub fn digests_only(mut self) -> Self {
        self.rules.digests_only = true;
        self
    }

    /// Whether this source holds one credential, not a set: then a follower keeps a replaced
    /// key for the grace period even when its ID changed.
    #[cfg(feature = "rotation")]
    pub(crate) fn is_one(&self) -> bool {
        matches!(self.kind, SetKind::One(_))
    }

    /// Reads and validates every credential, sorted by ID (then secret), each once.
    ///
    /// # Errors
    ///
    /// A [`LoadError::File`] naming the file or the directory the problem is in, as
    /// [`CredentialsSource::load`] gives them, and [`LoadProblem::InvalidLine`] for a bad line,
    /// [`LoadProblem::NoCredentials`] for a source that holds none.
    pub fn load(&self) -> Result<Vec<AcceptedCredential>, LoadError> {
        self.load_unless_seen(&mut Seen::default()).map(Read::first)
    }

    /// [`load`](Self::load), unless what is there is what `seen` holds of the last read: the
    /// same kubelet version, or a file of lines with the same content.
    pub(crate) fn load_unless_seen(
        &self,
        seen: &mut Seen,
    ) -> Result<Read<Vec<AcceptedCredential>>, LoadError> {
        let rules = self.rules;
        let (path, read) = match &self.kind {
            SetKind::One(source) => {
                let credential = rules
                    .check(source.load()?.into())
                    .map_err(|invalid| in_file(source.secret_path(), LoadProblem::Invalid(invalid)))?;
                return Ok(Read::Version(vec![credential]));
            }
            SetKind::Lines(path) => (path, read_lines(path, seen, rules)),
            SetKind::Dir(dir) => (dir, read_dir_version(dir, seen, rules)),
        };
        // After a failed read, the next is new whatever it finds.
        let read = read.inspect_err(|_| seen.last = None)?;
        let Read::Version(mut credentials) = read else { return Ok(Read::SameAsLast) };
        if credentials.is_empty() {
            seen.last = None;
            return Err(in_file(path, LoadProblem::NoCredentials));
        }
        credentials.sort_unstable_by(|a, b| a.key().cmp(&b.key()));
        credentials.dedup_by(|a, b| a.key() == b.key());
        Ok(Read::Version(credentials))
    }

    /// The file or directory this source reads, for messages.
    #[cfg(feature = "rotation")]
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            SetKind::One(source) => source.describe(),
            SetKind::Dir(path) | SetKind::Lines(path) => path.display().to_string(),
        }
    }
}

/// One read of a source.
pub(crate) enum Read<V> {
    /// What the source holds now.
    Version(V),
    /// The very version read last time (a kubelet version, never changed in place, or a file
    /// of the same content): nothing to parse.
    SameAsLast,
}

impl<V: Default> Read<V> {
    /// The version of a first read, with nothing seen before: always a version.
    pub(crate) fn first(self) -> V {
        match self {
            Read::Version(version) => version,
            Read::SameAsLast => V::default(),
        }
    }
}

/// What a follower keeps of its last good read of a [`CredentialSetSource`], so that reading
/// the same again costs neither parsing nor a copy of any secret.
#[derive(Default)]
pub(crate) struct Seen {
    /// Keyed with a random key of this follower's own, like the validator's index.
    hasher: RandomState,
    last: Option<Last>,
}

#[derive(PartialEq)]
enum Last {
    /// The kubelet version directory, which is never changed, only replaced.
    Version(PathBuf),
    /// The keyed hash of a file of lines.
    Content(u64),
}

fn in_file(path: &Path, problem: LoadProblem) -> LoadError {
    LoadError::File { path: path.to_owned(), problem }
}

/// The credentials of a file of lines, unless its content is what `seen` read last.
fn read_lines(
    path: &Path,
    seen: &mut Seen,
    rules: Rules,
) -> Result<Read<Vec<AcceptedCredential>>, LoadError> {
    let text = read_named(path, path, MAX_LINES_FILE)?;
    let content = Last::Content(seen.hasher.hash_one(text.as_bytes()));
    if seen.last.as_ref() == Some(&content) {
        return Ok(Read::SameAsLast);
    }
    let credentials = parse_lines(&text, rules).map_err(|problem| in_file(path, problem))?;
    seen.last = Some(content);
    Ok(Read::Version(credentials))
}

/// The credentials of a file of lines; a bad line is named by its number. A file whose last
/// line has no ending may have been cut short, in the middle of a secret, say: it is refused.
/// So is one of more credentials than the rules allow, before any is parsed.
fn parse_lines(text: &str, rules: Rules) -> Result<Vec<AcceptedCredential>, LoadProblem> {
    if !(text.is_empty() || text.ends_with('\n')) {
        return Err(LoadProblem::UnendedLastLine);
    }
    let wanted = |(line, _): &(&str, usize)| !line.trim().is_empty() && !line.trim_start().starts_with('#');
    let lines = || text.lines().zip(1..).filter(wanted);
    if lines().nth(rules.max).is_some() {
        return Err(LoadProblem::TooMany { max: rules.max });
    }
    lines()
        .map(|(line, number)| {
            let credential = line.parse().and_then(|credential| rules.check(credential));
            credential.map_err(|invalid| LoadProblem::InvalidLine { line: number, invalid })
        })
        .collect()
}

/// The current version of a kubelet volume at `dir`: the directory its `..data` symlink names,
/// or `None` if `dir` is no such volume.
fn version_of(dir: &Path) -> Option<PathBuf> {
    std::fs::read_link(dir.join("..data")).ok()
}

/// How often a volume is read again when the kubelet swapped its version during a read (it
/// does not do so twice within its sync period).
const VERSION_ATTEMPTS: usize = 3;

/// Reads with `read` from the directory of `version` of the volume at `dir`, and makes sure
/// `..data` still names it afterwards: a read never straddles an update. Read again from the
/// new version when it does not; after three swaps, [`LoadProblem::Changed`].
fn read_in_version<T>(
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

/// The credentials of a directory of files, unless it is a kubelet volume still at the
/// version `seen` read last.
fn read_dir_version(
    dir: &Path,
    seen: &mut Seen,
    rules: Rules,
) -> Result<Read<Vec<AcceptedCredential>>, LoadError> {
    let Some(version) = version_of(dir) else {
        seen.last = None;
        return read_entries(dir, dir, rules).map(Read::Version);
    };
    if matches!(&seen.last, Some(Last::Version(seen)) if *seen == version) {
        return Ok(Read::SameAsLast);
    }
    seen.last = None;
    let (version, credentials) = read_in_version(dir, version, |from| read_entries(from, dir, rules))?;
    seen.last = Some(Last::Version(version));
    Ok(Read::Version(credentials))
}

/// One credential per file in `from`, each named as the file of that name in `dir`; more than
/// the rules allow is an error, and no more is read.
fn read_entries(from: &Path, dir: &Path, rules: Rules) -> Result<Vec<AcceptedCredential>, LoadError> {
    let io = |error: std::io::Error| in_file(dir, LoadProblem::Io(error.kind()));
    let mut credentials = Vec::new();
    for entry in std::fs::read_dir(from).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        if name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        if credentials.len() == rules.max {
            return Err(in_file(dir, LoadProblem::TooMany { max: rules.max }));
        }
        credentials.push(read_entry(&from.join(&name), &dir.join(&name), &name, rules)?);
    }
    Ok(credentials)
}

/// The credential whose ID is `name` and whose secret (or digest) is in the file at `path`,
/// named `named`.
fn read_entry(
    path: &Path,
    named: &Path,
    name: &OsStr,
    rules: Rules,
) -> Result<AcceptedCredential, LoadError> {
    let id = name.to_str().ok_or_else(|| in_file(named, LoadProblem::NotUnicode))?;
    let value = read_named(path, named, MAX_FILE)?;
    let credential = AcceptedCredential::new(id, line(&value)).and_then(|credential| rules.check(credential));
    credential.map_err(|invalid| in_file(named, LoadProblem::Invalid(invalid)))
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

/// [`read`], with an error that names `named`: the path as the source was given it.
fn read_named(path: &Path, named: &Path, max: u64) -> Result<Zeroizing<String>, LoadError> {
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
fn line(text: &str) -> &str {
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

    #[cfg(feature = "rotation")]
    #[test]
    fn describe_names_the_files() {
        let files = CredentialsSource::files("/run/jocloud/id", "/run/jocloud/secret");
        assert_eq!(files.describe(), "/run/jocloud/id and /run/jocloud/secret");
        assert_eq!(CredentialsSource::file("/run/jocloud/pair").describe(), "/run/jocloud/pair");
    }

    #[cfg(feature = "rotation")]
    #[test]
    fn a_set_source_describes_what_it_reads() {
        assert_eq!(CredentialSetSource::dir("/run/customers").describe(), "/run/customers");
        assert_eq!(CredentialSetSource::lines("/run/customers.txt").describe(), "/run/customers.txt");
        let one = CredentialSetSource::from(CredentialsSource::file("/run/jocloud/pair"));
        assert_eq!(one.describe(), "/run/jocloud/pair");
        assert!(one.is_one() && !CredentialSetSource::dir("/run/customers").is_one());
    }

    /// A source holds at most its rules' number of credentials: a file of lines is refused
    /// before any line is parsed (comments and blank lines do not count), a directory before
    /// the entry over the limit is read.
    #[test]
    fn a_source_of_more_credentials_than_allowed_is_refused() {
        let rules = Rules { max: 2, ..Rules::DEFAULT };
        assert_eq!(parse_lines("# two\na:1\n\nb:2\n", rules).map(|set| set.len()), Ok(2));
        assert_eq!(parse_lines("a:1\nb:2\nc:3\n", rules).map(drop), Err(LoadProblem::TooMany { max: 2 }));
        // Refused for its count before the bad line is read.
        assert_eq!(parse_lines("a:1\nb:2\nc:\n", rules).map(drop), Err(LoadProblem::TooMany { max: 2 }));

        let dir = tempfile::tempdir().unwrap();
        for (name, secret) in [("a", "1"), ("b", "2"), (".hidden", "x")] {
            std::fs::write(dir.path().join(name), secret).unwrap();
        }
        assert_eq!(read_entries(dir.path(), dir.path(), rules).map(|set| set.len()), Ok(2));
        std::fs::write(dir.path().join("c"), "3").unwrap();
        let error = read_entries(dir.path(), dir.path(), rules).unwrap_err();
        assert_eq!(error, in_file(dir.path(), LoadProblem::TooMany { max: 2 }));
        assert!(error.to_string().ends_with("holds more than 2 credentials"), "{error}");
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
