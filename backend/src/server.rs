//! Serving the router over TCP with the limits a public service needs: a connection that does not
//! finish its request head in time is closed (slowloris), a request that takes too long is
//! answered 408, and the answers hyper gives by itself to a head it cannot parse carry the same
//! JSON error body as every other refusal.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

use crate::ApiError;

/// How long a client may take. `from_env` reads `HEADER_READ_TIMEOUT_MS` and `REQUEST_TIMEOUT_MS`.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From the first byte of a request head to its end; past it the connection is closed.
    pub header_read: Duration,
    /// From the end of the head to the end of the response (the body's upload included).
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    pub fn from_env() -> Result<Timeouts, String> {
        let defaults = Timeouts::default();
        let millis = |name: &str, default: Duration| match std::env::var(name) {
            Err(_) => Ok(default),
            Ok(text) => match text.trim().parse::<u64>() {
                Ok(millis) if millis > 0 => Ok(Duration::from_millis(millis)),
                _ => Err(format!(
                    "invalid {name}: {text:?} is not a positive number of milliseconds"
                )),
            },
        };
        Ok(Timeouts {
            header_read: millis("HEADER_READ_TIMEOUT_MS", defaults.header_read)?,
            request: millis("REQUEST_TIMEOUT_MS", defaults.request)?,
        })
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the requests under way finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) {
    let request_timeout = timeouts.request;
    let app = app.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| async move {
            tokio::time::timeout(request_timeout, next.run(request))
                .await
                .unwrap_or_else(|_| ApiError::Timeout(request_timeout.as_millis()).into_response())
        },
    ));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(%error, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small answers go out at once rather than wait on Nagle's algorithm, as `axum::serve` does.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "setting TCP_NODELAY");
        }
        let connection = http.serve_connection(
            TokioIo::new(JsonRefusals::new(stream)),
            TowerToHyperService::new(app.clone()),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
        });
    }
    graceful.shutdown().await;
}

/// hyper answers a request head it cannot parse (400, 414, 431) by itself, with an empty body and
/// without calling the service, then closes the connection. This stream recognises such an answer
/// on its way out (a write that is exactly one 4xx head with `content-length: 0` and no content
/// type, which the service never sends) and writes the documented JSON error in its place.
struct JsonRefusals<S> {
    inner: S,
    replacement: Option<Replacement>,
}

struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    /// How many of hyper's bytes it replaces: what hyper is told was written.
    replaces: usize,
}

impl<S> JsonRefusals<S> {
    fn new(inner: S) -> Self {
        JsonRefusals {
            inner,
            replacement: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonRefusals<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> JsonRefusals<S> {
    /// Writes the replacement under way, if any: `Some(n)` once done, `n` hyper's replaced bytes.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<usize>>> {
        let Some(replacement) = &mut self.replacement else {
            return Poll::Ready(Ok(None));
        };
        while replacement.written < replacement.bytes.len() {
            let written =
                ready!(Pin::new(&mut self.inner)
                    .poll_write(cx, &replacement.bytes[replacement.written..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            replacement.written += written;
        }
        let replaces = replacement.replaces;
        self.replacement = None;
        Poll::Ready(Ok(Some(replaces)))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonRefusals<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacement.is_none() {
            match json_refusal(buf) {
                Some(bytes) => {
                    this.replacement = Some(Replacement {
                        bytes,
                        written: 0,
                        replaces: buf.len(),
                    })
                }
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        let replaced = ready!(this.poll_replacement(cx))?;
        Poll::Ready(Ok(replaced.unwrap_or(0)))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|buf| !buf.is_empty());
        if this.replacement.is_some() || first.is_some_and(|buf| json_refusal(buf).is_some()) {
            return Pin::new(this).poll_write(cx, first.map_or(&[][..], |buf| &buf[..]));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// The JSON answer to write instead of `head` when `head` is hyper's own empty refusal.
fn json_refusal(head: &[u8]) -> Option<Vec<u8>> {
    if !head.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let mut headers = [httparse::EMPTY_HEADER; 8];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(length) = response.parse(head).ok()? else {
        return None;
    };
    let empty = response
        .headers
        .iter()
        .any(|header| header.name.eq_ignore_ascii_case("content-length") && header.value == b"0");
    let typed = response
        .headers
        .iter()
        .any(|header| header.name.eq_ignore_ascii_case("content-type"));
    if length != head.len() || !empty || typed {
        return None;
    }
    let error = match StatusCode::from_u16(response.code?).ok()? {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::HeadTooLarge,
        StatusCode::URI_TOO_LONG => ApiError::UriTooLong,
        _ => ApiError::BadRequest("the request head is malformed".into()),
    };
    let (status, _) = error.status_and_code();
    let body = error.body().to_string();
    let mut answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for header in response.headers.iter() {
        if !header.name.eq_ignore_ascii_case("content-length") {
            answer.push_str(header.name);
            answer.push_str(": ");
            answer.push_str(&String::from_utf8_lossy(header.value));
            answer.push_str("\r\n");
        }
    }
    answer.push_str("\r\n");
    answer.push_str(&body);
    Some(answer.into_bytes())
}
