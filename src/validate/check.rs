//! What a validator checks and how it answers: the one [`Check`] a layer and each of its services
//! hold, the server's counterpart of the client's token.

use std::{fmt, sync::Arc};

use bytes::Bytes;
use http::{header::Entry, HeaderMap, HeaderName, Response};

#[cfg(feature = "tracing")]
use super::events::{self, Known};
use super::{accepted::AcceptedSet, caller::Caller, presented::Presented, rejection::Rejection};
use crate::{
    credentials::{Scheme, MAX_DECODED, TOKEN_HEADER},
    current::Current,
};

/// A caller-supplied rejection response.
type Respond = Arc<dyn Fn(Rejection) -> Response<Bytes> + Send + Sync>;

/// The credentials accepted (fixed, or a live set's), the words and header they come in, what
/// becomes of the header, and the answer to a request turned away.
#[derive(Clone)]
pub(super) struct Check {
    accepted: Current<AcceptedSet>,
    /// The scheme set by hand: accepted, and named in `www-authenticate` on rejections.
    scheme: Option<Scheme>,
    /// The product's scheme, used where none is set by hand: `Basic` for cloud recording.
    product: Scheme,
    /// Accepted besides the scheme, whichever that is.
    also: Schemes,
    header_name: HeaderName,
    keep_token_header: bool,
    report_only: bool,
    respond: Option<Respond>,
    #[cfg(feature = "tracing")]
    retiring: events::Retiring,
}

/// Why a request was turned away, and (feature `tracing`) the known ID its event names.
pub(super) struct Refused {
    pub(super) rejection: Rejection,
    #[cfg(feature = "tracing")]
    known: Option<Known>,
}

impl Refused {
    fn new(rejection: Rejection) -> Self {
        Self {
            rejection,
            #[cfg(feature = "tracing")]
            known: None,
        }
    }
}

impl Check {
    pub(super) fn new(accepted: Current<AcceptedSet>) -> Self {
        Self {
            accepted,
            scheme: None,
            product: Scheme::Base,
            also: Schemes::default(),
            header_name: TOKEN_HEADER,
            keep_token_header: false,
            report_only: false,
            respond: None,
            #[cfg(feature = "tracing")]
            retiring: events::Retiring::default(),
        }
    }

    pub(super) fn cloud_recording(&mut self) {
        self.product = Scheme::Basic;
    }

    pub(super) fn set_scheme(&mut self, scheme: Scheme) {
        self.scheme = Some(scheme);
    }

    pub(super) fn also_accept_scheme(&mut self, scheme: Scheme) {
        self.also.insert(scheme);
    }

    pub(super) fn set_header_name(&mut self, name: HeaderName) {
        self.header_name = name;
    }

    pub(super) fn keep_token_header(&mut self) {
        self.keep_token_header = true;
    }

    pub(super) fn set_report_only(&mut self) {
        self.report_only = true;
    }

    pub(super) fn on_rejection(&mut self, respond: Respond) {
        self.respond = Some(respond);
    }

    pub(super) fn report_only(&self) -> bool {
        self.report_only
    }

    /// The caller's ID, or why there is none. On success the token header is removed, or
    /// marked sensitive when kept, so that layers inside never see or log it in clear.
    pub(super) fn check(&self, headers: &mut HeaderMap) -> Result<Caller, Refused> {
        let Entry::Occupied(mut token) = headers.entry(&self.header_name) else {
            return Err(Refused::new(Rejection::Missing));
        };
        if token.iter().nth(1).is_some() {
            return Err(Refused::new(Rejection::SeveralHeaders));
        }
        let payload = self.payload(token.get().as_bytes()).map_err(Refused::new)?;
        let accepted = self.accepted.load();
        let caller = match accepted.find(payload) {
            Ok(caller) => caller,
            Err(rejection) => decoded(rejection, payload, &accepted)?,
        };
        if self.keep_token_header {
            token.get_mut().set_sensitive(true);
        } else {
            token.remove();
        }
        Ok(caller)
    }

    /// The scheme word named in challenges.
    fn word(&self) -> Scheme {
        self.scheme.unwrap_or(self.product)
    }

    /// What follows an accepted scheme word and one space. Scheme words are public, so this
    /// may branch on them.
    fn payload<'a>(&self, value: &'a [u8]) -> Result<&'a [u8], Rejection> {
        let (scheme, payload) = Scheme::ALL
            .into_iter()
            .find_map(|scheme| Some((scheme, scheme.strip_from(value)?)))
            .ok_or(Rejection::Malformed)?;
        if scheme == self.word() || self.also.contains(scheme) {
            Ok(payload)
        } else {
            Err(Rejection::UnacceptedScheme)
        }
    }

    /// Removes the token header, or marks it sensitive when kept, whatever the check found.
    pub(super) fn hide_token(&self, headers: &mut HeaderMap) {
        let Entry::Occupied(mut token) = headers.entry(&self.header_name) else {
            return;
        };
        if self.keep_token_header {
            token.iter_mut().for_each(|value| value.set_sensitive(true));
        } else {
            drop(token.remove_entry_mult());
        }
    }

    /// With `tracing`, the rejection's `DEBUG` event.
    pub(super) fn report(&self, refused: &Refused) {
        #[cfg(feature = "tracing")]
        events::rejected(refused.rejection, refused.known.as_ref(), self.report_only);
        let _ = refused;
    }

    /// The answer to a request turned away: `on_rejection`'s, or an empty `401` with a
    /// challenge; its rejection in its extensions.
    pub(super) fn reject(&self, refused: &Refused) -> Response<Bytes> {
        self.report(refused);
        let mut response = match &self.respond {
            Some(respond) => respond(refused.rejection),
            None => refused.rejection.challenge(self.word()),
        };
        response.extensions_mut().insert(refused.rejection);
        response
    }

    /// With `tracing`, an accepted caller in the request's span, and the event about a key in
    /// its grace period.
    pub(super) fn accepted(&self, caller: &Caller) {
        #[cfg(feature = "tracing")]
        {
            events::accepted(&caller.id);
            if caller.retiring {
                self.retiring.announce(&caller.id);
            }
        }
        let _ = caller;
    }
}

/// After a payload held by no secret: the caller a digest of what it decodes to names (feature
/// `digest`), or the refusal, whose event names a known ID (feature `tracing`). The token is
/// decoded once for both, and only here: a payload held by its secret is never decoded.
fn decoded(rejection: Rejection, payload: &[u8], accepted: &AcceptedSet) -> Result<Caller, Refused> {
    let mut buffer = [0; MAX_DECODED];
    let mut presented = Presented::new(payload, &mut buffer);
    #[cfg(feature = "digest")]
    if rejection == Rejection::UnknownCredential {
        if let Some(caller) = accepted.find_digest(&mut presented) {
            return Ok(caller);
        }
    }
    let _ = (&mut presented, accepted);
    Err(Refused {
        rejection,
        #[cfg(feature = "tracing")]
        known: Known::of(rejection, &mut presented, accepted),
    })
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidateTokenLayer")
            .field("accepted_ids", &self.accepted.load().summary())
            .field("scheme", &self.word())
            .field("also", &self.also)
            .field("header_name", &self.header_name)
            .field("keep_token_header", &self.keep_token_header)
            .field("report_only", &self.report_only)
            .field("on_rejection", &self.respond.is_some())
            .finish()
    }
}

/// A set of schemes.
#[derive(Clone, Copy, Debug, Default)]
struct Schemes {
    base: bool,
    basic: bool,
}

impl Schemes {
    fn insert(&mut self, scheme: Scheme) {
        match scheme {
            Scheme::Base => self.base = true,
            Scheme::Basic => self.basic = true,
        }
    }

    fn contains(self, scheme: Scheme) -> bool {
        match scheme {
            Scheme::Base => self.base,
            Scheme::Basic => self.basic,
        }
    }
}
