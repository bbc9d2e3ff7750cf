//! Credentials where deployments keep them: a directory of `id` and `secret` files (a
//! Kubernetes Secret volume, Docker secrets), or one file holding `id:secret`; and a gateway's
//! many credentials, a file per certificate ID or a line per credential. Whatever sits at a path
//! is read without blocking, and every error names the file, never its content.

mod credentials;
mod file;
mod set;

pub use credentials::CredentialsSource;
pub use set::CredentialSetSource;
#[cfg(feature = "rotation")]
pub(crate) use set::{Read, Seen};
