//! A mocked API server for tests (feature `test-support`): kube's
//! [`Client`] over tower-test's mock service, answering each call from a
//! closure and recording what was asked. The scaler's and the bench's
//! tests share it.

use std::pin::pin;

use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::Value;
use tokio::task::JoinHandle;
use tower_test::mock;

/// The test's end of a mocked client.
pub type MockHandle = mock::Handle<Request<Body>, Response<Body>>;

/// One call the code under test made.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Query string (empty when none).
    pub query: String,
    /// `content-type` of the request.
    pub content_type: String,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

/// A client whose calls go to the returned handle.
pub fn mock_client(namespace: &str) -> (Client, MockHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, namespace), handle)
}

/// Serves up to `n` calls: each gets `answer(&call)`'s status and body (a
/// JSON string value is sent as raw text). Returns the calls once `n` were
/// made or the client went away. A panic in `answer` (a failed assertion
/// about the call) fails the test when the handle is awaited.
pub fn serve(
    handle: MockHandle,
    n: usize,
    mut answer: impl FnMut(usize, &Seen) -> (u16, Value) + Send + 'static,
) -> JoinHandle<Vec<Seen>> {
    tokio::spawn(async move {
        let mut handle = pin!(handle);
        let mut seen = Vec::new();
        for i in 0..n {
            let Some((req, send)) = handle.next_request().await else {
                break;
            };
            let (parts, body) = req.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let call = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or("").to_owned(),
                content_type: parts
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let (status, body) = answer(i, &call);
            let text = match body {
                Value::String(t) => t.into_bytes(),
                other => serde_json::to_vec(&other).unwrap_or_default(),
            };
            seen.push(call);
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(text));
            match response {
                Ok(r) => send.send_response(r),
                Err(_) => break,
            }
        }
        seen
    })
}

/// A Kubernetes `Status` failure body with `code` and `reason`.
pub fn failure(code: u16, reason: &str) -> Value {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": format!("injected {code}"), "reason": reason, "code": code})
}
