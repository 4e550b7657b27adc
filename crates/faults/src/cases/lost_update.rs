//! `lost-update-*`: two writers read the same version of a resource and
//! race their conditional writes (PUT, PATCH, DELETE) guarded by
//! `If-Unmodified-Since: <Last-Modified>` or `If-Match: <ETag>`. Of two
//! such writers at most one may succeed (RFC 9110 §13.1.1, §13.1.4): both
//! getting a 2xx is a lost update.
//!
//! Each round writes a fresh resource and races right away, in the same
//! second as its `Last-Modified` (a round that would start in the last
//! fifth of a second waits for the next one): that is where a
//! one-second-resolution date cannot tell two writes apart. Over
//! PostgreSQL the two writers go to two `revalidate serve` nodes sharing
//! the database, as behind a load balancer.
//!
//! A spurious `412` is allowed (the client re-fetches and retries), a
//! livelock is not: after the rounds, a writer refused with `412`
//! re-reads, in a later second if needed, and must succeed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use reqwest::Method;
use serde_json::json;
use tokio::sync::Barrier;

use super::{Context, client, header};
use crate::process::{ConfigFile, Server, server_notes};
use crate::report::Observation;

pub(crate) const EXPECTED: &str = "never both racing writers 2xx (0 lost updates) over the rounds; a writer \
                                   refused with 412 that re-reads and retries succeeds";

/// The validator the writers send.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Guard {
    IfUnmodifiedSince,
    IfMatch,
}

/// Where the resource lives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    /// One `revalidate serve` on its SQLite file; both writers to it.
    Sqlite,
    /// Two `revalidate serve` nodes on one PostgreSQL database; one writer each.
    PostgresTwoNodes,
}

/// The methods of the two writers, by round.
const PAIRS: [(Method, Method); 5] = [
    (Method::PUT, Method::PUT),
    (Method::PUT, Method::PATCH),
    (Method::PATCH, Method::PATCH),
    (Method::PUT, Method::DELETE),
    (Method::PATCH, Method::DELETE),
];

pub(crate) async fn run(ctx: Arc<Context>, guard: Guard, backend: Backend) -> anyhow::Result<Observation> {
    let servers = match backend {
        Backend::Sqlite => vec![Server::origin(&ctx, "origin", ConfigFile::new()).await?],
        Backend::PostgresTwoNodes => {
            let Some(url) = ctx.postgres.as_deref() else {
                return Ok(Observation::skipped(
                    "no PostgreSQL: pass --postgres URL or set REVALIDATE_TEST_PG_URL (scripts/faults.sh starts one)",
                ));
            };
            let config = ConfigFile::new().set("database", url);
            // One after the other: the first runs the migrations.
            let a = Server::origin(&ctx, "node a", config.clone()).await?;
            let b = Server::origin(&ctx, "node b", config).await?;
            vec![a, b]
        }
    };
    let nodes = [servers[0].url("/api/"), servers[servers.len() - 1].url("/api/")];
    let collection = format!(
        "race-{}-{}",
        match guard {
            Guard::IfUnmodifiedSince => "ius",
            Guard::IfMatch => "im",
        },
        ctx.run_id
    );
    let writers = [client(), client()];
    let mut tally = Tally::default();
    for round in 0..ctx.rounds {
        let resource = format!("{collection}/r{round}");
        let (a, b) = PAIRS[round % PAIRS.len()].clone();
        let result = race(&writers, &nodes, &resource, guard, round, [a.clone(), b.clone()]).await?;
        tally.record(&a, &b, result);
    }
    let liveness = liveness(&writers, &nodes, &format!("{collection}/live"), guard).await;
    let stale_retry_accepted = matches!(liveness, Ok(1));
    let pass = tally.lost == 0 && tally.server_errors == 0 && liveness.is_ok() && !stale_retry_accepted;
    let observed = format!(
        "{} lost updates (both 2xx) in {} rounds; one winner: {}; both refused: {}; statuses {}; \
         races within the Last-Modified second: {}; liveness: {}",
        tally.lost,
        ctx.rounds,
        tally.one_winner,
        tally.none,
        tally.statuses_text(),
        tally.same_second,
        match &liveness {
            Ok(1) => "the second writer's stale write was accepted at once (a lost update too)".to_owned(),
            Ok(tries) => format!("the refused writer succeeded on try {tries} after re-reading"),
            Err(e) => format!("FAILED: {e:#}"),
        }
    );
    let mut observation = Observation::judged(pass, observed).details(tally.by_pair_lines());
    if tally.server_errors > 0 {
        observation = observation.detail(format!(
            "{} answers were 5xx other than 503 (a store failure is never a 500)",
            tally.server_errors
        ));
    }
    if let Some(error) = &tally.first_error {
        observation = observation.detail(format!("first request error: {error}"));
    }
    Ok(observation.details(server_notes(&servers)))
}

/// What one round's writers got: a status each, or a transport error.
struct RoundResult {
    a: Result<u16, String>,
    b: Result<u16, String>,
    same_second: bool,
}

/// One round: create the resource, both writers read it (each from its
/// node), then both write at once with the validator they read.
async fn race(
    writers: &[reqwest::Client; 2],
    nodes: &[String; 2],
    resource: &str,
    guard: Guard,
    round: usize,
    methods: [Method; 2],
) -> anyhow::Result<RoundResult> {
    wait_if_late_in_the_second().await;
    let created = writers[0]
        .put(format!("{}{resource}", nodes[0]))
        .json(&json!({ "round": round, "by": "setup" }))
        .send()
        .await
        .context("setup PUT")?;
    if !created.status().is_success() {
        bail!("setup PUT of {resource} answered {}", created.status());
    }
    let (read_a, read_b) = tokio::join!(
        read(&writers[0], &nodes[0], resource),
        read(&writers[1], &nodes[1], resource)
    );
    let (read_a, read_b) = (read_a?, read_b?);
    if read_a.etag != read_b.etag {
        bail!(
            "the two writers read different versions of {resource}: {} and {}",
            read_a.etag,
            read_b.etag
        );
    }
    let barrier = Arc::new(Barrier::new(2));
    let [method_a, method_b] = methods;
    let spawn_write = |writer: usize, method: Method| {
        let client = writers[writer].clone();
        let url = format!("{}{resource}", nodes[writer]);
        let validator = read_a.validator(guard);
        let barrier = Arc::clone(&barrier);
        tokio::spawn(async move {
            barrier.wait().await;
            let sent = SystemTime::now();
            (write(&client, &url, method, validator, writer, round).await, sent)
        })
    };
    let (a, b) = (spawn_write(0, method_a), spawn_write(1, method_b));
    let ((a, sent_a), (b, sent_b)) = (a.await?, b.await?);
    let second = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let same_second = httpdate::parse_http_date(&read_a.last_modified)
        .is_ok_and(|lm| second(lm) == second(sent_a) && second(lm) == second(sent_b));
    Ok(RoundResult { a, b, same_second })
}

/// What a writer read.
struct Version {
    etag: String,
    last_modified: String,
}

impl Version {
    fn validator(&self, guard: Guard) -> (&'static str, String) {
        match guard {
            Guard::IfUnmodifiedSince => ("if-unmodified-since", self.last_modified.clone()),
            Guard::IfMatch => ("if-match", self.etag.clone()),
        }
    }
}

async fn read(client: &reqwest::Client, node: &str, resource: &str) -> anyhow::Result<Version> {
    let response = client
        .get(format!("{node}{resource}"))
        .send()
        .await
        .with_context(|| format!("GET {resource}"))?;
    if !response.status().is_success() {
        bail!("GET {resource} answered {}", response.status());
    }
    Ok(Version {
        etag: header(&response, "etag").context("no ETag")?,
        last_modified: header(&response, "last-modified").context("no Last-Modified")?,
    })
}

async fn write(
    client: &reqwest::Client,
    url: &str,
    method: Method,
    (name, value): (&'static str, String),
    writer: usize,
    round: usize,
) -> Result<u16, String> {
    let request = client.request(method.clone(), url).header(name, value);
    let request = match method {
        Method::PUT => request.json(&json!({ "round": round, "by": writer })),
        Method::PATCH => request
            .header("content-type", "application/merge-patch+json")
            .body(json!({ "patched_by": writer }).to_string()),
        _ => request,
    };
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read the body so the connection is reused.
            let _ = response.bytes().await;
            Ok(status)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A round that would start in the last fifth of a second waits for the
/// next one, so that the setup write and the race share a second.
async fn wait_if_late_in_the_second() {
    let into_second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_millis());
    if into_second > 800 {
        tokio::time::sleep(Duration::from_millis(u64::from(1000 - into_second) + 5)).await;
    }
}

/// Writer A wins, writer B (same version) is refused, re-reads (in a
/// later second after the first refusal) and retries: it must succeed
/// within a few tries. Returns the try on which B succeeded: 1 means its
/// stale write was accepted, a lost update.
async fn liveness(
    writers: &[reqwest::Client; 2],
    nodes: &[String; 2],
    resource: &str,
    guard: Guard,
) -> anyhow::Result<usize> {
    const TRIES: usize = 5;
    let url = |node: usize| format!("{}{resource}", nodes[node]);
    let created = writers[0].put(url(0)).json(&json!({ "v": 0 })).send().await?;
    if !created.status().is_success() {
        bail!("setup PUT answered {}", created.status());
    }
    let mut version = read(&writers[1], &nodes[1], resource).await?;
    let first = write(&writers[0], &url(0), Method::PUT, version.validator(guard), 0, 0)
        .await
        .map_err(anyhow::Error::msg)?;
    if !(200..300).contains(&first) {
        bail!("writer A's write answered {first}");
    }
    for attempt in 1..=TRIES {
        let status = write(
            &writers[1],
            &url(1),
            Method::PUT,
            version.validator(guard),
            1,
            attempt,
        )
        .await
        .map_err(anyhow::Error::msg)?;
        match status {
            200..=299 => return Ok(attempt),
            412 => {
                // A retry in a later second than the last change can be told apart.
                let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
                tokio::time::sleep(Duration::from_millis(u64::from(1000 - now.subsec_millis()) + 20)).await;
                version = read(&writers[1], &nodes[1], resource).await?;
            }
            other => bail!("writer B's try {attempt} answered {other}"),
        }
    }
    bail!("writer B was refused {TRIES} times in a row, each after re-reading in a later second")
}

#[derive(Default)]
struct Tally {
    lost: usize,
    one_winner: usize,
    none: usize,
    same_second: usize,
    server_errors: usize,
    statuses: BTreeMap<String, usize>,
    /// By method pair: (rounds, lost).
    by_pair: BTreeMap<String, (usize, usize)>,
    first_error: Option<String>,
}

impl Tally {
    fn record(&mut self, a: &Method, b: &Method, result: RoundResult) {
        let won = |r: &Result<u16, String>| matches!(r, Ok(200..=299));
        let wins = usize::from(won(&result.a)) + usize::from(won(&result.b));
        match wins {
            2 => self.lost += 1,
            1 => self.one_winner += 1,
            _ => self.none += 1,
        }
        self.same_second += usize::from(result.same_second);
        for r in [&result.a, &result.b] {
            let key = match r {
                Ok(status) => {
                    if *status >= 500 && *status != 503 {
                        self.server_errors += 1;
                    }
                    status.to_string()
                }
                Err(e) => {
                    self.first_error.get_or_insert_with(|| e.clone());
                    "error".to_owned()
                }
            };
            *self.statuses.entry(key).or_default() += 1;
        }
        let pair = self.by_pair.entry(format!("{a} vs {b}")).or_default();
        pair.0 += 1;
        pair.1 += usize::from(wins == 2);
    }

    fn statuses_text(&self) -> String {
        let parts: Vec<String> = self.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        parts.join(", ")
    }

    fn by_pair_lines(&self) -> Vec<String> {
        self.by_pair
            .iter()
            .map(|(pair, (rounds, lost))| format!("{pair}: {lost} lost of {rounds} rounds"))
            .collect()
    }
}
