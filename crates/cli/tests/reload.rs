//! `revalidate serve` reads `--config` again on `SIGHUP` (the edge's
//! reload is tested in `edge`).

use std::time::Duration;

use crate::support::Server;

/// A new `Cache-Control` rule is in force once the signal is handled, a
/// broken file changes nothing, the server keeps serving throughout, and
/// the flags still win over the file.
#[tokio::test]
async fn serve_reloads_its_config_file_on_sighup() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "a").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serve.toml");
    let rule = |value: &str| format!("[[static.cache_control]]\npattern = \"a.txt\"\nvalue = \"{value}\"\n");
    // `root` in the file is overridden by `--root`, before and after the
    // reload.
    std::fs::write(&file, format!("root = \"/nonexistent\"\n{}", rule("max-age=1"))).unwrap();
    let server = Server::start(&[
        "--root",
        root.path().to_str().unwrap(),
        "--data",
        data.path().to_str().unwrap(),
        "--config",
        file.to_str().unwrap(),
    ]);
    let client = reqwest::Client::new();
    let cache_control = || {
        let request = client.get(server.url("/a.txt"));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.headers()["cache-control"].to_str().unwrap().to_owned()
        }
    };
    let until = |value: &'static str| {
        let cache_control = &cache_control;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while cache_control().await != value {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{value} not in force after SIGHUP"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(cache_control().await, "max-age=1");

    std::fs::write(&file, format!("root = \"/nonexistent\"\n{}", rule("max-age=2"))).unwrap();
    server.signal("HUP");
    until("max-age=2").await;

    // A broken file is refused; the next good one is read.
    std::fs::write(&file, "[static]\ncache_control = 3\n").unwrap();
    server.signal("HUP");
    std::fs::write(&file, format!("root = \"/nonexistent\"\n{}", rule("max-age=3"))).unwrap();
    server.signal("HUP");
    until("max-age=3").await;
}
