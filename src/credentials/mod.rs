//! jocloud interface certificates: what a client holds ([`Credentials`]) and what a server
//! accepts ([`AcceptedCredential`]), with the scheme word and the header between them.

mod accepted;
mod client;
mod scheme;

pub use accepted::AcceptedCredential;
pub(crate) use accepted::MAX_DECODED;
pub use client::Credentials;
pub use scheme::{Scheme, TOKEN_HEADER};
