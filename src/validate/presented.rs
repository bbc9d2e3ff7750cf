//! A token as a request presents it: its payload, decoded to `"<id>:<secret>"` at most once, and
//! only where the digest path or the rejection's event needs it.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use zeroize::Zeroize;

use crate::credentials::MAX_DECODED;

/// The longest payload decoded: the base64 of [`MAX_DECODED`] bytes, which decodes to no more.
pub(super) const MAX_DECODED_PAYLOAD: usize = MAX_DECODED / 3 * 4;

/// A presented token's payload, and what it decodes to once decoded, in a buffer on the
/// caller's stack (a box would allocate for every check that decodes, and a buffer of its own
/// would be copied wherever it moves). The decoded bytes (a secret, perhaps a real one out of
/// date) are wiped when it is dropped.
pub(super) struct Presented<'p> {
    payload: &'p [u8],
    buffer: &'p mut [u8; MAX_DECODED],
    decoded: Decode,
}

/// Whether and to what length a payload was decoded.
enum Decode {
    NotYet,
    /// Not base64, or longer than [`MAX_DECODED_PAYLOAD`]: refused unread.
    Failed,
    Done(usize),
}

impl<'p> Presented<'p> {
    /// `payload`, to be decoded into `buffer` if it ever is.
    pub(super) fn new(payload: &'p [u8], buffer: &'p mut [u8; MAX_DECODED]) -> Self {
        Self { payload, buffer, decoded: Decode::NotYet }
    }

    /// `"<id>:<secret>"`, decoded at the first call; `None` for a payload that is not base64 or
    /// is longer than any credential decoded here.
    #[cfg_attr(not(any(feature = "digest", feature = "tracing")), allow(dead_code))]
    pub(super) fn decoded(&mut self) -> Option<&[u8]> {
        if let Decode::NotYet = self.decoded {
            self.decoded = match decode_into(self.payload, self.buffer) {
                Some(len) => Decode::Done(len),
                None => Decode::Failed,
            };
        }
        match self.decoded {
            Decode::Done(len) => Some(&self.buffer[..len]),
            _ => None,
        }
    }

    /// The certificate ID the token names, where it decodes to `"<id>:<secret>"`.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(super) fn id(&mut self) -> Option<&str> {
        let decoded = self.decoded()?;
        let colon = decoded.iter().position(|&byte| byte == b':')?;
        std::str::from_utf8(&decoded[..colon]).ok()
    }

    /// Wipes what was decoded: only those bytes, as the whole buffer would cost hundreds more.
    fn wipe(&mut self) {
        if let Decode::Done(len) = self.decoded {
            self.buffer[..len].zeroize();
        }
    }
}

/// The length of what `payload` decodes to in `bytes`; a failed decode's part is wiped there
/// at once, and a payload too long for it is not read.
fn decode_into(payload: &[u8], bytes: &mut [u8; MAX_DECODED]) -> Option<usize> {
    if payload.len() > MAX_DECODED_PAYLOAD {
        return None;
    }
    let decoded = STANDARD.decode_slice(payload, bytes).ok();
    if decoded.is_none() {
        bytes.zeroize();
    }
    decoded
}

impl Drop for Presented<'_> {
    fn drop(&mut self) {
        self.wipe();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &[u8]) -> String {
        STANDARD.encode(text)
    }

    /// Decoded once, to `"<id>:<secret>"`, and named by its ID; what is not base64, or too
    /// long, is not decoded at all.
    #[test]
    fn a_payload_is_decoded_once_to_its_id_and_secret() {
        let payload = encode(b"cust000001:s3cr3t");
        let mut buffer = [0; MAX_DECODED];
        let mut presented = Presented::new(payload.as_bytes(), &mut buffer);
        assert_eq!(presented.decoded(), Some(&b"cust000001:s3cr3t"[..]));
        assert_eq!(presented.id(), Some("cust000001"));
        assert!(matches!(presented.decoded, Decode::Done(17)));
        for refused in [&b"not base64!"[..], b"bm8gY29sb24=", &[b'A'; MAX_DECODED_PAYLOAD + 4]] {
            let mut buffer = [0; MAX_DECODED];
            let mut presented = Presented::new(refused, &mut buffer);
            let no_id = presented.id().is_none();
            assert!(no_id, "{}", String::from_utf8_lossy(refused));
        }
        let longest = encode(&[b'x'; MAX_DECODED]);
        assert_eq!(longest.len(), MAX_DECODED_PAYLOAD);
        let mut buffer = [0; MAX_DECODED];
        let decoded = Presented::new(longest.as_bytes(), &mut buffer).decoded().map(<[u8]>::len);
        assert_eq!(decoded, Some(MAX_DECODED));
    }

    /// The decoded token is wiped (as on drop), and a failed decode's part at once.
    #[test]
    fn what_is_decoded_is_wiped() {
        let payload = encode(b"cust000001:s3cr3t");
        let mut buffer = [0; MAX_DECODED];
        let mut presented = Presented::new(payload.as_bytes(), &mut buffer);
        assert!(presented.decoded().is_some());
        drop(presented);
        assert_eq!(buffer, [0; MAX_DECODED]);
        // Valid base64 up to a bad last character: all but the last group decode first.
        let mut cut = encode(&[b'x'; 200]).into_bytes();
        *cut.last_mut().unwrap() = b'!';
        let mut bytes = [0u8; MAX_DECODED];
        assert_eq!(decode_into(&cut, &mut bytes), None);
        assert_eq!(bytes, [0; MAX_DECODED]);
        let long = encode(&[b'x'; MAX_DECODED + 3]);
        assert_eq!(decode_into(long.as_bytes(), &mut bytes), None, "not read");
    }
}
