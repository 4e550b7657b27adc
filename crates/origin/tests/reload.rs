//! Reloading `revalidate serve`'s configuration while clients keep sending
//! requests, over real sockets on a real SQLite file: `[static]`
//! `Cache-Control` rules, `[api]` settings and `[edge_purge]` change
//! without a failed request; a broken file changes nothing; keys that need
//! a restart keep their running values.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use revalidate_listener::reload::Reload;
use revalidate_origin::config::OriginConfig;
use revalidate_origin::reload::ConfigReload;
use revalidate_origin::server::Origin;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The configuration file of the test: the tree and data directory, a
/// `Cache-Control` rule for `a.txt`, and whatever else `rest` says.
fn write_config(file: &Path, root: &Path, data: &Path, value: &str, rest: &str) {
    let text = format!(
        "root = {root:?}\ndata = {data:?}\n{rest}\n[static]\n[[static.cache_control]]\npattern = \"a.txt\"\nvalue = \"{value}\"\n"
    );
    std::fs::write(file, text).unwrap();
}

/// Runs `reload` off the async workers, as the server's reloader does.
async fn reload_now(reload: &Arc<ConfigReload>) -> Result<bool, String> {
    let reload = Arc::clone(reload);
    tokio::task::spawn_blocking(move || reload.reload())
        .await
        .unwrap()
}

/// A stand-in for an edge's purge API: answers every request `200` and
/// sends the request's body on.
async fn fake_edge() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut buffer).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request).into_owned();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let length = head
                        .lines()
                        .find_map(|line| {
                            let (name, value) = line.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() < length {
                        continue;
                    }
                    let _ = sender.send(body[..length].to_owned());
                    request.clear();
                    let answer =
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    if stream.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), receiver)
}

/// The reload under load: eight clients read a static file (plain and
/// conditional) and write through the API the whole time; the reloads
/// change the file's `Cache-Control`, make the API require preconditions,
/// move the API's prefix and start purging an edge. Not one request gets
/// an answer it should not; the ETag index survives the reloads (a
/// validator from before is still answered `304`); a broken file and
/// restart-only keys change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_under_load_fails_no_request() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "the static file").unwrap();
    let file = dir.path().join("serve.toml");
    write_config(&file, root.path(), data.path(), "max-age=60", "");
    let config = OriginConfig::from_file(&file).unwrap();
    let origin = Origin::open(&config).await.unwrap();
    let read_file = file.clone();
    let reload = Arc::new(origin.reloader(Box::new(move || {
        OriginConfig::from_file(&read_file).map_err(|e| e.to_string())
    })));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(origin.serve(listener, None, std::future::pending()));
    let client = reqwest::Client::new();
    let url = move |path: &str| format!("http://{addr}{path}");

    let first = client.get(url("/a.txt")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "max-age=60");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();

    // The load: every answer is checked against what either the old or
    // the new configuration may give; anything else is a failure.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for n in 0..8 {
        let (client, stop, failures, answered) = (
            client.clone(),
            Arc::clone(&stop),
            Arc::clone(&failures),
            Arc::clone(&answered),
        );
        let etag = etag.clone();
        clients.push(tokio::spawn(async move {
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let ok = match round % 3 {
                    0 => match client.get(url("/a.txt")).send().await {
                        Ok(r) => {
                            r.status() == 200
                                && matches!(
                                    r.headers()["cache-control"].to_str().unwrap(),
                                    "max-age=60" | "max-age=120"
                                )
                        }
                        Err(_) => false,
                    },
                    1 => match client
                        .get(url("/a.txt"))
                        .header("if-none-match", &etag)
                        .send()
                        .await
                    {
                        Ok(r) => r.status() == 304,
                        Err(_) => false,
                    },
                    // A create under either prefix: `201` where the API is
                    // mounted, the static tree's `405` where it is not, or
                    // `428` once preconditions are required (it sends none).
                    _ => {
                        let prefix = if round.is_multiple_of(2) { "/api" } else { "/v2" };
                        match client
                            .put(url(&format!("{prefix}/notes/c{n}-{round}")))
                            .json(&serde_json::json!({"n": round}))
                            .send()
                            .await
                        {
                            Ok(r) => matches!(r.status().as_u16(), 201 | 405 | 428),
                            Err(_) => false,
                        }
                    }
                };
                answered.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let answered_before = |n: u64| {
        let answered = Arc::clone(&answered);
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while answered.load(Ordering::Relaxed) < n {
                assert!(tokio::time::Instant::now() < deadline, "the load does not run");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    answered_before(100).await;

    // A new Cache-Control and required preconditions.
    write_config(
        &file,
        root.path(),
        data.path(),
        "max-age=120",
        "[api]\nrequire_preconditions = [\"*\"]",
    );
    assert_eq!(reload_now(&reload).await, Ok(true));
    let now = client.get(url("/a.txt")).send().await.unwrap();
    assert_eq!(now.headers()["cache-control"], "max-age=120");
    assert_eq!(
        now.headers()["etag"].to_str().unwrap(),
        etag,
        "the ETag index is kept"
    );
    let refused = client
        .put(url("/api/notes/unguarded"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 428);
    assert_eq!(reload_now(&reload).await, Ok(false), "nothing changed");
    let seen = answered.load(Ordering::Relaxed);
    answered_before(seen + 100).await;

    // A broken file changes nothing.
    std::fs::write(&file, "[api]\nbody_limit = \"lots\"\n").unwrap();
    let why = reload_now(&reload).await.unwrap_err();
    assert!(why.contains("body_limit"), "{why}");
    assert_eq!(
        client.get(url("/a.txt")).send().await.unwrap().headers()["cache-control"],
        "max-age=120"
    );

    // The API moves and an edge is purged after each write; `listen`
    // needs a restart and keeps its running value.
    let (edge, mut purges) = fake_edge().await;
    write_config(
        &file,
        root.path(),
        data.path(),
        "max-age=120",
        &format!(
            "listen = \"127.0.0.1:1\"\n[api]\nprefix = \"/v2/\"\n[edge_purge]\nedges = [\"{edge}\"]\ntoken = \"0123456789abcdef\"\n"
        ),
    );
    assert_eq!(reload_now(&reload).await, Ok(true));
    let created = client
        .put(url("/v2/notes/purged"))
        .json(&serde_json::json!({"x": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(
        client
            .get(url("/api/notes/purged"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // The clients' writes are purged too; this one's purge is among them.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !purges.recv().await.unwrap().contains("\"/v2/notes/purged\"") {}
    })
    .await
    .expect("the write's purge did not reach the edge");
    let seen = answered.load(Ordering::Relaxed);
    answered_before(seen + 100).await;

    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed or got a wrong answer during the reloads ({} answered)",
        answered.load(Ordering::Relaxed)
    );
}
