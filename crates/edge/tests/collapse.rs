//! Request collapsing against time: a read never gets an answer fetched
//! before it arrived (unless that answer is still fresh for it), a
//! stalled origin body ends, and a follower never waits without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::Method;
use tokio::io::AsyncWriteExt;

use crate::support::{
    RawOrigin, Reply, Seen, TestEdge, TestOrigin, clock, eventually, raw_exchange, read_head,
};

/// A `no-cache` document whose body names its version; a `PUT` makes a
/// new version. Every answer is slow (the origin read the version, then
/// takes a while to send it), which is what leaves a window for a read to
/// be collapsed onto a fetch that was sent before a write returned.
fn versioned_document(version: Arc<AtomicU64>) -> impl Fn(&Seen) -> Reply {
    move |seen: &Seen| {
        if seen.method == Method::PUT {
            let new = version.fetch_add(1, Ordering::SeqCst) + 1;
            return Reply::status(204).header("etag", &format!("\"{new}\""));
        }
        let current = version.load(Ordering::SeqCst);
        let etag = format!("\"{current}\"");
        let reply = if seen.header("if-none-match") == Some(etag.as_str()) {
            Reply::status(304)
        } else {
            Reply::ok(&format!("version {current}"))
        };
        reply
            .header("etag", &etag)
            .header("cache-control", "no-cache")
            .delay(Duration::from_millis(50))
    }
}

/// What a read-after-write race measured.
struct Race {
    reads: usize,
    stale: usize,
}

/// 50 readers in a loop against `writes` writes; a read that started after
/// a write returned must see that write's version or a newer one.
async fn race_reads_against_writes(through_edge: bool) -> Race {
    let version = Arc::new(AtomicU64::new(1));
    let origin = TestOrigin::start(clock(), versioned_document(Arc::clone(&version))).await;
    // The system clock: the race is in real time.
    let edge = Arc::new(TestEdge::start_on(origin.addr, None, |_| {}).await);
    let returned = Arc::new(AtomicU64::new(1));
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let stale = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..50u64)
        .map(|reader| {
            let (edge, returned, done) = (Arc::clone(&edge), Arc::clone(&returned), Arc::clone(&done));
            let (reads, stale) = (Arc::clone(&reads), Arc::clone(&stale));
            tokio::spawn(async move {
                while !done.load(Ordering::SeqCst) {
                    // Every write that returned before this read started.
                    let floor = returned.load(Ordering::SeqCst);
                    let answer = edge.get("/doc", &[]).await;
                    assert_eq!(answer.status, 200, "{}", answer.cache_status());
                    let seen: u64 = answer.body.trim_start_matches("version ").parse().unwrap();
                    reads.fetch_add(1, Ordering::SeqCst);
                    if seen < floor {
                        stale.fetch_add(1, Ordering::SeqCst);
                    }
                    // Readers answered by one fetch would otherwise all ask
                    // again at once; spread their arrivals over the next one.
                    tokio::time::sleep(Duration::from_millis(reader % 50)).await;
                }
            })
        })
        .collect();
    let direct = reqwest::Client::new();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let status = if through_edge {
            edge.send(Method::PUT, "/doc", &[], "new").await.status
        } else {
            let url = format!("http://{}/doc", origin.addr);
            direct
                .put(url)
                .body("new")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        };
        assert_eq!(status, 204);
        // One writer: the version now is the one this write made.
        returned.store(version.load(Ordering::SeqCst), Ordering::SeqCst);
    }
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.await.unwrap();
    }
    Race {
        reads: reads.load(Ordering::SeqCst),
        stale: stale.load(Ordering::SeqCst),
    }
}

/// The read-after-write race with the write sent straight to the origin:
/// a read that arrives while a revalidation sent before the write is in
/// flight must not be answered from it (it used to be, when both fell in
/// the same second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_starts_after_a_write_returned_never_gets_the_old_body() {
    let race = race_reads_against_writes(false).await;
    assert!(race.reads > 300, "only {} reads", race.reads);
    assert_eq!(
        race.stale, 0,
        "{} of {} reads got an old version",
        race.stale, race.reads
    );
}

/// The same race with the write going through the edge: the invalidation
/// (RFC 9111 §4.4) must also cover a fill that was in flight when the
/// write returned, which would otherwise store the old version afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_starts_after_a_write_through_the_edge_returned_never_gets_the_old_body() {
    let race = race_reads_against_writes(true).await;
    assert!(race.reads > 300, "only {} reads", race.reads);
    assert_eq!(
        race.stale, 0,
        "{} of {} reads got an old version",
        race.stale, race.reads
    );
}

/// On the manual clock: a request that arrives (one tick) after a
/// revalidation of a `no-cache` response was sent does not share it; it
/// waits for it to land and then sends its own, which its later peers
/// share. The origin sees two requests, not one per client.
#[tokio::test]
async fn a_request_arriving_after_a_revalidation_was_sent_waits_and_sends_the_next_one() {
    let clock = clock();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let origin = TestOrigin::start(clock.clone(), move |seen: &Seen| {
        counter.fetch_add(1, Ordering::SeqCst);
        Reply::ok(&format!("version {}", seen.number))
            .header("cache-control", "no-cache")
            .delay(Duration::from_millis(if seen.number == 2 { 400 } else { 100 }))
    })
    .await;
    let edge = Arc::new(TestEdge::start(origin.addr, clock).await);
    assert_eq!(edge.get("/n", &[]).await.body, "version 1");
    // A revalidation is sent and is slow to come back.
    let first = {
        let edge = Arc::clone(&edge);
        tokio::spawn(async move { edge.get("/n", &[]).await })
    };
    eventually("the revalidation to reach the origin", || {
        sent.load(Ordering::SeqCst) == 2
    })
    .await;
    // Later requests arrive after it was sent.
    edge.advance(1);
    let late: Vec<_> = (0..3)
        .map(|_| {
            let edge = Arc::clone(&edge);
            tokio::spawn(async move { edge.get("/n", &[]).await })
        })
        .collect();
    assert_eq!(first.await.unwrap().body, "version 2");
    let mut labels = Vec::new();
    for request in late {
        let answer = request.await.unwrap();
        assert_eq!(answer.body, "version 3", "{}", answer.cache_status());
        labels.push(answer.cache_status().to_owned());
    }
    assert_eq!(origin.count("/n"), 3, "one more origin request for all three");
    // One of them led the next revalidation; the others were collapsed onto it.
    assert_eq!(
        labels.iter().filter(|l| l.ends_with("collapsed")).count(),
        2,
        "{labels:?}"
    );
}

/// An origin that sends a head announcing 100,000 bytes, 1,000 of them,
/// then nothing while keeping the connection open; `stalled` counts the
/// connections it stalled on, and connections after the first
/// `stall_first` get the whole body.
fn stalling_origin(
    stall_first: usize,
) -> impl Fn(tokio::net::TcpStream, usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
{
    move |mut stream, number| {
        Box::pin(async move {
            let _head = read_head(&mut stream).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\ncache-control: max-age=60\r\n\r\n";
            let _ = stream.write_all(head.as_bytes()).await;
            if number <= stall_first {
                let _ = stream.write_all(&[b'a'; 1000]).await;
                // Silent, connection open, for longer than any test waits.
                tokio::time::sleep(Duration::from_secs(600)).await;
            } else {
                let _ = stream.write_all(&[b'b'; 100_000]).await;
                tokio::time::sleep(Duration::from_secs(600)).await;
            }
        })
    }
}

const GET_CLOSE: &[u8] = b"GET /stalled HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n";

/// The origin stops sending half-way: after `upstream_body_timeout` of
/// silence the edge ends the client's response as an error (the client
/// sees fewer bytes than `Content-Length` and a closed connection, never a
/// complete-looking response), stores nothing, counts an origin timeout,
/// and the next client for the URL goes to the origin again (it used to
/// hang until the origin closed, and the next client for 120 s).
#[tokio::test]
async fn a_stalled_origin_body_is_aborted_after_the_body_timeout_and_not_stored() {
    let origin = RawOrigin::start(stalling_origin(usize::MAX)).await;
    let edge = TestEdge::start_with(origin.addr, clock(), |s| {
        s.upstream_body_timeout = Duration::from_millis(300);
    })
    .await;
    for client in 1..=3 {
        let answer = raw_exchange(edge.addr, GET_CLOSE, Duration::from_secs(20)).await;
        assert!(answer.closed, "client {client}: the response never ended");
        assert!(
            answer.status_line().starts_with("HTTP/1.1 200"),
            "client {client}"
        );
        assert_eq!(answer.header("content-length"), Some("100000"), "client {client}");
        assert!(
            answer.body().len() < 100_000,
            "client {client}: a complete-looking body of {} bytes",
            answer.body().len()
        );
        assert_eq!(
            origin.accepted(),
            client,
            "client {client} was answered from the cache"
        );
    }
    assert_eq!(
        edge.metric("revalidate_edge_origin_errors_total{kind=\"timeout\"}")
            .await,
        3.0
    );
}

/// A request waiting for another's fill gives up after
/// `collapse_timeout` (nginx's `proxy_cache_lock_timeout`) and goes to the
/// origin itself, even while the leader's origin body is still trickling
/// within its own timeout.
#[tokio::test]
async fn a_follower_goes_to_the_origin_itself_after_the_collapse_timeout() {
    let origin = RawOrigin::start(stalling_origin(1)).await;
    let edge = TestEdge::start_with(origin.addr, clock(), |s| {
        s.upstream_body_timeout = Duration::from_secs(60);
        s.collapse_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = edge.addr;
    let leader = tokio::spawn(async move { raw_exchange(addr, GET_CLOSE, Duration::from_secs(30)).await });
    eventually("the leader's fill to reach the origin", || origin.accepted() == 1).await;
    let follower = raw_exchange(edge.addr, GET_CLOSE, Duration::from_secs(20)).await;
    assert!(
        follower.status_line().starts_with("HTTP/1.1 200"),
        "{:?}",
        follower.status_line()
    );
    assert_eq!(follower.body().len(), 100_000);
    assert!(
        !follower
            .header("cache-status")
            .unwrap_or("")
            .contains("collapsed"),
        "{:?}",
        follower.header("cache-status")
    );
    assert_eq!(origin.accepted(), 2);
    leader.abort();
}

/// The leader's origin body stalls and is aborted: a request that waited
/// for that fill is not handed the failure, it goes forward on its own.
#[tokio::test]
async fn followers_of_a_fill_whose_body_failed_go_forward_on_their_own() {
    let origin = RawOrigin::start(stalling_origin(1)).await;
    let edge = TestEdge::start_with(origin.addr, clock(), |s| {
        s.upstream_body_timeout = Duration::from_millis(500);
        s.collapse_timeout = Duration::from_secs(30);
    })
    .await;
    let addr = edge.addr;
    let leader = tokio::spawn(async move { raw_exchange(addr, GET_CLOSE, Duration::from_secs(20)).await });
    eventually("the leader's fill to reach the origin", || origin.accepted() == 1).await;
    let follower = raw_exchange(edge.addr, GET_CLOSE, Duration::from_secs(20)).await;
    assert!(
        follower.status_line().starts_with("HTTP/1.1 200"),
        "{:?}",
        follower.status_line()
    );
    assert_eq!(follower.body().len(), 100_000);
    let leader = leader.await.unwrap();
    assert!(leader.closed && leader.body().len() < 100_000);
    assert_eq!(origin.accepted(), 2);
}
