//! [`ResponseBody`]: a body that can hold a rejection's bytes, for an inner service whose own
//! body cannot be made from them.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// A body that is either another body or a rejection's bytes: wraps a body no one can
    /// build, such as `hyper::body::Incoming`, so that [`ValidateToken`](super::ValidateToken)
    /// can answer a rejection in it. See [the module docs](super#rejections).
    ///
    /// An [`http_body::Body`] with `Bytes` data, as hyper's, axum's and reqwest's are.
    ///
    /// ```
    /// use http::{Request, Response};
    /// use hyper::body::Incoming;
    /// use hyper_util::{client::legacy::Client, rt::TokioExecutor};
    /// use jocloud_auth::{validate::{ResponseBody, ValidateTokenLayer}, Credentials};
    /// use tower::ServiceBuilder;
    ///
    /// # fn main() -> Result<(), jocloud_auth::InvalidCredentials> {
    /// let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
    /// // A gateway that forwards each accepted request upstream as it came.
    /// let upstream = Client::builder(TokioExecutor::new()).build_http::<Incoming>();
    /// let gateway = ServiceBuilder::new()
    ///     .layer(ValidateTokenLayer::new(&credentials))
    ///     .map_response(|response: Response<Incoming>| response.map(ResponseBody::new))
    ///     .service(upstream);
    /// # fn serves_incoming<S: tower::Service<Request<Incoming>>>(_: &S) {}
    /// # serves_incoming(&gateway);
    /// # Ok(())
    /// # }
    /// ```
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Rejection { data: Option<Bytes> },
    }
}

impl<B> ResponseBody<B> {
    /// `body`, as it is.
    pub fn new(body: B) -> Self {
        Self { kind: Kind::Inner { body } }
    }
}

impl<B> From<Bytes> for ResponseBody<B> {
    fn from(data: Bytes) -> Self {
        Self { kind: Kind::Rejection { data: (!data.is_empty()).then_some(data) } }
    }
}

impl<B: Body<Data = Bytes>> Body for ResponseBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Rejection { data } => Poll::Ready(data.take().map(|data| Ok(Frame::data(data)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Rejection { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Rejection { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64))
            }
        }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}
