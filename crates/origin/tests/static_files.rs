//! The static file server over real sockets: reqwest for the semantics,
//! raw `std::net::TcpStream` for wire-exact checks.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use revalidate_origin::static_files::{StaticConfig, StaticFiles, cache_control};

const LM_SECS: u64 = 1_700_000_000;

type Headers<'a> = Vec<(&'a str, &'a str)>;
/// (case, request headers, status, Content-Range, body)
type ConditionalCase<'a> = (&'a str, Headers<'a>, u16, Option<&'a str>, Option<&'a [u8]>);
/// (case, request headers, status, body)
type VariantCase<'a> = (&'a str, Headers<'a>, u16, Option<Vec<u8>>);
/// (case, method, path, status, expected header)
type ErrorCase<'a> = (&'a str, &'a str, &'a str, u16, Option<(&'a str, &'a str)>);

fn tag_of(bytes: &[u8]) -> String {
    format!("\"{}\"", &blake3::hash(bytes).to_hex()[..32])
}

fn write(root: &Path, relative: &str, bytes: &[u8], mtime_secs: u64) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    set_mtime(&path, mtime_secs);
}

fn set_mtime(path: &Path, secs: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(UNIX_EPOCH + Duration::from_secs(secs)).unwrap();
}

fn http_date(secs: u64) -> String {
    revalidate_core::HttpDate::from_unix_seconds(secs)
        .unwrap()
        .to_string()
}

/// A text body big enough to be worth compressing.
fn text(seed: &str) -> Vec<u8> {
    format!("{seed}: the quick brown fox jumps over the lazy dog.\n")
        .repeat(100)
        .into_bytes()
}

struct Site {
    _root: tempfile::TempDir,
    _data: tempfile::TempDir,
    root: std::path::PathBuf,
    data: std::path::PathBuf,
}

impl Site {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        Self {
            root: root.path().to_path_buf(),
            data: data.path().to_path_buf(),
            _root: root,
            _data: data,
        }
    }

    fn config(&self) -> StaticConfig {
        StaticConfig::new(&self.root, &self.data)
    }
}

async fn serve(files: &StaticFiles) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = files.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = client().get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

/// Sends `request` as is and reads until the server closes.
async fn raw(addr: SocketAddr, request: String) -> Vec<u8> {
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).unwrap();
        out
    })
    .await
    .unwrap()
}

/// Status, header lines (lower-cased names) and body of a raw response.
fn split_response(bytes: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = std::str::from_utf8(&bytes[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    (status, headers, bytes[end + 4..].to_vec())
}

fn raw_request(method: &str, path: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}\r\n")
}

#[tokio::test]
async fn ok_responses_carry_etag_last_modified_cache_control_and_vary() {
    let site = Site::new();
    let cases: &[(&str, &[u8], &str, &str)] = &[
        (
            "index.html",
            b"<!doctype html><p>hi</p>",
            "text/html; charset=utf-8",
            cache_control::HTML,
        ),
        (
            "assets/app.3f9a2b1c.js",
            b"console.log(1)",
            "text/javascript; charset=utf-8",
            cache_control::IMMUTABLE,
        ),
        (
            "assets/main-5D7F2A1B.css",
            b"p{}",
            "text/css; charset=utf-8",
            cache_control::IMMUTABLE,
        ),
        ("logo.png", b"\x89PNG\r\n", "image/png", cache_control::DEFAULT),
        (
            "data.json",
            b"{}",
            "application/json; charset=utf-8",
            cache_control::DEFAULT,
        ),
        (
            "report.pdf",
            b"%PDF-1.4",
            "application/pdf",
            "public, max-age=600",
        ),
    ];
    for (path, bytes, _, _) in cases {
        write(&site.root, path, bytes, LM_SECS);
    }
    let mut config = site.config();
    config.cache_control = vec![("**/*.pdf".into(), "public, max-age=600".into())];
    let files = StaticFiles::open(config).unwrap();
    let addr = serve(&files).await;
    for (path, bytes, content_type, cache_control) in cases {
        let (status, headers, body) = get(addr, &format!("/{path}"), &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, *bytes, "{path}");
        assert_eq!(header(&headers, "etag"), Some(tag_of(bytes).as_str()), "{path}");
        assert_eq!(
            header(&headers, "last-modified"),
            Some(http_date(LM_SECS).as_str()),
            "{path}"
        );
        assert_eq!(header(&headers, "cache-control"), Some(*cache_control), "{path}");
        assert_eq!(header(&headers, "content-type"), Some(*content_type), "{path}");
        assert_eq!(header(&headers, "vary"), Some("accept-encoding"), "{path}");
        assert_eq!(
            header(&headers, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(header(&headers, "accept-ranges"), Some("bytes"), "{path}");
        assert_eq!(
            header(&headers, "content-length"),
            Some(bytes.len().to_string().as_str()),
            "{path}"
        );
    }
}

#[tokio::test]
async fn conditional_and_range_table() {
    let site = Site::new();
    let bytes = b"0123456789abcdefghij";
    write(&site.root, "f.txt", bytes, LM_SECS);
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = serve(&files).await;
    let tag = tag_of(bytes);
    let weak = format!("W/{tag}");
    let list = format!("\"nope\", {tag}, \"other\"");
    let lm = http_date(LM_SECS);
    let before = http_date(LM_SECS - 60);
    let after = http_date(LM_SECS + 60);

    // (case, request headers, status, Content-Range, body)
    let cases: Vec<ConditionalCase<'_>> = vec![
        ("plain", vec![], 200, None, Some(bytes)),
        (
            "inm_single_match",
            vec![("if-none-match", &tag)],
            304,
            None,
            Some(b""),
        ),
        (
            "inm_list_match",
            vec![("if-none-match", &list)],
            304,
            None,
            Some(b""),
        ),
        (
            "inm_weak_form_of_strong_tag",
            vec![("if-none-match", &weak)],
            304,
            None,
            Some(b""),
        ),
        ("inm_star", vec![("if-none-match", "*")], 304, None, Some(b"")),
        (
            "inm_other",
            vec![("if-none-match", "\"nope\"")],
            200,
            None,
            Some(bytes),
        ),
        (
            "ims_equal",
            vec![("if-modified-since", &lm)],
            304,
            None,
            Some(b""),
        ),
        (
            "ims_after",
            vec![("if-modified-since", &after)],
            304,
            None,
            Some(b""),
        ),
        (
            "ims_before",
            vec![("if-modified-since", &before)],
            200,
            None,
            Some(bytes),
        ),
        (
            "inm_other_overrides_ims",
            vec![("if-none-match", "\"nope\""), ("if-modified-since", &lm)],
            200,
            None,
            None,
        ),
        (
            "if_match_mismatch",
            vec![("if-match", "\"nope\"")],
            412,
            None,
            None,
        ),
        (
            "if_match_weak_never_matches",
            vec![("if-match", &weak)],
            412,
            None,
            None,
        ),
        ("if_match_match", vec![("if-match", &tag)], 200, None, Some(bytes)),
        (
            "ius_older_than_lm",
            vec![("if-unmodified-since", &before)],
            412,
            None,
            None,
        ),
        (
            "ius_equal",
            vec![("if-unmodified-since", &lm)],
            200,
            None,
            Some(bytes),
        ),
        (
            "range_single",
            vec![("range", "bytes=2-5")],
            206,
            Some("bytes 2-5/20"),
            Some(b"2345"),
        ),
        (
            "range_suffix",
            vec![("range", "bytes=-3")],
            206,
            Some("bytes 17-19/20"),
            Some(b"hij"),
        ),
        (
            "range_open",
            vec![("range", "bytes=18-")],
            206,
            Some("bytes 18-19/20"),
            Some(b"ij"),
        ),
        (
            "range_unsatisfiable",
            vec![("range", "bytes=50-60")],
            416,
            Some("bytes */20"),
            None,
        ),
        (
            "range_unknown_unit_ignored",
            vec![("range", "items=0-1")],
            200,
            None,
            Some(bytes),
        ),
        (
            "if_range_stale_etag",
            vec![("range", "bytes=0-1"), ("if-range", "\"old\"")],
            200,
            None,
            Some(bytes),
        ),
        (
            "if_range_matching_etag",
            vec![("range", "bytes=0-1"), ("if-range", &tag)],
            206,
            Some("bytes 0-1/20"),
            Some(b"01"),
        ),
        (
            "if_range_weak_never_matches",
            vec![("range", "bytes=0-1"), ("if-range", &weak)],
            200,
            None,
            Some(bytes),
        ),
        (
            "if_range_matching_date",
            vec![("range", "bytes=0-1"), ("if-range", &lm)],
            206,
            Some("bytes 0-1/20"),
            Some(b"01"),
        ),
        (
            "if_range_stale_date",
            vec![("range", "bytes=0-1"), ("if-range", &before)],
            200,
            None,
            Some(bytes),
        ),
        (
            "preconditions_before_range_304",
            vec![("if-none-match", &tag), ("range", "bytes=50-60")],
            304,
            None,
            Some(b""),
        ),
        (
            "preconditions_before_range_412",
            vec![("if-match", "\"nope\""), ("range", "bytes=50-60")],
            412,
            None,
            None,
        ),
    ];
    for (case, request, status, content_range, body) in cases {
        let (got_status, headers, got_body) = get(addr, "/f.txt", &request).await;
        assert_eq!(got_status.as_u16(), status, "{case}");
        assert_eq!(header(&headers, "content-range"), content_range, "{case}");
        if let Some(body) = body {
            assert_eq!(got_body, body, "{case}");
        }
        match status {
            200 | 206 | 304 => {
                assert_eq!(header(&headers, "vary"), Some("accept-encoding"), "{case}");
                assert_eq!(header(&headers, "etag"), Some(tag.as_str()), "{case}");
            }
            412 | 416 => {
                assert_eq!(
                    header(&headers, "content-type"),
                    Some("application/problem+json"),
                    "{case}"
                );
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn multiple_ranges_give_multipart_byteranges() {
    let site = Site::new();
    let bytes = b"0123456789abcdefghij";
    write(&site.root, "f.txt", bytes, LM_SECS);
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = serve(&files).await;
    let (status, headers, body) = get(addr, "/f.txt", &[("range", "bytes=0-1, 10-12")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    let content_type = header(&headers, "content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap();
    let expected = format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/20\r\n\r\n01\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 10-12/20\r\n\r\nabc\r\n\
         --{boundary}--\r\n"
    );
    assert_eq!(String::from_utf8(body).unwrap(), expected);
    assert_eq!(
        header(&headers, "content-length"),
        Some(expected.len().to_string().as_str())
    );
    assert_eq!(header(&headers, "vary"), Some("accept-encoding"));
}

#[tokio::test]
async fn not_modified_on_the_wire_has_no_body_and_exactly_the_304_header_set() {
    let site = Site::new();
    let bytes = text("wire");
    write(&site.root, "page.html", &bytes, LM_SECS);
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = serve(&files).await;
    let tag = tag_of(&bytes);
    for (case, extra) in [
        ("inm", format!("If-None-Match: {tag}\r\n")),
        ("ims", format!("If-Modified-Since: {}\r\n", http_date(LM_SECS))),
    ] {
        let response = raw(addr, raw_request("GET", "/page.html", &extra)).await;
        let (status, headers, body) = split_response(&response);
        assert_eq!(status, 304, "{case}");
        assert!(body.is_empty(), "{case}: 304 with a body: {body:?}");
        let names: BTreeSet<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        // `connection: close` answers the request's own; it is not about
        // the representation.
        let expected: BTreeSet<&str> = [
            "cache-control",
            "connection",
            "date",
            "etag",
            "vary",
            "x-content-type-options",
        ]
        .into_iter()
        .collect();
        assert_eq!(names, expected, "{case}: {headers:?}");
        let value = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(value("etag"), Some(tag.as_str()), "{case}");
        assert_eq!(value("vary"), Some("accept-encoding"), "{case}");
        assert_eq!(value("cache-control"), Some(cache_control::HTML), "{case}");
    }
}

#[tokio::test]
async fn head_is_get_without_the_body_on_the_wire() {
    let site = Site::new();
    write(&site.root, "small.txt", b"hello", LM_SECS);
    let big: Vec<u8> = (0..1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    write(&site.root, "big.bin", &big, LM_SECS);
    write(&site.root, "page.css", &text("head"), LM_SECS);
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = serve(&files).await;
    for (path, extra) in [
        ("/small.txt", ""),
        ("/big.bin", ""),
        ("/page.css", "Accept-Encoding: gzip\r\n"),
        ("/missing", ""),
    ] {
        let (get_status, get_headers, get_body) =
            split_response(&raw(addr, raw_request("GET", path, extra)).await);
        let (head_status, head_headers, head_body) =
            split_response(&raw(addr, raw_request("HEAD", path, extra)).await);
        assert_eq!(get_status, head_status, "{path}");
        assert!(
            head_body.is_empty(),
            "{path}: HEAD sent {} bytes",
            head_body.len()
        );
        let without_date = |h: Vec<(String, String)>| -> Vec<(String, String)> {
            let mut h: Vec<_> = h.into_iter().filter(|(n, _)| n != "date").collect();
            h.sort();
            h
        };
        let get_headers = without_date(get_headers);
        let length = get_headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.clone());
        assert_eq!(length, Some(get_body.len().to_string()), "{path}");
        if get_status == 200 {
            assert_eq!(without_date(head_headers), get_headers, "{path}");
        }
    }
    let (status, _, body) = get(addr, "/big.bin", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == big, "streamed body differs");
    let (status, headers, body) = get(addr, "/big.bin", &[("range", "bytes=1000000-1048592")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(&headers, "content-range"),
        Some("bytes 1000000-1048592/1048593")
    );
    assert!(body == big[1_000_000..], "streamed range differs");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliCompress(
        &mut &bytes[..],
        &mut out,
        &brotli::enc::BrotliEncoderParams::default(),
    )
    .unwrap();
    out
}

#[tokio::test]
async fn precompressed_siblings_are_chosen_by_accept_encoding_with_their_own_etags() {
    let site = Site::new();
    let original = text("siblings");
    let gz = gzip(&original);
    let br = brotli(&original);
    let zst = zstd::encode_all(&original[..], 3).unwrap();
    write(&site.root, "app.js", &original, LM_SECS);
    write(&site.root, "app.js.gz", &gz, LM_SECS);
    write(&site.root, "app.js.br", &br, LM_SECS);
    write(&site.root, "app.js.zst", &zst, LM_SECS);
    let mut config = site.config();
    config.compress_on_the_fly = false;
    let files = StaticFiles::open(config).unwrap();
    let addr = serve(&files).await;
    let cases: &[(&str, Option<&str>, &[u8])] = &[
        ("", None, &original),
        ("gzip", Some("gzip"), &gz),
        ("gzip, deflate, br", Some("br"), &br),
        ("gzip, deflate, br, zstd", Some("br"), &br),
        ("zstd", Some("zstd"), &zst),
        ("br;q=0.5, gzip;q=0.8", Some("gzip"), &gz),
        ("gzip;q=0.5, identity", None, &original),
        ("*", Some("br"), &br),
        ("*;q=0.1, zstd", Some("zstd"), &zst),
        ("identity;q=0, gzip", Some("gzip"), &gz),
        ("deflate", None, &original),
    ];
    for (accept, coding, bytes) in cases {
        let request: Vec<(&str, &str)> = if accept.is_empty() {
            vec![]
        } else {
            vec![("accept-encoding", accept)]
        };
        let (status, headers, body) = get(addr, "/app.js", &request).await;
        assert_eq!(status, StatusCode::OK, "{accept}");
        assert_eq!(header(&headers, "content-encoding"), *coding, "{accept}");
        assert_eq!(body, *bytes, "{accept}");
        let tag = tag_of(bytes);
        assert_eq!(header(&headers, "etag"), Some(tag.as_str()), "{accept}");
        assert_eq!(
            header(&headers, "content-type"),
            Some("text/javascript; charset=utf-8"),
            "{accept}"
        );
        assert_eq!(header(&headers, "vary"), Some("accept-encoding"), "{accept}");

        // Round trip: the variant's own tag revalidates that variant.
        let mut revalidate = request.clone();
        revalidate.push(("if-none-match", &tag));
        let (status, headers, body) = get(addr, "/app.js", &revalidate).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{accept}");
        assert!(body.is_empty());
        assert_eq!(header(&headers, "etag"), Some(tag.as_str()), "{accept}");
        assert_eq!(header(&headers, "vary"), Some("accept-encoding"), "{accept}");
    }

    let gz_tag = tag_of(&gz);
    let br_tag = tag_of(&br);
    let both = format!("{br_tag}, {gz_tag}");
    // (case, request headers, status, body)
    let cross: Vec<VariantCase<'_>> = vec![
        (
            "gzip_tag_under_br_is_not_current",
            vec![("accept-encoding", "br"), ("if-none-match", &gz_tag)],
            200,
            Some(br.clone()),
        ),
        (
            "list_of_variant_tags",
            vec![("accept-encoding", "gzip"), ("if-none-match", &both)],
            304,
            Some(vec![]),
        ),
        (
            "if_match_gzip_tag_for_gzip",
            vec![("accept-encoding", "gzip"), ("if-match", &gz_tag)],
            200,
            Some(gz.clone()),
        ),
        (
            "if_match_gzip_tag_for_identity",
            vec![("if-match", &gz_tag)],
            412,
            None,
        ),
        (
            "if_range_gzip_tag_for_gzip",
            vec![
                ("accept-encoding", "gzip"),
                ("if-range", &gz_tag),
                ("range", "bytes=0-9"),
            ],
            206,
            Some(gz[..10].to_vec()),
        ),
        (
            "if_range_gzip_tag_for_br",
            vec![
                ("accept-encoding", "br"),
                ("if-range", &gz_tag),
                ("range", "bytes=0-9"),
            ],
            200,
            Some(br.clone()),
        ),
    ];
    for (case, request, status, body) in cross {
        let (got_status, headers, got_body) = get(addr, "/app.js", &request).await;
        assert_eq!(got_status.as_u16(), status, "{case}");
        if let Some(body) = body {
            assert_eq!(got_body, body, "{case}");
        }
        if status != 412 {
            assert_eq!(header(&headers, "vary"), Some("accept-encoding"), "{case}");
        }
    }
    let (status, headers, _) = get(addr, "/app.js", &[("accept-encoding", "identity;q=0")]).await;
    assert_eq!(
        status,
        StatusCode::NOT_ACCEPTABLE,
        "no coding at all is acceptable"
    );
    assert_eq!(header(&headers, "content-type"), Some("application/problem+json"));
}

/// The shell's rule (`respond`): several ranges of a content-coded variant
/// get the whole variant, since a multipart body under `Content-Encoding`
/// is ambiguous; one range of it is a `206` over the coded bytes, and the
/// identity file still gets its multipart body.
#[tokio::test]
async fn multiple_ranges_of_a_coded_variant_get_the_whole_variant() {
    let site = Site::new();
    let original = text("coded ranges");
    let gz = gzip(&original);
    write(&site.root, "app.js", &original, LM_SECS);
    write(&site.root, "app.js.gz", &gz, LM_SECS);
    let mut config = site.config();
    config.compress_on_the_fly = false;
    let files = StaticFiles::open(config).unwrap();
    let addr = serve(&files).await;

    let gzip_ranges = [("accept-encoding", "gzip"), ("range", "bytes=0-1, 4-5")];
    let (status, headers, body) = get(addr, "/app.js", &gzip_ranges).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    assert_eq!(header(&headers, "content-range"), None);
    assert_eq!(body, gz);

    let gzip_range = [("accept-encoding", "gzip"), ("range", "bytes=0-1")];
    let (status, headers, body) = get(addr, "/app.js", &gzip_range).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    let expected = format!("bytes 0-1/{}", gz.len());
    assert_eq!(header(&headers, "content-range"), Some(expected.as_str()));
    assert_eq!(body, gz[..2]);

    let (status, headers, _) = get(addr, "/app.js", &[("range", "bytes=0-1, 4-5")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert!(
        header(&headers, "content-type").is_some_and(|t| t.starts_with("multipart/byteranges; boundary=")),
        "{headers:?}"
    );
}

/// A range that covers the whole file is a `206` (the core's policy, the
/// origin's before it): a `200` would read as "no ranges here" to a media
/// player probing with `bytes=0-`.
#[tokio::test]
async fn a_range_covering_the_whole_file_is_a_206() {
    let site = Site::new();
    let bytes = b"0123456789";
    write(&site.root, "f.txt", bytes, LM_SECS);
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = serve(&files).await;
    for range in ["bytes=0-", "bytes=0-9", "bytes=-10", "bytes=0-99"] {
        // Twice: the first answer makes the file's template, the second
        // answers from it.
        for _ in 0..2 {
            let (status, headers, body) = get(addr, "/f.txt", &[("range", range)]).await;
            assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{range}");
            assert_eq!(header(&headers, "content-range"), Some("bytes 0-9/10"), "{range}");
            assert_eq!(header(&headers, "content-length"), Some("10"), "{range}");
            assert_eq!(body, bytes, "{range}");
        }
    }
}

#[tokio::test]
async fn stale_sibling_older_than_its_original_is_not_served() {
    let site = Site::new();
    let old = text("old version");
    let new = text("new version");
    write(&site.root, "app.css", &new, LM_SECS + 10);
    write(&site.root, "app.css.gz", &gzip(&old), LM_SECS);
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = serve(&files).await;
    let (status, headers, body) = get(addr, "/app.css", &[("accept-encoding", "gzip")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, "content-encoding"),
        Some("gzip"),
        "compressed on the fly instead"
    );
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, new);
}

#[tokio::test]
async fn on_the_fly_compression_has_a_stable_etag_that_round_trips() {
    let site = Site::new();
    let original = text("fly");
    write(&site.root, "notes.txt", &original, LM_SECS);
    write(&site.root, "tiny.txt", b"too small to bother", LM_SECS);
    write(&site.root, "photo.png", &text("not really a png"), LM_SECS);
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = serve(&files).await;
    let mut tags = Vec::new();
    for coding in ["gzip", "br", "zstd"] {
        let request = [("accept-encoding", coding)];
        let (status, headers, body) = get(addr, "/notes.txt", &request).await;
        assert_eq!(status, StatusCode::OK, "{coding}");
        assert_eq!(header(&headers, "content-encoding"), Some(coding), "{coding}");
        let decoded = match coding {
            "gzip" => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            "br" => {
                let mut out = Vec::new();
                brotli::BrotliDecompress(&mut &body[..], &mut out).unwrap();
                out
            }
            _ => zstd::decode_all(&body[..]).unwrap(),
        };
        assert_eq!(decoded, original, "{coding}");
        let tag = tag_of(&body);
        assert_eq!(header(&headers, "etag"), Some(tag.as_str()), "{coding}");
        assert_ne!(tag, tag_of(&original), "{coding}");
        assert_eq!(
            header(&headers, "last-modified"),
            Some(http_date(LM_SECS).as_str())
        );

        let hashed = files.files_hashed();
        let (status, again, again_body) = get(addr, "/notes.txt", &request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            header(&again, "etag"),
            Some(tag.as_str()),
            "{coding}: deterministic"
        );
        assert_eq!(again_body, body, "{coding}");
        assert_eq!(
            files.files_hashed(),
            hashed,
            "{coding}: served from the cache, no rehash"
        );

        let (status, not_modified, _) = get(
            addr,
            "/notes.txt",
            &[("accept-encoding", coding), ("if-none-match", &tag)],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{coding}");
        assert_eq!(header(&not_modified, "etag"), Some(tag.as_str()));
        tags.push(tag);
    }
    for (path, why) in [
        ("/tiny.txt", "below the minimum size"),
        ("/photo.png", "not a text type"),
    ] {
        let (_, headers, _) = get(addr, path, &[("accept-encoding", "gzip")]).await;
        assert_eq!(header(&headers, "content-encoding"), None, "{why}");
    }
    // A reindex keeps the compressions of live content and deletes those
    // of content that is gone.
    let cached = |dir: &Path| std::fs::read_dir(dir.join("compressed")).unwrap().count();
    files.index_all(false).unwrap();
    assert_eq!(cached(&site.data), 3);
    std::fs::remove_file(site.root.join("notes.txt")).unwrap();
    files.index_all(false).unwrap();
    assert_eq!(cached(&site.data), 0);
    write(&site.root, "notes.txt", &original, LM_SECS);

    // Another server on another data dir computes the same tags.
    let other_data = tempfile::tempdir().unwrap();
    let other = StaticFiles::open(StaticConfig::new(&site.root, other_data.path())).unwrap();
    let other_addr = serve(&other).await;
    for (coding, tag) in ["gzip", "br", "zstd"].into_iter().zip(&tags) {
        let (_, headers, _) = get(other_addr, "/notes.txt", &[("accept-encoding", coding)]).await;
        assert_eq!(header(&headers, "etag"), Some(tag.as_str()), "{coding}");
    }
}

#[tokio::test]
async fn large_text_is_compressed_in_the_background_meanwhile_identity() {
    let site = Site::new();
    let original: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("line {i} of a big log\n").into_bytes())
        .collect();
    assert!(original.len() as u64 > revalidate_origin::static_files::COMPRESS_WHILE_WAITING);
    write(&site.root, "big.log", &original, LM_SECS);
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = serve(&files).await;
    let (status, headers, body) = get(addr, "/big.log", &[("accept-encoding", "gzip")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, "content-encoding"),
        None,
        "the first request does not wait"
    );
    assert_eq!(body, original);
    let mut compressed = None;
    for _ in 0..200 {
        let (_, headers, body) = get(addr, "/big.log", &[("accept-encoding", "gzip")]).await;
        if header(&headers, "content-encoding") == Some("gzip") {
            assert_eq!(header(&headers, "etag"), Some(tag_of(&body).as_str()));
            compressed = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let compressed = compressed.expect("the background compression finished");
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, original);
}

#[tokio::test]
async fn watcher_prewarms_new_files_before_they_are_requested() {
    let site = Site::new();
    let files = StaticFiles::open(site.config()).unwrap();
    let _watcher = files.watch().unwrap();
    write(&site.root, "new/fresh.txt", b"fresh", LM_SECS);
    let mut waited = 0;
    while files.files_hashed() == 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert!(files.files_hashed() >= 1, "the watcher hashed the new file");
    // Let any trailing events settle before counting.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let hashed = files.files_hashed();
    let addr = serve(&files).await;
    let (_, headers, _) = get(addr, "/new/fresh.txt", &[]).await;
    assert_eq!(header(&headers, "etag"), Some(tag_of(b"fresh").as_str()));
    assert_eq!(files.files_hashed(), hashed, "the request found it in the index");
}

#[tokio::test]
async fn same_bytes_in_two_roots_with_different_mtimes_get_the_same_etag() {
    let (a, b) = (Site::new(), Site::new());
    write(&a.root, "x/same.css", b"body{color:red}", LM_SECS);
    write(&b.root, "x/same.css", b"body{color:red}", LM_SECS + 86_400);
    let (fa, fb) = (
        StaticFiles::open(a.config()).unwrap(),
        StaticFiles::open(b.config()).unwrap(),
    );
    let (addr_a, addr_b) = (serve(&fa).await, serve(&fb).await);
    let (_, ha, _) = get(addr_a, "/x/same.css", &[]).await;
    let (_, hb, _) = get(addr_b, "/x/same.css", &[]).await;
    assert_eq!(header(&ha, "etag"), header(&hb, "etag"));
    assert_ne!(header(&ha, "last-modified"), header(&hb, "last-modified"));
}

#[tokio::test]
async fn changed_file_gets_a_new_etag_even_with_same_size() {
    let site = Site::new();
    write(&site.root, "v.txt", b"version-1", LM_SECS);
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = serve(&files).await;
    let (_, first, _) = get(addr, "/v.txt", &[]).await;
    assert_eq!(header(&first, "etag"), Some(tag_of(b"version-1").as_str()));

    // Same size, mtime changed.
    write(&site.root, "v.txt", b"version-2", LM_SECS + 5);
    let (_, second, body) = get(addr, "/v.txt", &[("if-none-match", &tag_of(b"version-1"))]).await;
    assert_eq!(body, b"version-2");
    assert_eq!(header(&second, "etag"), Some(tag_of(b"version-2").as_str()));

    // Same size and the old mtime put back (`touch -r`): ctime still moved.
    std::thread::sleep(Duration::from_millis(20));
    write(&site.root, "v.txt", b"version-3", LM_SECS + 5);
    let (status, third, body) = get(addr, "/v.txt", &[("if-none-match", &tag_of(b"version-2"))]).await;
    assert_eq!(status, StatusCode::OK, "an old tag must not revalidate new bytes");
    assert_eq!(body, b"version-3");
    assert_eq!(header(&third, "etag"), Some(tag_of(b"version-3").as_str()));
}

/// The in-memory caches of the stat fast path (response templates and
/// small-file bytes) are keyed by the file's stamp: once warm, an in-place
/// rewrite with the same size and the old mtime put back must still give
/// the new bytes under the new tag, on every request after it.
#[tokio::test]
async fn warm_caches_never_serve_old_bytes_after_an_in_place_rewrite() {
    let site = Site::new();
    write(&site.root, "w.txt", b"warm-one", LM_SECS);
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = serve(&files).await;
    for _ in 0..3 {
        let (status, headers, body) = get(addr, "/w.txt", &[]).await;
        assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"warm-one"[..]));
        assert_eq!(header(&headers, "etag"), Some(tag_of(b"warm-one").as_str()));
    }
    std::thread::sleep(Duration::from_millis(20));
    write(&site.root, "w.txt", b"warm-two", LM_SECS);
    for _ in 0..3 {
        let (status, headers, body) = get(addr, "/w.txt", &[("if-none-match", &tag_of(b"warm-one"))]).await;
        assert_eq!(status, StatusCode::OK, "an old tag must not revalidate new bytes");
        assert_eq!(body, b"warm-two");
        assert_eq!(header(&headers, "etag"), Some(tag_of(b"warm-two").as_str()));
    }
    let (status, _, body) = get(addr, "/w.txt", &[("if-none-match", &tag_of(b"warm-two"))]).await;
    assert_eq!((status, body.len()), (StatusCode::NOT_MODIFIED, 0));
}

#[tokio::test]
async fn restart_reuses_the_saved_index_without_rehashing() {
    let site = Site::new();
    for i in 0..20 {
        write(
            &site.root,
            &format!("d{}/f{i}.txt", i % 3),
            format!("file {i}").as_bytes(),
            LM_SECS,
        );
    }
    let first = StaticFiles::open(site.config()).unwrap();
    let summary = first.index_all(true).unwrap();
    assert_eq!((summary.files, summary.hashed), (20, 20));
    assert_eq!(
        first.index_all(false).unwrap().hashed,
        0,
        "a second walk rehashes nothing"
    );
    drop(first);

    let second = StaticFiles::open(site.config()).unwrap();
    assert_eq!(second.indexed_files(), 20);
    let addr = serve(&second).await;
    for i in 0..20 {
        let (status, headers, _) = get(addr, &format!("/d{}/f{i}.txt", i % 3), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            header(&headers, "etag"),
            Some(tag_of(format!("file {i}").as_bytes()).as_str())
        );
    }
    assert_eq!(second.index_all(false).unwrap().hashed, 0);
    assert_eq!(second.files_hashed(), 0, "nothing was rehashed after the restart");

    // A file changed while the server was down is rehashed, alone.
    write(&site.root, "d0/f0.txt", b"file X", LM_SECS + 1);
    drop(second);
    let third = StaticFiles::open(site.config()).unwrap();
    assert_eq!(third.index_all(false).unwrap().hashed, 1);
}

#[tokio::test]
async fn traversal_attempts_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(outer.path().join("secret.txt"), b"TOP-SECRET").unwrap();
    std::fs::create_dir(root.join("a")).unwrap();
    std::fs::write(root.join("a/ok.txt"), b"fine").unwrap();
    std::fs::write(root.join(".env"), b"TOP-SECRET").unwrap();
    let data = tempfile::tempdir().unwrap();
    let files = StaticFiles::open(StaticConfig::new(&root, data.path())).unwrap();
    let addr = serve(&files).await;
    for path in [
        "/../secret.txt",
        "/a/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/a/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/a%2f..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/a/..\\..\\secret.txt",
        "/a%5c..%5c..%5csecret.txt",
        "/a/ok.txt%00",
        "/.env",
        "/%2eenv",
        "//secret.txt",
        "/a/./ok.txt",
    ] {
        let response = raw(addr, raw_request("GET", path, "")).await;
        let (status, _, body) = split_response(&response);
        assert!(matches!(status, 400 | 404), "{path}: {status}");
        assert!(!String::from_utf8_lossy(&body).contains("TOP-SECRET"), "{path}");
    }
    let (status, _, body) = get(addr, "/a/ok.txt", &[]).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, b"fine".as_slice()));
}

#[cfg(unix)]
#[tokio::test]
async fn symlink_escaping_the_root_is_refused_unless_allowed() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(outer.path().join("secret.txt"), b"TOP-SECRET").unwrap();
    std::fs::create_dir(outer.path().join("elsewhere")).unwrap();
    std::fs::write(outer.path().join("elsewhere/x.txt"), b"TOP-SECRET").unwrap();
    std::fs::write(root.join("inside.txt"), b"inside").unwrap();
    std::os::unix::fs::symlink(outer.path().join("secret.txt"), root.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(outer.path().join("elsewhere"), root.join("dir")).unwrap();
    std::os::unix::fs::symlink(root.join("inside.txt"), root.join("alias.txt")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let files = StaticFiles::open(StaticConfig::new(&root, data.path())).unwrap();
    let addr = serve(&files).await;
    for path in ["/leak.txt", "/dir/x.txt"] {
        let (status, _, body) = get(addr, path, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!String::from_utf8_lossy(&body).contains("TOP-SECRET"), "{path}");
    }
    let (status, _, body) = get(addr, "/alias.txt", &[]).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, b"inside".as_slice()));

    let mut config = StaticConfig::new(&root, data.path());
    config.follow_symlinks_outside_root = true;
    let following = StaticFiles::open(config).unwrap();
    let addr = serve(&following).await;
    let (status, _, body) = get(addr, "/leak.txt", &[]).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, b"TOP-SECRET".as_slice())
    );
}

#[tokio::test]
async fn bogus_mtimes_get_no_last_modified_but_keep_the_etag() {
    let site = Site::new();
    write(&site.root, "zero.txt", b"nix", 0);
    write(&site.root, "one.txt", b"bazel", 1);
    write(&site.root, "two.txt", b"real", 2);
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = serve(&files).await;
    for (path, bytes, has_lm) in [
        ("/zero.txt", &b"nix"[..], false),
        ("/one.txt", b"bazel", false),
        ("/two.txt", b"real", true),
    ] {
        let (status, headers, _) = get(addr, path, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&headers, "last-modified").is_some(), has_lm, "{path}");
        assert_eq!(header(&headers, "etag"), Some(tag_of(bytes).as_str()), "{path}");
        let (status, _, _) = get(addr, path, &[("if-modified-since", &http_date(LM_SECS))]).await;
        assert_eq!(
            status == StatusCode::NOT_MODIFIED,
            has_lm,
            "{path}: IMS without Last-Modified"
        );
    }
}

#[tokio::test]
async fn future_mtime_is_clamped_to_now() {
    let site = Site::new();
    let future = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 86_400 * 365;
    write(&site.root, "future.txt", b"later", future);
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = serve(&files).await;
    let (_, headers, _) = get(addr, "/future.txt", &[]).await;
    let lm = httpdate::parse_http_date(header(&headers, "last-modified").unwrap()).unwrap();
    assert!(lm <= SystemTime::now());
}

#[tokio::test]
async fn errors_are_problem_details_never_500() {
    let site = Site::new();
    write(&site.root, "dir/index.html", b"<p>dir</p>", LM_SECS);
    write(&site.root, "empty/.keep", b"", LM_SECS);
    write(&site.root, "file.txt", b"f", LM_SECS);
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = serve(&files).await;
    // (case, method, path, status, Location or Allow)
    let cases: &[ErrorCase<'_>] = &[
        (
            "post_is_405",
            "POST",
            "/file.txt",
            405,
            Some(("allow", "GET, HEAD")),
        ),
        (
            "delete_is_405",
            "DELETE",
            "/nothing",
            405,
            Some(("allow", "GET, HEAD")),
        ),
        ("missing_is_404", "GET", "/nothing.txt", 404, None),
        ("file_as_directory_is_404", "GET", "/file.txt/", 404, None),
        (
            "directory_without_slash_redirects",
            "GET",
            "/dir",
            301,
            Some(("location", "/dir/")),
        ),
        (
            "redirect_keeps_query",
            "GET",
            "/dir?a=1",
            301,
            Some(("location", "/dir/?a=1")),
        ),
        (
            "no_open_redirect",
            "GET",
            "//dir",
            301,
            Some(("location", "/dir/")),
        ),
        ("directory_serves_index", "GET", "/dir/", 200, None),
        ("directory_without_index_is_403", "GET", "/empty/", 403, None),
        (
            "identity_refused_nothing_else_is_406",
            "GET",
            "/file.txt",
            406,
            None,
        ),
    ];
    for (case, method, path, status, expected_header) in cases {
        let extra = if case.contains("406") {
            "Accept-Encoding: identity;q=0\r\n"
        } else {
            ""
        };
        let (got, headers, body) = split_response(&raw(addr, raw_request(method, path, extra)).await);
        assert_eq!(got, *status, "{case}");
        let value = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        if let Some((name, expected)) = expected_header {
            assert_eq!(value(name), Some(*expected), "{case}");
        }
        if *status >= 400 {
            assert_eq!(value("content-type"), Some("application/problem+json"), "{case}");
            let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(problem["status"], *status, "{case}");
        }
    }
}

#[tokio::test]
async fn directory_listing_when_enabled() {
    let site = Site::new();
    write(&site.root, "docs/a.txt", b"a", LM_SECS);
    write(&site.root, "docs/sub dir/b.txt", b"b", LM_SECS);
    let mut config = site.config();
    config.directory_listing = true;
    let files = StaticFiles::open(config).unwrap();
    let addr = serve(&files).await;
    let (status, headers, body) = get(addr, "/docs/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8(body.clone()).unwrap();
    assert!(
        html.contains("href=\"a.txt\"") && html.contains("href=\"sub%20dir/\""),
        "{html}"
    );
    assert_eq!(header(&headers, "content-type"), Some("text/html; charset=utf-8"));
    let tag = header(&headers, "etag").unwrap().to_owned();
    assert_eq!(tag, tag_of(&body));
    let (status, _, _) = get(addr, "/docs/", &[("if-none-match", &tag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn data_directory_inside_the_root_is_not_served() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("page.txt"), b"page").unwrap();
    let files = StaticFiles::open(StaticConfig::new(root.path(), root.path().join("data"))).unwrap();
    files.index_all(false).unwrap();
    let addr = serve(&files).await;
    let (status, _, _) = get(addr, "/data/static-index.bin", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(addr, "/page.txt", &[]).await;
    assert_eq!(status, StatusCode::OK);
}

/// Sends `count` keep-alive GETs on one connection and checks each status
/// and body length; returns requests per second.
fn hammer(addr: SocketAddr, path: &str, extra: &str, count: usize, status: u16, body_len: usize) -> f64 {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{extra}\r\n");
    let mut buffer = vec![0u8; body_len + 4096];
    let started = std::time::Instant::now();
    for _ in 0..count {
        stream.write_all(request.as_bytes()).unwrap();
        let mut filled = 0;
        let head_end = loop {
            let n = stream.read(&mut buffer[filled..]).unwrap();
            assert!(n > 0, "connection closed");
            filled += n;
            if let Some(end) = buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
        };
        let head = std::str::from_utf8(&buffer[..head_end])
            .unwrap()
            .to_ascii_lowercase();
        assert!(head.starts_with(&format!("http/1.1 {status}")), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        assert_eq!(length, if status == 304 { 0 } else { body_len });
        while filled < head_end + length {
            let n = stream.read(&mut buffer[filled..]).unwrap();
            assert!(n > 0, "connection closed mid-body");
            filled += n;
        }
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// Throughput on one keep-alive connection per client thread:
/// `cargo test --release -p revalidate-origin --test origin -- --ignored --nocapture throughput`.
#[test]
#[ignore = "a measurement, run in release by hand"]
fn throughput() {
    let site = Site::new();
    let small = vec![b'a'; 1024];
    let big = vec![b'b'; 1024 * 1024];
    write(&site.root, "small.bin", &small, LM_SECS);
    write(&site.root, "big.bin", &big, LM_SECS);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let files = StaticFiles::open(site.config()).unwrap();
    let addr = runtime.block_on(serve(&files));
    let tag = tag_of(&small);
    let inm = format!("If-None-Match: {tag}\r\n");
    for (name, path, extra, status, len, count) in [
        ("1 KiB 200", "/small.bin", "", 200, 1024, 20_000),
        ("304", "/small.bin", inm.as_str(), 304, 0, 20_000),
        ("1 MiB 200", "/big.bin", "", 200, 1024 * 1024, 2_000),
    ] {
        hammer(addr, path, extra, 200, status, len);
        let clients = 2;
        let per_client = count / clients;
        let rates: Vec<f64> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..clients)
                .map(|_| scope.spawn(move || hammer(addr, path, extra, per_client, status, len)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        println!("{name}: {:.0} req/s", rates.iter().sum::<f64>());
    }
}

/// The origin reads the time through its clock seam: a file modified after
/// the server's "now" is sent with `Last-Modified` equal to now (RFC 9110
/// §8.8.2.1: an origin "MUST NOT send a Last-Modified date that is later
/// than the server's time of message origination"), and an
/// `If-Modified-Since` later than now is ignored until the clock passes it.
#[tokio::test]
async fn the_static_files_read_now_from_their_clock() {
    let site = Site::new();
    write(&site.root, "f.txt", b"clocked", LM_SECS);
    let clock = revalidate_origin::clock::ManualClock::new(UNIX_EPOCH + Duration::from_secs(LM_SECS - 100));
    let files = StaticFiles::open_with_clock(site.config(), std::sync::Arc::new(clock.clone())).unwrap();
    let addr = serve(&files).await;

    let (status, headers, _) = get(addr, "/f.txt", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, "last-modified"),
        Some(http_date(LM_SECS - 100).as_str())
    );

    clock.advance(Duration::from_secs(200));
    let ims = http_date(LM_SECS + 150);
    let (status, _, _) = get(addr, "/f.txt", &[("if-modified-since", &ims)]).await;
    assert_eq!(status, StatusCode::OK, "If-Modified-Since after now is ignored");
    clock.advance(Duration::from_secs(100));
    let (status, headers, _) = get(addr, "/f.txt", &[("if-modified-since", &ims)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED, "now past it: the file is older");
    assert_eq!(
        header(&headers, "last-modified"),
        None,
        "a 304 with an ETag drops Last-Modified"
    );
}
