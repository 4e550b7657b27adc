//! Two writers that read the same version race to change it, over real
//! sockets, on a real SQLite file (one node) and on two nodes sharing one
//! PostgreSQL database: for `If-Match` and `If-Unmodified-Since`, and for
//! `PUT`, `PATCH` and `DELETE`, never both win.
//!
//! Each round creates a fresh resource (so the version both writers read
//! is alone in its second, and its `Last-Modified` does confirm it), lets
//! both writers read it, holds them at a barrier and releases them
//! together, so almost every round puts the version they read and both
//! writes in one second: the case a one-second `Last-Modified` cannot tell
//! apart by itself. Two DELETEs cannot both succeed (the second finds
//! nothing), so a DELETE round races a DELETE against a PUT of the same
//! version: the PUT must not bring back what the DELETE removed. The six
//! guard and method pairs run at the same time, each on its own keys.
//!
//! `REVALIDATE_RACE_ROUNDS` sets the rounds per guard and method (default
//! 1000, what CI runs).

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use revalidate_origin::config::OriginConfig;
use revalidate_origin::server::Origin;
use serde_json::json;
use tokio::sync::Barrier;

const ROUNDS_VAR: &str = "REVALIDATE_RACE_ROUNDS";
const DEFAULT_ROUNDS: usize = 1_000;
const PG_URL_VAR: &str = "REVALIDATE_TEST_PG_URL";

fn rounds() -> usize {
    std::env::var(ROUNDS_VAR)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{ROUNDS_VAR} must be a number, got {v:?}"))
        })
        .unwrap_or(DEFAULT_ROUNDS)
}

/// The PostgreSQL URL, or `None` after printing why the test is skipped
/// (a failure under CI, where the multi-node backend must be tested).
pub(crate) fn pg_url(test: &str) -> Option<String> {
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but {PG_URL_VAR} is not: {test} must run in CI (scripts/test-postgres.sh start)"
            );
            println!("SKIPPED: {test} (set {PG_URL_VAR}; see scripts/test-postgres.sh)");
            None
        }
    }
}

/// One `revalidate serve` node (an [`Origin`] on its own listener and its
/// own database pool), serving until the test ends.
struct Node {
    addr: SocketAddr,
    _root: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Node {
    async fn start(database: Option<String>, shared_data: Option<&std::path::Path>) -> Self {
        let root = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let config = OriginConfig {
            root: root.path().into(),
            data: shared_data.unwrap_or(data.path()).into(),
            database,
            ..OriginConfig::default()
        };
        let origin = Origin::open(&config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(origin.serve(listener, None, std::future::pending()));
        Self {
            addr,
            _root: root,
            _data: data,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A fresh schema on the test server, and the URL that puts a node's
/// tables in it.
async fn postgres_schema(url: &str) -> (String, String) {
    let schema = format!(
        "race_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000
    );
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    // The name is built above from digits and a fixed prefix.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let separator = if url.contains('?') { '&' } else { '?' };
    let node_url = format!("{url}{separator}options=-csearch_path%3D{schema}");
    (schema, node_url)
}

async fn drop_schema(url: &str, schema: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guard {
    IfMatch,
    IfUnmodifiedSince,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Race {
    /// Two PUTs of the version both read.
    Put,
    /// Two PATCHes.
    Patch,
    /// A DELETE against a PUT.
    Delete,
}

/// What a writer read: the validator its guard sends.
#[derive(Clone, Debug)]
struct Read {
    etag: String,
    last_modified: String,
}

impl Read {
    async fn get(client: &reqwest::Client, url: &str) -> Option<Self> {
        let response = client.get(url).send().await.unwrap();
        if response.status() == StatusCode::NOT_FOUND {
            return None;
        }
        assert_eq!(response.status(), StatusCode::OK, "GET {url}");
        let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
        Some(Self {
            etag: header("etag"),
            last_modified: header("last-modified"),
        })
    }

    fn header(&self, guard: Guard) -> (&'static str, &str) {
        match guard {
            Guard::IfMatch => ("if-match", &self.etag),
            Guard::IfUnmodifiedSince => ("if-unmodified-since", &self.last_modified),
        }
    }
}

/// Sends one guarded write: `method` with the validator from `read`, or a
/// create-only PUT when there was nothing to read.
async fn write(
    client: &reqwest::Client,
    url: &str,
    method: &Method,
    guard: Guard,
    read: Option<&Read>,
    value: u64,
) -> reqwest::Response {
    let mut request = client.request(method.clone(), url);
    request = match read {
        Some(read) => {
            let (name, value) = read.header(guard);
            request.header(name, value)
        }
        None => request.header("if-none-match", "*"),
    };
    if *method == Method::PATCH {
        request = request
            .header("content-type", "application/merge-patch+json")
            .body(json!({ "value": value }).to_string());
    } else if *method == Method::PUT {
        request = request.json(&json!({ "value": value }));
    }
    request.send().await.unwrap()
}

/// What the rounds of one guard and race came to.
#[derive(Debug, Default)]
struct Tally {
    rounds: usize,
    /// Rounds in which both writers got a 2xx: a lost update.
    both_won: usize,
    /// Writes that succeeded, and writes refused with 412.
    successes: usize,
    refused: usize,
    /// DELETE rounds whose DELETE came second and found nothing (404).
    absent: usize,
    /// Rounds whose winning write fell in the second of the version read.
    same_second: usize,
}

fn is_success(status: StatusCode) -> bool {
    status.is_success()
}

/// Runs `rounds` races of `race` guarded by `guard`, writer 1 through
/// `first` and writer 2 through `second` (the same node for SQLite).
async fn run_races(first: Arc<Node>, second: Arc<Node>, guard: Guard, race: Race, rounds: usize) -> Tally {
    // One client per writer, so each has its own connection to its node.
    let (client_1, client_2) = (reqwest::Client::new(), reqwest::Client::new());
    let (method_1, method_2) = match race {
        Race::Put => (Method::PUT, Method::PUT),
        Race::Patch => (Method::PATCH, Method::PATCH),
        Race::Delete => (Method::DELETE, Method::PUT),
    };
    let mut tally = Tally::default();
    for round in 0..rounds {
        let path = format!("/api/race/{guard:?}-{race:?}-{round}").to_ascii_lowercase();
        let (url_1, url_2) = (first.url(&path), second.url(&path));
        let setup = client_1
            .put(&url_1)
            .header("if-none-match", "*")
            .json(&json!({ "value": 0, "round": round }))
            .send()
            .await
            .unwrap();
        assert_eq!(setup.status(), StatusCode::CREATED, "setup");
        let read_1 = Read::get(&client_1, &url_1).await.unwrap();
        let read_2 = Read::get(&client_2, &url_2).await.unwrap();
        assert_eq!(read_1.etag, read_2.etag, "both writers read the same version");
        let barrier = Arc::new(Barrier::new(2));
        let racer = |client: reqwest::Client, url: String, method: Method, read: Read, value: u64| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let response = write(&client, &url, &method, guard, Some(&read), value).await;
                let status = response.status();
                let last_modified = response
                    .headers()
                    .get("last-modified")
                    .map(|v| v.to_str().unwrap().to_owned());
                (status, last_modified)
            })
        };
        let one = racer(
            client_1.clone(),
            url_1.clone(),
            method_1.clone(),
            read_1.clone(),
            1,
        );
        let two = racer(client_2.clone(), url_2.clone(), method_2.clone(), read_2, 2);
        let (one, two) = (one.await.unwrap(), two.await.unwrap());
        tally.rounds += 1;
        for (status, _) in [&one, &two] {
            match *status {
                s if is_success(s) => tally.successes += 1,
                StatusCode::PRECONDITION_FAILED => tally.refused += 1,
                StatusCode::NOT_FOUND if race == Race::Delete => tally.absent += 1,
                other => panic!("{guard:?} {race:?} round {round}: unexpected {other}"),
            }
        }
        if is_success(one.0) && is_success(two.0) {
            tally.both_won += 1;
        }
        let winner_date = [&one, &two]
            .into_iter()
            .find(|(status, _)| is_success(*status))
            .and_then(|(_, date)| date.clone());
        if winner_date
            .as_deref()
            .is_none_or(|date| date == read_1.last_modified)
        {
            tally.same_second += 1;
        }
    }
    tally
}

/// Liveness: after a lost race, the loser re-reads (in a later second if
/// the winner's write shares the second of the version it read) and its
/// retry goes through.
async fn loser_retries_and_succeeds(first: Arc<Node>, second: Arc<Node>, guard: Guard, race: Race) -> u32 {
    let path = format!("/api/race/live-{guard:?}-{race:?}").to_ascii_lowercase();
    let (url_1, url_2) = (first.url(&path), second.url(&path));
    let client = reqwest::Client::new();
    let setup = client
        .put(&url_1)
        .json(&json!({ "value": 0 }))
        .send()
        .await
        .unwrap();
    assert!(setup.status().is_success());
    let read = Read::get(&client, &url_1).await.unwrap();
    let (winner_method, loser_method) = match race {
        Race::Put => (Method::PUT, Method::PUT),
        Race::Patch => (Method::PATCH, Method::PATCH),
        Race::Delete => (Method::PUT, Method::DELETE),
    };
    let won = write(&client, &url_1, &winner_method, guard, Some(&read), 1).await;
    assert!(
        won.status().is_success(),
        "{guard:?} {race:?}: first writer: {}",
        won.status()
    );
    let lost = write(&client, &url_2, &loser_method, guard, Some(&read), 2).await;
    assert_eq!(
        lost.status(),
        StatusCode::PRECONDITION_FAILED,
        "{guard:?} {race:?}: the second writer with the same validator"
    );
    // Re-read and retry until the retry goes through; a generous deadline,
    // because a validator from the winner's second may only become usable
    // in the next second.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let fresh = Read::get(&client, &url_2).await;
        let retry = write(&client, &url_2, &loser_method, guard, fresh.as_ref(), 3).await;
        if retry.status().is_success() {
            return attempts;
        }
        assert_eq!(
            retry.status(),
            StatusCode::PRECONDITION_FAILED,
            "{guard:?} {race:?}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "{guard:?} {race:?}: the retry after a re-read never succeeded ({attempts} attempts)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

const GUARDS: [Guard; 2] = [Guard::IfMatch, Guard::IfUnmodifiedSince];
const RACES: [Race; 3] = [Race::Put, Race::Patch, Race::Delete];

/// Runs every guard and race between `first` and `second`, prints the
/// counts, and asserts that no round lost an update.
async fn all_races(backend: &str, first: Node, second: Option<Node>) {
    let rounds = rounds();
    let first = Arc::new(first);
    let second = second.map_or_else(|| first.clone(), Arc::new);
    let mut runs = Vec::new();
    for guard in GUARDS {
        for race in RACES {
            let run = run_races(first.clone(), second.clone(), guard, race, rounds);
            runs.push((guard, race, tokio::spawn(run)));
        }
    }
    let mut lost = Vec::new();
    for (guard, race, run) in runs {
        let tally = run.await.unwrap();
        println!(
            "{backend} {guard:?} {race:?}: {} rounds, {} in one second, {} successes, {} refused (412), \
             {} absent (404), {} lost updates",
            tally.rounds, tally.same_second, tally.successes, tally.refused, tally.absent, tally.both_won
        );
        assert_eq!(tally.rounds, rounds);
        if tally.both_won > 0 {
            lost.push(format!(
                "{guard:?} {race:?}: {} of {}",
                tally.both_won, tally.rounds
            ));
        }
    }
    assert!(lost.is_empty(), "{backend}: lost updates: {lost:?}");
    let mut retries = Vec::new();
    for guard in GUARDS {
        for race in RACES {
            let retry = loser_retries_and_succeeds(first.clone(), second.clone(), guard, race);
            retries.push((guard, race, tokio::spawn(retry)));
        }
    }
    for (guard, race, retry) in retries {
        let attempts = retry.await.unwrap();
        println!("{backend} {guard:?} {race:?}: the loser's retry succeeded after {attempts} re-read(s)");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_never_both_win_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let node = Node::start(None, Some(data.path())).await;
    all_races("sqlite", node, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_on_two_nodes_never_both_win_on_postgres() {
    let Some(url) = pg_url("racing_writers_on_two_nodes_never_both_win_on_postgres") else {
        return;
    };
    let (schema, node_url) = postgres_schema(&url).await;
    let a = Node::start(Some(node_url.clone()), None).await;
    let b = Node::start(Some(node_url), None).await;
    all_races("postgres", a, Some(b)).await;
    drop_schema(&url, &schema).await;
}
