//! The one place where errors become HTTP responses: engine error kind → status, and the
//! body `{"message": ...}` with `Content-Type: application/json` exactly (the Go client
//! compares the header verbatim). Requests with a URL version below 1.24 get plain text; the
//! version layer converts those, using the marker this module leaves on error responses.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_engine::{Error, ErrorKind};
use http::{HeaderValue, StatusCode, header};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

/// Left in an error response's extensions so the version layer can re-render it.
#[derive(Clone, Debug)]
struct ErrorMessage(String);

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::InvalidParameter => StatusCode::BAD_REQUEST,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        if e.kind == ErrorKind::Internal {
            tracing::error!(error = %e.message, "internal error");
        }
        ApiError::new(status_for(e.kind), e.message)
    }
}

/// Serializes `{"message": ...}` plus the trailing newline Go's encoder writes.
pub fn message_body(message: &str) -> Vec<u8> {
    let mut body = serde_json::to_vec(&serde_json::json!({ "message": message }))
        .unwrap_or_else(|_| b"{}".to_vec());
    body.push(b'\n');
    body
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::NOT_MODIFIED {
            // Go drops the body of a 304.
            let mut r = Response::new(Body::empty());
            *r.status_mut() = self.status;
            return r;
        }
        let mut r = Response::new(Body::from(message_body(&self.message)));
        *r.status_mut() = self.status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r.extensions_mut().insert(ErrorMessage(self.message));
        r
    }
}

/// Re-renders an error response as `http.Error` does: text/plain, message and newline.
pub async fn to_plain_text(resp: Response) -> Response {
    let Some(ErrorMessage(message)) = resp.extensions().get::<ErrorMessage>().cloned() else {
        return resp;
    };
    let status = resp.status();
    let mut r = Response::new(Body::from(format!("{message}\n")));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "X-Content-Type-Options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Unknown routes and wrong methods: 404 `page not found`, without the version headers.
pub async fn page_not_found(body: Body) -> Response {
    crate::stream::drain(body, DRAIN_LIMIT).await;
    ApiError::not_found("page not found").into_response()
}

/// How much of an unwanted request body is read before answering an error.
pub const DRAIN_LIMIT: usize = 64 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_moby_statuses() {
        assert_eq!(status_for(ErrorKind::NotFound), 404);
        assert_eq!(status_for(ErrorKind::InvalidParameter), 400);
        assert_eq!(status_for(ErrorKind::Conflict), 409);
        assert_eq!(status_for(ErrorKind::NotModified), 304);
        assert_eq!(status_for(ErrorKind::Unavailable), 503);
        assert_eq!(status_for(ErrorKind::Internal), 500);
    }

    #[test]
    fn body_is_go_json_with_newline_and_no_html_escaping() {
        assert_eq!(
            message_body("a <b> & \"c\""),
            b"{\"message\":\"a <b> & \\\"c\\\"\"}\n".to_vec()
        );
    }

    #[tokio::test]
    async fn plain_text_rendering() {
        let r = to_plain_text(ApiError::not_found("No such container: x").into_response()).await;
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
        let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"No such container: x\n");
    }
}
