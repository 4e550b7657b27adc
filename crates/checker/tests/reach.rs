//! `--header` and `--assets` over real sockets: the fields reach every
//! probe without displacing the probe's own, and a page's linked assets
//! (same-origin and cross-origin, served by the project's own origin and
//! by a second server) are checked with the same probes.

use http::{HeaderMap, HeaderValue, Method};
use revalidate_checker::model::ProbeKind;
use revalidate_checker::{Settings, check_all};

use crate::support::{Breakage, check, describe, problems, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_fields_go_with_every_probe_and_never_replace_the_probes_own() {
    let server = serve(Breakage::default()).await;
    let mut extra = HeaderMap::new();
    extra.insert("cookie", HeaderValue::from_static("session=abc"));
    extra.insert("accept-encoding", HeaderValue::from_static("identity"));
    extra.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    let report = check(&server.url(), |s| {
        s.headers = extra.clone();
        s.unsafe_writes = true;
    })
    .await;
    assert_eq!(problems(&report), Vec::<&str>::new(), "{}", describe(&report));

    let received = server.received.lock().unwrap().clone();
    let checked = report.outcome.as_ref().unwrap();
    assert_eq!(received.len(), checked.requests, "every probe reached the server");
    for (method, fields) in &received {
        assert_eq!(fields.get_all("cookie").iter().count(), 1, "{method} {fields:?}");
        assert_eq!(fields["cookie"], "session=abc", "{method} {fields:?}");
        assert_eq!(fields["x-forwarded-proto"], "https", "{method} {fields:?}");
        // Never two Accept-Encoding fields: the probe's or the user's.
        assert_eq!(fields.get_all("accept-encoding").iter().count(), 1, "{fields:?}");
    }
    // The conditional follow-ups and the writes carry it too, with their own fields intact.
    let with = |name: &str| received.iter().filter(|(_, f)| f.contains_key(name)).count();
    assert!(with("if-none-match") >= 4, "{received:?}");
    assert!(with("if-match") >= 4, "{received:?}");
    assert!(received.iter().any(|(m, _)| *m == Method::PUT), "{received:?}");
    assert!(received.iter().any(|(m, _)| *m == Method::HEAD), "{received:?}");
    // The coding probes kept their Accept-Encoding; plain GETs got the user's.
    let codings: Vec<&str> = received
        .iter()
        .filter_map(|(_, f)| f.get("accept-encoding")?.to_str().ok())
        .collect();
    assert!(
        codings.contains(&"gzip") && codings.contains(&"identity"),
        "{codings:?}"
    );
    // The report keeps the value for the heads it shows, marked sensitive.
    let initial = checked
        .exchanges
        .iter()
        .find(|e| e.kind == ProbeKind::Initial)
        .unwrap();
    assert!(initial.request.headers["cookie"].is_sensitive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_header_a_guarded_resource_is_not_checked_past_its_401() {
    // The same server, guarded: a 401 without the cookie, so the check
    // stops at the first answer; with the cookie everything is probed.
    let server = serve(Breakage {
        require: Some(("cookie", "session=abc")),
        ..Breakage::default()
    })
    .await;
    let without = check(&server.url(), |_| {}).await;
    assert_eq!(
        problems(&without),
        ["unexpected-status"],
        "{}",
        describe(&without)
    );
    let with = check(&server.url(), |s| {
        s.headers
            .insert("cookie", HeaderValue::from_static("session=abc"));
    })
    .await;
    assert_eq!(problems(&with), Vec::<&str>::new(), "{}", describe(&with));
}

/// The project's origin serving a page that links a stylesheet (twice), an
/// image, a missing script, a cross-origin script on `other`, an icon and a
/// plain link (neither is an asset).
async fn site_with_assets(other: &str) -> (std::net::SocketAddr, [tempfile::TempDir; 2]) {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("assets")).unwrap();
    std::fs::write(
        root.path().join("index.html"),
        format!(
            r#"<!doctype html><html><head><title>t</title>
<link rel="stylesheet" href="/assets/site.3f9a2b1c.css">
<link rel="icon" href="/favicon.ico">
<script src="{other}"></script>
<script src="assets/missing.js"></script>
</head><body><img src="assets/logo.svg" alt="">
<link rel=stylesheet href="./assets/site.3f9a2b1c.css#again">
<a href="/elsewhere.html">not an asset</a></body></html>
"#
        ),
    )
    .unwrap();
    std::fs::write(
        root.path().join("assets/site.3f9a2b1c.css"),
        "body { color: #222; }\n",
    )
    .unwrap();
    std::fs::write(
        root.path().join("assets/logo.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
    )
    .unwrap();
    let addr = crate::support::serve_origin(root.path(), data.path()).await;
    (addr, [root, data])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_of_a_page_are_checked_same_origin_and_cross_origin() {
    let other = serve(Breakage {
        no_validators: true,
        ..Breakage::default()
    })
    .await;
    let (addr, _dirs) = site_with_assets(&other.url()).await;
    let page = format!("http://{addr}/");
    let mut settings = Settings {
        assets: true,
        timeout: std::time::Duration::from_secs(5),
        ..Settings::default()
    };
    settings
        .headers
        .insert("cookie", HeaderValue::from_static("session=abc"));
    let reports = check_all(std::slice::from_ref(&page), &settings).await;
    let urls: Vec<&str> = reports.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            page.clone(),
            format!("http://{addr}/assets/site.3f9a2b1c.css"),
            other.url(),
            format!("http://{addr}/assets/missing.js"),
            format!("http://{addr}/assets/logo.svg"),
        ],
        "in document order, each once, icons and links left out"
    );
    let page_report = reports[0].outcome.as_ref().unwrap();
    let assets = page_report.assets.as_ref().unwrap();
    assert_eq!((assets.found, assets.urls.len()), (4, 4));
    assert!(
        reports[1..]
            .iter()
            .all(|r| r.linked_from.as_deref() == Some(page.as_str()))
    );
    // Each asset got the full set of probes, and its own findings.
    for report in &reports[..2] {
        assert!(
            report.outcome.as_ref().unwrap().requests > 20,
            "{}",
            describe(report)
        );
        assert_eq!(problems(report), Vec::<&str>::new(), "{}", describe(report));
    }
    assert!(
        problems(&reports[2]).contains(&"no-validators"),
        "{}",
        describe(&reports[2])
    );
    assert_eq!(
        problems(&reports[3]),
        ["unexpected-status"],
        "{}",
        describe(&reports[3])
    );
    // --header fields go to the page's origin, never to another one.
    let sent_cookie = |report: &revalidate_checker::UrlReport| {
        let exchanges = &report.outcome.as_ref().unwrap().exchanges;
        exchanges.iter().all(|e| e.request.headers.contains_key("cookie"))
    };
    assert!(sent_cookie(&reports[0]) && sent_cookie(&reports[1]) && sent_cookie(&reports[4]));
    let received = other.received.lock().unwrap().clone();
    assert!(!received.is_empty());
    assert!(
        received.iter().all(|(_, fields)| !fields.contains_key("cookie")),
        "{received:?}"
    );

    // Without --assets only the page is checked.
    let alone = check_all(std::slice::from_ref(&page), &Settings::default()).await;
    assert_eq!(alone.len(), 1);
    assert!(alone[0].outcome.as_ref().unwrap().assets.is_none());

    // An asset given on the command line too is checked once, as given.
    let css = format!("http://{addr}/assets/site.3f9a2b1c.css");
    let both = check_all(&[page.clone(), css.clone()], &settings).await;
    assert_eq!(both.iter().filter(|r| r.url == css).count(), 1);
}
