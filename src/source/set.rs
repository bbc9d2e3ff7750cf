//! A gateway's many credentials: [`CredentialSetSource`].

use std::{
    ffi::OsStr,
    hash::{BuildHasher, RandomState},
    path::{Path, PathBuf},
};

use super::{
    file::{in_file, line, read_in_version, read_named, version_of, MAX_FILE},
    CredentialsSource,
};
use crate::{
    credentials::AcceptedCredential,
    error::{InvalidCredentials, LoadError, LoadProblem},
};

/// The largest file of lines read: room for about half a million credentials.
const MAX_LINES_FILE: u64 = 64 * 1024 * 1024;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
