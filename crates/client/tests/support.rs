//! Servers for the tests, each on 127.0.0.1:0 and stopped when the test's
//! runtime ends.

use std::net::SocketAddr;
use std::path::Path;

use revalidate_origin::config::OriginConfig;
use revalidate_origin::server::Origin;

/// `revalidate serve` with a static tree and a real SQLite file in temp
/// directories.
pub(crate) struct Served {
    pub(crate) addr: SocketAddr,
    pub(crate) root: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Served {
    /// Starts an origin whose static root holds `files`.
    pub(crate) async fn start(files: &[(&str, &[u8])]) -> Self {
        let root = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            write(root.path(), name, bytes);
        }
        let config = OriginConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            root: root.path().to_path_buf(),
            data: data.path().to_path_buf(),
            ..OriginConfig::default()
        };
        let origin = Origin::open(&config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(origin.serve(listener, None, std::future::pending()));
        Self {
            addr,
            root,
            _data: data,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

pub(crate) fn write(root: &Path, name: &str, bytes: &[u8]) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Serves an axum router on 127.0.0.1:0 and returns its base URL.
pub(crate) async fn serve_router(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}
