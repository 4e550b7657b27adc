//! `read-after-write-one-edge` and `read-after-write-two-edges`: an API
//! object of `revalidate serve` is `Cache-Control: no-cache`, so an edge
//! must revalidate it on every use; a read that *starts* after a write
//! *returned* must therefore see that version or a newer one.
//!
//! One writer loops over conditional writes (`PUT` with `If-Match`),
//! whose bodies carry an increasing `version`, while 50 readers read
//! through the edge(s) as fast as they can. Each write's return and each
//! read's start are taken from one monotonic clock (this process's); a
//! read whose version is older than the last write returned before it
//! started is stale.
//!
//! With one edge, writes alternate between the edge and the origin
//! directly; with two edges in front of one origin, readers are split
//! between them and writes rotate over the origin and both edges.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Context, client, header};
use crate::load;
use crate::process::{ConfigFile, Server, server_notes};
use crate::report::Observation;

pub(crate) const EXPECTED_ONE: &str = "a no-cache API object behind one edge; 500 writes (PUT If-Match), \
                                       alternately through the edge and straight to the origin, while 50 \
                                       readers read through the edge: every read that started after a write \
                                       returned sees that version or newer (0 stale reads)";
pub(crate) const EXPECTED_TWO: &str = "the same behind two edges in front of one origin (readers split between \
                                       them, writes rotating over the origin and both edges): 0 stale reads";

/// Where the readers and writes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    OneEdge,
    TwoEdges,
}

const READERS: usize = 50;
const WRITES: u64 = 500;
/// Fewer checked reads than this and the run proved nothing.
const MIN_CHECKED_READS: usize = 500;

/// One read: when it started and what it saw.
struct Read {
    started: Instant,
    version: Result<u64, String>,
}

pub(crate) async fn run(ctx: Arc<Context>, layout: Layout) -> anyhow::Result<Observation> {
    let origin = Server::origin(&ctx, "origin", ConfigFile::new()).await?;
    let mut edges = vec![Server::edge(&ctx, "edge 1", &origin.url(""), ConfigFile::new()).await?];
    if layout == Layout::TwoEdges {
        edges.push(Server::edge(&ctx, "edge 2", &origin.url(""), ConfigFile::new()).await?);
    }
    let path = format!("/api/raw/doc-{}", ctx.run_id);
    let writer = client();
    let created = writer
        .put(origin.url(&path))
        .json(&document(0))
        .send()
        .await
        .context("create")?;
    if !created.status().is_success() {
        bail!("creating {path} answered {}", created.status());
    }
    let mut etag = header(&created, "etag").context("no ETag")?;
    let edge_urls: Arc<Vec<String>> = Arc::new(edges.iter().map(|e| e.url(&path)).collect());
    for url in edge_urls.iter() {
        let warm = writer.get(url).send().await?;
        if !warm.status().is_success() {
            bail!("the first read through an edge answered {}", warm.status());
        }
    }

    let readers: Arc<Vec<reqwest::Client>> = Arc::new((0..edge_urls.len()).map(|_| client()).collect());
    let urls = Arc::clone(&edge_urls);
    let reads = load::start(READERS, move |worker| {
        let (urls, readers) = (Arc::clone(&urls), Arc::clone(&readers));
        async move {
            let edge = worker % urls.len();
            let started = Instant::now();
            let version = read_version(&readers[edge], &urls[edge]).await;
            Read { started, version }
        }
    });

    // Write `version` k through the k-th target of the rotation; note when each returned.
    let mut targets = vec![origin.url(&path)];
    targets.extend(edge_urls.iter().cloned());
    let mut returned: Vec<(Instant, u64)> = Vec::new();
    let mut write_failures = Vec::new();
    for version in 1..=WRITES {
        let url = &targets[version as usize % targets.len()];
        match write(&writer, url, &etag, version).await {
            Ok(new_etag) => {
                returned.push((Instant::now(), version));
                etag = new_etag;
            }
            Err(e) => {
                write_failures.push(format!("version {version}: {e:#}"));
                break;
            }
        }
    }
    // Let the readers run a little past the last write.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reads = reads.stop(Duration::from_secs(30)).await;

    let mut checked = 0usize;
    let mut stale = Vec::new();
    let mut errors = Vec::new();
    for read in &reads {
        let version = match &read.version {
            Ok(version) => *version,
            Err(e) => {
                errors.push(e.clone());
                continue;
            }
        };
        // The newest write that returned before this read started.
        let before = returned.partition_point(|(at, _)| *at < read.started);
        let Some(&(_, required)) = before.checked_sub(1).and_then(|i| returned.get(i)) else {
            continue;
        };
        checked += 1;
        if version < required {
            stale.push((required, version));
        }
    }
    errors.sort();
    let error_kinds = {
        let mut kinds = errors.clone();
        kinds.dedup();
        kinds
    };
    let pass =
        stale.is_empty() && errors.is_empty() && write_failures.is_empty() && checked >= MIN_CHECKED_READS;
    let observed = format!(
        "{} stale reads of {checked} checked ({} reads in all, {} failed); {} of {WRITES} writes returned",
        stale.len(),
        reads.len(),
        errors.len(),
        returned.len()
    );
    let mut observation = Observation::judged(pass, observed);
    if let Some((required, seen)) = stale.first() {
        observation = observation.detail(format!(
            "first stale read: saw version {seen} after version {required} had been written"
        ));
    }
    if checked < MIN_CHECKED_READS {
        observation = observation.detail(format!(
            "too few reads started after a write returned to judge (fewer than {MIN_CHECKED_READS})"
        ));
    }
    if !error_kinds.is_empty() {
        observation = observation.detail(format!("failed reads: {}", error_kinds.join("; ")));
    }
    if !write_failures.is_empty() {
        observation = observation.detail(format!("failed write: {}", write_failures.join("; ")));
    }
    let mut servers = vec![&origin];
    servers.extend(edges.iter());
    Ok(observation.details(server_notes(servers)))
}

fn document(version: u64) -> Value {
    json!({ "version": version, "text": "read after write ".repeat(8) })
}

async fn read_version(http: &reqwest::Client, url: &str) -> Result<u64, String> {
    let response = http.get(url).send().await.map_err(|e| format!("GET: {e}"))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("status {status}"));
    }
    let body: Value = response.json().await.map_err(|e| format!("body: {e}"))?;
    body["version"]
        .as_u64()
        .ok_or_else(|| "no version in the body".to_owned())
}

/// One conditional write; the new ETag once it has returned.
async fn write(http: &reqwest::Client, url: &str, etag: &str, version: u64) -> anyhow::Result<String> {
    let response = http
        .put(url)
        .header("if-match", etag)
        .json(&document(version))
        .send()
        .await?;
    let status = response.status();
    let new_etag = header(&response, "etag");
    // The write has returned once its whole response has been read.
    let _ = response.bytes().await?;
    if !status.is_success() {
        bail!("PUT answered {status}");
    }
    new_etag.context("the PUT answer has no ETag")
}
