//! Two `revalidate serve` processes on one PostgreSQL database, as behind
//! a load balancer: the same validators on both, and no lost update when
//! clients race through both nodes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::support::{Server, postgres_url, sample_root};

/// A database of its own for this run, so runs and tests never collide.
async fn fresh_database(url: &str) -> String {
    let (server, _) = url.rsplit_once('/').unwrap();
    let name = format!(
        "revalidate_two_nodes_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    // The name is built above from digits and a fixed prefix, never from input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    format!("{server}/{name}")
}

fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_validators_and_lose_no_update() {
    let Some(url) = postgres_url("two_nodes_share_validators_and_lose_no_update") else {
        return;
    };
    let database = fresh_database(&url).await;
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let root = sample_root().to_str().unwrap();
    let node = |data: &tempfile::TempDir| {
        Server::start(&[
            "--root",
            root,
            "--data",
            data.path().to_str().unwrap(),
            "--database",
            &database,
        ])
    };
    let (a, b) = (node(&data_a), node(&data_b));
    let client = reqwest::Client::new();

    // Static files: the content hash is the same on every node, whatever
    // each node's index, inode numbers or data directory.
    for path in ["/", "/assets/site.3f9a2b1c.css", "/robots.txt"] {
        let from_a = client.get(a.url(path)).send().await.unwrap();
        let from_b = client.get(b.url(path)).send().await.unwrap();
        assert_eq!(from_a.status(), StatusCode::OK, "{path}");
        assert_eq!(etag(&from_a), etag(&from_b), "{path}");
        assert_eq!(
            from_a.headers()["last-modified"],
            from_b.headers()["last-modified"],
            "{path}"
        );
        // A tag from one node revalidates on the other.
        let cross = client
            .get(b.url(path))
            .header("if-none-match", etag(&from_a))
            .send()
            .await
            .unwrap();
        assert_eq!(cross.status(), StatusCode::NOT_MODIFIED, "{path}");
    }

    // API resources: written on A, read on B with the same validators.
    let created = client
        .put(a.url("/api/counters/shared"))
        .header("if-none-match", "*")
        .json(&json!({"count": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let read_b = client.get(b.url("/api/counters/shared")).send().await.unwrap();
    assert_eq!(etag(&created), etag(&read_b));
    assert_eq!(
        created.headers()["last-modified"],
        read_b.headers()["last-modified"]
    );

    // Read-modify-write through both nodes at once.
    let nodes = Arc::new([a.url("/api/counters/shared"), b.url("/api/counters/shared")]);
    let successes = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for worker in 0..8usize {
        let (nodes, client) = (nodes.clone(), client.clone());
        let (successes, conflicts) = (successes.clone(), conflicts.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..10usize {
                loop {
                    // Read on one node, write on the other.
                    let (read_node, write_node) =
                        (&nodes[(worker + round) % 2], &nodes[(worker + round + 1) % 2]);
                    let read = client.get(read_node).send().await.unwrap();
                    let tag = etag(&read);
                    let count = read.json::<Value>().await.unwrap()["count"].as_u64().unwrap();
                    let write = client
                        .put(write_node)
                        .header("if-match", &tag)
                        .json(&json!({"count": count + 1}))
                        .send()
                        .await
                        .unwrap();
                    match write.status() {
                        StatusCode::OK => {
                            successes.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        StatusCode::PRECONDITION_FAILED => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("unexpected status {other}: {}", write.text().await.unwrap()),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let final_a: Value = client
        .get(a.url("/api/counters/shared"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let final_b: Value = client
        .get(b.url("/api/counters/shared"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let successes = successes.load(Ordering::Relaxed);
    assert_eq!(successes, 80);
    assert_eq!(
        final_a["count"].as_u64().unwrap(),
        successes,
        "{} conflicts",
        conflicts.load(Ordering::Relaxed)
    );
    assert_eq!(final_a, final_b);

    // Graceful shutdown on SIGTERM.
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}
