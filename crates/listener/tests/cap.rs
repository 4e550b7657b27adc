//! The connection cap: eviction of the connection idle longest, waiting
//! when none is idle, and many silent connections beside a real client.

use std::time::Instant;

use revalidate_listener::Limits;
use tokio::io::AsyncWriteExt;

use crate::support::{GET, Server, closed_by_server, exchange, patient, read_response};

/// With `max_connections` silent connections open, a new client is still
/// answered: the connection idle longest (the first one) is closed to
/// make room, and the others stay open.
#[tokio::test]
async fn at_the_connection_cap_the_connection_idle_longest_makes_room_for_a_new_request() {
    let server = Server::start(Limits {
        max_connections: 4,
        ..patient()
    })
    .await;
    let mut silent = Vec::new();
    for n in 1..=4 {
        silent.push(server.connect().await);
        // One at a time, so that the accept order is the connect order.
        server
            .wait_for(Server::open, f64::from(n), "open connections")
            .await;
    }
    let mut client = server.connect().await;
    assert_eq!(exchange(&mut client, GET).await, "HTTP/1.1 200 OK");
    closed_by_server(&mut silent[0]).await;
    assert_eq!(server.closed("evicted"), 1.0);
    assert_eq!(server.open(), 4.0, "three silent connections and the client");
}

/// At the cap with no idle connection, accepting waits until a connection
/// closes or its request ends; the new client is answered after that,
/// never refused.
#[tokio::test]
async fn at_the_cap_with_no_idle_connection_a_new_client_waits_for_a_request_to_end() {
    let server = Server::start(Limits {
        max_connections: 1,
        ..patient()
    })
    .await;
    let mut busy = server.connect().await;
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    server
        .wait_for(Server::slow_requests, 1.0, "slow requests in flight")
        .await;
    let waiting = tokio::spawn({
        let addr = server.addr;
        async move {
            let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let status = exchange(&mut client, GET).await;
            (status, Instant::now())
        }
    });
    assert_eq!(read_response(&mut busy).await, "HTTP/1.1 200 OK");
    let slow_answered = Instant::now();
    let (status, answered) = waiting.await.unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        answered >= slow_answered,
        "the waiting client was served while the cap was full"
    );
    assert_eq!(
        server.closed("evicted"),
        1.0,
        "the first connection made room once idle"
    );
}

/// 1,000 connections that send nothing hold 1,000 sockets and nothing
/// else: a normal request beside them is answered at once.
#[tokio::test]
async fn a_request_is_answered_beside_a_thousand_silent_connections() {
    let server = Server::start(patient()).await;
    let mut silent = Vec::with_capacity(1000);
    for _ in 0..1000 {
        silent.push(server.connect().await);
    }
    server.wait_for(Server::open, 1000.0, "open connections").await;
    let started = Instant::now();
    let mut client = server.connect().await;
    assert_eq!(exchange(&mut client, GET).await, "HTTP/1.1 200 OK");
    let latency = started.elapsed();
    eprintln!("a request beside 1,000 silent connections: connect + answer in {latency:?}");
    assert_eq!(server.open(), 1001.0);
}
