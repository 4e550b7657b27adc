//! The JSON API on a real SQLite file, served on a real socket, and the
//! helpers its tests share.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use revalidate_origin::api::{self, ApiSettings};
use revalidate_origin::metrics::Metrics;
use revalidate_origin::server;
use serde_json::Value;

pub(crate) struct Api {
    pub(crate) addr: SocketAddr,
    client: reqwest::Client,
    /// The SQLite file's URL, for tests that lock it from outside.
    pub(crate) database: String,
    _data: tempfile::TempDir,
}

impl Api {
    pub(crate) async fn start() -> Self {
        Self::start_with(vec!["guarded".into()]).await
    }

    pub(crate) async fn start_with(require_preconditions: Vec<String>) -> Self {
        Self::start_with_settings(
            require_preconditions,
            Duration::from_secs(30),
            Duration::from_secs(10),
        )
        .await
    }

    pub(crate) async fn start_with_settings(
        require_preconditions: Vec<String>,
        body_read_timeout: Duration,
        database_timeout: Duration,
    ) -> Self {
        Self::launch(
            require_preconditions,
            body_read_timeout,
            database_timeout,
            revalidate_origin::clock::system_clock(),
        )
        .await
    }

    /// The default settings, reading the time from `clock`.
    pub(crate) async fn start_with_clock(clock: revalidate_origin::clock::SharedClock) -> Self {
        Self::launch(
            vec!["guarded".into()],
            Duration::from_secs(30),
            Duration::from_secs(10),
            clock,
        )
        .await
    }

    async fn launch(
        require_preconditions: Vec<String>,
        body_read_timeout: Duration,
        database_timeout: Duration,
        clock: revalidate_origin::clock::SharedClock,
    ) -> Self {
        let data = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", data.path().join("api.db").display());
        let options = revalidate_store::StoreOptions {
            timeout: database_timeout,
            ..revalidate_store::StoreOptions::default()
        };
        let store = revalidate_store::open_with(&url, options).await.unwrap();
        let settings = ApiSettings {
            prefix: "/api/".into(),
            body_limit: 4096,
            require_preconditions,
            body_read_timeout,
            clock,
        };
        let metrics = Metrics::new();
        let app = server::app(api::router(store, settings), "/api/", None, &metrics, true);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(server::serve(listener, app, None, std::future::pending()));
        Self {
            addr,
            client: reqwest::Client::new(),
            database: url,
            _data: data,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub(crate) async fn put_json(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.request(reqwest::Method::PUT, path).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }
}

pub(crate) fn etag(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("etag")
        .expect("ETag")
        .to_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    body
}
