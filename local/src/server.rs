//! A local HTTP entry point over the same handler the Lambda functions run: every path of the
//! route table, converted to and from the `lambda_http` request and response types.
//!
//! Every answer is the handler's, problem+json included, even for requests hyper would refuse
//! on its own with a bare status: the request head is read and bounded here first (414 for a
//! request line over `MAX_REQUEST_LINE`, 431 for a head over `MAX_HEAD` or more than
//! `MAX_HEADERS` fields), and the body limit is the handler's 413. One request per connection
//! keeps that first look at every request.

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use shared::{
    web::{problem::MAX_BODY_BYTES, ApiError, Router},
    App,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
};

/// API Gateway's own bounds are about these: 10 KB for the request line and headers together.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
pub const MAX_HEAD: usize = 16 * 1024;
pub const MAX_HEADERS: usize = 100;
/// A client that sends its request head slower than this is cut off.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections on `listener` until `shutdown` resolves.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            if let Err(error) = serve_connection(app, stream).await {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
    }
}

async fn serve_connection(app: Arc<App>, mut stream: TcpStream) -> std::io::Result<()> {
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Head::Complete(bytes))) => bytes,
        Ok(Ok(Head::Refused(error))) => return refuse(stream, error).await,
        Ok(Ok(Head::Closed)) | Err(_) => return Ok(()),
        Ok(Err(e)) => return Err(e),
    };
    let service = service_fn(move |req| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(handle(&app, req).await) }
    });
    http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(Rewind::new(head, stream)), service)
        .await
        .map_err(std::io::Error::other)
}

enum Head {
    /// The bytes read so far, the whole head among them.
    Complete(Vec<u8>),
    Refused(ApiError),
    Closed,
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Head> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        let line_end = find(&buf, b"\r\n");
        if line_end.map_or(buf.len(), |end| end) > MAX_REQUEST_LINE {
            return Ok(Head::Refused(ApiError::UriTooLong));
        }
        match find(&buf, b"\r\n\r\n") {
            Some(end) if end + 4 > MAX_HEAD => return Ok(Head::Refused(ApiError::HeadersTooLarge)),
            Some(end) => {
                let fields = buf[..end].windows(2).filter(|w| w == b"\r\n").count();
                if fields > MAX_HEADERS {
                    return Ok(Head::Refused(ApiError::HeadersTooLarge));
                }
                return Ok(Head::Complete(buf));
            }
            None if buf.len() > MAX_HEAD => return Ok(Head::Refused(ApiError::HeadersTooLarge)),
            None => {}
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Answers a request refused before hyper saw it, then drains what the client still sends so
/// the answer is not lost to a reset.
async fn refuse(mut stream: TcpStream, error: ApiError) -> std::io::Result<()> {
    let request_id = uuid::Uuid::now_v7().to_string();
    let response = error.into_response(&request_id);
    let status = response.status();
    let mut raw = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in response.headers() {
        raw.push_str(&format!("{}: {}\r\n", name, value.to_str().unwrap_or("")));
    }
    let body: &[u8] = response.body().as_ref();
    raw.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(raw.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await?;
    let mut sink = [0u8; 8192];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while stream.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    })
    .await;
    Ok(())
}

/// A stream that first replays bytes already read from it.
struct Rewind {
    prefix: Vec<u8>,
    at: usize,
    inner: TcpStream,
}

impl Rewind {
    fn new(prefix: Vec<u8>, inner: TcpStream) -> Self {
        Rewind { prefix, at: 0, inner }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.at < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.at);
            let start = self.at;
            buf.put_slice(&self.prefix[start..start + n]);
            self.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn handle(app: &App, req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let response = match http_body_util::Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            let body = if bytes.is_empty() {
                Body::Empty
            } else {
                Body::Binary(bytes.to_vec())
            };
            shared::web::handle(app, Router::all(), lambda_http::Request::from_parts(parts, body)).await
        }
        Err(error) => {
            let error = if error.is::<http_body_util::LengthLimitError>() {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("the request body could not be read".into())
            };
            error.into_response(&uuid::Uuid::now_v7().to_string())
        }
    };
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(data) => Bytes::from(data),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}
