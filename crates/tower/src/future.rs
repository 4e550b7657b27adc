//! The response future: runs the lookup, calls the inner service, reads
//! the body when the decision needs its bytes, and hands the response to
//! [`respond`](crate::respond) for the answer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::header::ETAG;
use http::{HeaderMap, Request, Response, StatusCode, response};
use http_body::Body;
use pin_project_lite::pin_project;
use revalidate_core::not_modified_headers;
use tower_service::Service;

use crate::body::ConditionalBody;
use crate::coding::tag_for_coding;
use crate::context::{IdentityTag, KnownValidators, RequestContext};
use crate::decide::{self, AfterHandler, BeforeHandler, BodySize, ResponseFacts, Role, apply_validators};
use crate::lookup::Current;
use crate::respond::{Content, answer, not_modified, precondition_failed};
use crate::tag::body_tag;

pin_project! {
    /// The response future of [`Conditional`](crate::Conditional).
    pub struct ResponseFuture<S, ReqBody, ResBody, LF>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, S::Future, ResBody, LF>,
        ctx: RequestContext,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, F, ResBody, LF> {
        // Waiting for the lookup; the service and request wait with it.
        Lookup {
            #[pin]
            lookup: LF,
            service: Option<S>,
            request: Option<Request<ReqBody>>,
        },
        // Waiting for the inner service.
        Call {
            #[pin]
            future: F,
        },
        // Reading a body that announced a length within the limit, when its
        // first poll did not deliver all of it. Boxed, so that it can be
        // handed on after a partial read.
        Collect {
            body: Option<Pin<Box<ResBody>>>,
            read: Option<Collecting>,
        },
        Done,
    }
}

impl<S, ReqBody, ResBody, LF> ResponseFuture<S, ReqBody, ResBody, LF>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn call(ctx: RequestContext, future: S::Future) -> Self {
        Self {
            state: State::Call { future },
            ctx,
        }
    }

    pub(crate) fn lookup(ctx: RequestContext, lookup: LF, service: S, request: Request<ReqBody>) -> Self {
        Self {
            state: State::Lookup {
                lookup,
                service: Some(service),
                request: Some(request),
            },
            ctx,
        }
    }
}

type Output<B, E> = Result<Response<ConditionalBody<B>>, E>;

impl<S, ReqBody, ResBody, LF> Future for ResponseFuture<S, ReqBody, ResBody, LF>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
    LF: Future<Output = Option<Current>>,
{
    type Output = Output<ResBody, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Lookup {
                    lookup,
                    service,
                    request,
                } => {
                    let current = ready!(lookup.poll(cx));
                    let (Some(mut service), Some(request)) = (service.take(), request.take()) else {
                        panic!("ResponseFuture polled after completion");
                    };
                    if let Some(current) = current {
                        let (validators, extra) = current.into_parts();
                        let ctx = &mut *this.ctx;
                        match decide::before_handler(
                            &ctx.pre,
                            &ctx.method,
                            ctx.now,
                            &validators,
                            &extra,
                            request.headers(),
                        ) {
                            BeforeHandler::Proceed => ctx.current = Some(validators),
                            BeforeHandler::NotModified(headers) => {
                                this.state.set(State::Done);
                                return Poll::Ready(Ok(not_modified(headers)));
                            }
                            BeforeHandler::PreconditionFailed { condition, etag } => {
                                this.state.set(State::Done);
                                return Poll::Ready(Ok(precondition_failed(condition, etag)));
                            }
                        }
                    }
                    State::Call {
                        future: service.call(request),
                    }
                }
                StateProj::Call { future } => {
                    let (mut parts, body) = ready!(future.poll(cx))?.into_parts();
                    match after_handler(this.ctx, &mut parts, &body) {
                        AfterHandler::PassThrough(_) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(Response::from_parts(
                                parts,
                                ConditionalBody::pass_through(body),
                            )));
                        }
                        AfterHandler::Evaluate => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(match this.ctx.settings.role {
                                Role::TagOnly => {
                                    Response::from_parts(parts, ConditionalBody::pass_through(body))
                                }
                                Role::Evaluate => answer(this.ctx, parts, Content::Unread(body)),
                            }));
                        }
                        AfterHandler::Collect { hash } => {
                            // Most bodies are ready at once: read them here, and
                            // only keep the state for one that is not.
                            let mut body = Box::pin(body);
                            let mut read = Collecting::new(parts, hash);
                            let Poll::Ready(failed) =
                                read.poll(body.as_mut(), this.ctx.settings.max_body, cx)
                            else {
                                this.state.set(State::Collect {
                                    body: Some(body),
                                    read: Some(read),
                                });
                                return Poll::Pending;
                            };
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(read.finish(this.ctx, body, failed)));
                        }
                    }
                }
                StateProj::Collect { body, read } => {
                    let (Some(reading), Some(progress)) = (body.as_mut(), read.as_mut()) else {
                        panic!("ResponseFuture polled after completion");
                    };
                    let failed = ready!(progress.poll(reading.as_mut(), this.ctx.settings.max_body, cx));
                    let (Some(body), Some(read)) = (body.take(), read.take()) else {
                        panic!("ResponseFuture polled after completion");
                    };
                    this.state.set(State::Done);
                    return Poll::Ready(Ok(read.finish(this.ctx, body, failed)));
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            };
            this.state.set(next);
        }
    }
}

/// Reads the response's facts, applies the validators the layer was given,
/// and decides.
fn after_handler<B: Body>(ctx: &mut RequestContext, parts: &mut response::Parts, body: &B) -> AfterHandler {
    let size = BodySize::of(&ctx.method, &body.size_hint(), &parts.headers);
    let mut facts = ResponseFacts::read(&ctx.method, parts.status, &parts.headers, size);
    let max = ctx.settings.max_body;
    match ctx.settings.role {
        Role::TagOnly => {
            // Validators the handler attached are for the outer layer.
            facts.has_etag |= parts
                .extensions
                .get::<KnownValidators>()
                .is_some_and(|known| known.0.etag().is_some());
            let plan = decide::after_handler(Role::TagOnly, &facts, max);
            if plan == AfterHandler::Evaluate && parts.headers.contains_key(ETAG) {
                parts.extensions.insert(IdentityTag { hashed: false });
            }
            plan
        }
        Role::Evaluate => {
            // Most responses carry no extensions: then the two type-map
            // lookups below are skipped.
            let extended = !parts.extensions.is_empty();
            let known = extended
                .then(|| parts.extensions.remove::<KnownValidators>())
                .flatten()
                .map(|known| known.0)
                .or_else(|| ctx.current.take());
            facts.has_etag |= known.as_ref().is_some_and(|v| v.etag().is_some());
            facts.has_last_modified |= known.as_ref().is_some_and(|v| v.last_modified().is_some());
            facts.range_requested = ctx.range.is_present();
            let plan = decide::after_handler(Role::Evaluate, &facts, max);
            if matches!(plan, AfterHandler::PassThrough(_)) {
                return plan;
            }
            let identity = extended
                .then(|| parts.extensions.remove::<IdentityTag>())
                .flatten();
            if identity.is_some_and(|tag| tag.hashed) && known.as_ref().is_some_and(|v| v.etag().is_some()) {
                // The lookup's or handler's validators name the resource
                // version, which the tags checked before the handler used;
                // they replace the ETagLayer's hash.
                parts.headers.remove(ETAG);
            }
            let layer_set = known.is_some_and(|v| apply_validators(&mut parts.headers, &v));
            if layer_set || identity.is_some() {
                // The tag names the identity bytes; a compression layer below
                // may have coded them. The ETagLayer's mark says one is there.
                tag_for_coding(&mut parts.headers, identity.is_some());
            }
            plan
        }
    }
}

/// A body being read whole, and what has arrived of it.
struct Collecting {
    parts: response::Parts,
    // The first chunk, kept apart: most bodies arrive in one, and then no
    // vector is allocated.
    first: Option<Bytes>,
    chunks: Vec<Bytes>,
    len: u64,
    trailers: Option<HeaderMap>,
    hash: bool,
}

impl Collecting {
    fn new(parts: response::Parts, hash: bool) -> Self {
        Self {
            parts,
            first: None,
            chunks: Vec::new(),
            len: 0,
            trailers: None,
            hash,
        }
    }

    /// Reads frames until the body ends, fails, or outgrows `max`; the
    /// error, if it failed.
    fn poll<B: Body>(
        &mut self,
        mut body: Pin<&mut B>,
        max: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Option<B::Error>> {
        loop {
            match ready!(body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => {
                        let bytes = data.copy_to_bytes(data.remaining());
                        self.len += bytes.len() as u64;
                        if bytes.is_empty() {
                        } else if self.first.is_none() && self.chunks.is_empty() {
                            self.first = Some(bytes);
                        } else {
                            self.chunks.extend(self.first.take());
                            self.chunks.push(bytes);
                        }
                        if self.len > max {
                            // The body announced a length it then exceeded:
                            // stop reading and hand on what was read, then
                            // the rest.
                            return Poll::Ready(None);
                        }
                        if body.is_end_stream() {
                            return Poll::Ready(None);
                        }
                    }
                    Err(frame) => {
                        if let Ok(more) = frame.into_trailers() {
                            self.trailers.get_or_insert_with(HeaderMap::new).extend(more);
                        }
                    }
                },
                Some(Err(error)) => return Poll::Ready(Some(error)),
                None => return Poll::Ready(None),
            }
        }
    }

    /// The response, once [`Collecting::poll`] is done with `rest`.
    fn finish<B: Body>(
        self,
        ctx: &RequestContext,
        rest: Pin<Box<B>>,
        failed: Option<B::Error>,
    ) -> Response<ConditionalBody<B>> {
        let Self {
            parts,
            first,
            mut chunks,
            len,
            trailers,
            hash,
        } = self;
        if failed.is_some() || len > ctx.settings.max_body {
            // The response goes on as the handler made it, error and all,
            // untagged.
            if let Some(first) = first {
                chunks.insert(0, first);
            }
            return Response::from_parts(parts, ConditionalBody::resume(chunks, failed, rest));
        }
        let data = match first {
            Some(only) => only,
            None => concat(chunks, len),
        };
        collected(ctx, parts, data, trailers, hash)
    }
}

fn concat(mut chunks: Vec<Bytes>, len: u64) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut buf = BytesMut::with_capacity(usize::try_from(len).unwrap_or(0));
            for chunk in chunks {
                buf.extend_from_slice(&chunk);
            }
            buf.freeze()
        }
    }
}

/// Finishes a response whose body the layer read.
fn collected<B: Body>(
    ctx: &RequestContext,
    mut parts: response::Parts,
    data: Bytes,
    trailers: Option<HeaderMap>,
    hash: bool,
) -> Response<ConditionalBody<B>> {
    if hash {
        let tag = body_tag(&data, &parts.headers);
        if ctx.settings.role == Role::Evaluate
            && let Some(sole) = &ctx.sole_if_none_match
            && sole.as_bytes() == tag.as_bytes()
        {
            // The common revalidation: one `If-None-Match` naming exactly the
            // strong tag just computed, and no `If-Match` or
            // `If-Unmodified-Since` before it in the §13.2.2 order. Identical
            // bytes of a valid tag match under the weak comparison (§13.1.2),
            // so this is the 304 the core would decide, without parsing the
            // list and the tag back. `If-Modified-Since` is ignored when
            // `If-None-Match` is present (§13.1.3), and a 304 comes before
            // `If-Range` (§13.2.2 step 3).
            parts.headers.insert(ETAG, tag);
            parts.status = StatusCode::NOT_MODIFIED;
            parts.headers = not_modified_headers(&parts.headers);
            return Response::from_parts(parts, ConditionalBody::empty());
        }
        parts.headers.insert(ETAG, tag);
    }
    match ctx.settings.role {
        Role::TagOnly => {
            if hash {
                parts.extensions.insert(IdentityTag { hashed: true });
            }
            Response::from_parts(parts, ConditionalBody::full(data, trailers))
        }
        Role::Evaluate => answer(ctx, parts, Content::Read { data, trailers }),
    }
}
