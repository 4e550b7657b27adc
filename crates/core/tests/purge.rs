//! The purge API's wire format, as both ends see it: what the origin sends
//! reads back the same at the edge, and the edge's answer keeps its bytes.

use revalidate_core::purge::{PURGE_PATH, PurgeCounts, PurgeRequest, PurgeResponse};

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|&s| s.to_owned()).collect()
}

#[test]
fn the_path() {
    assert_eq!(PURGE_PATH, "/_revalidate/purge");
}

#[test]
fn requests_serialise_without_empty_lists() {
    let cases = [
        ("nothing", PurgeRequest::default(), "{}"),
        (
            "urls alone (what the origin sends)",
            PurgeRequest::urls(strings(&["/api/notes/a"])),
            r#"{"urls":["/api/notes/a"]}"#,
        ),
        (
            "all three",
            PurgeRequest {
                urls: strings(&["/a"]),
                prefixes: strings(&["/assets/"]),
                tags: strings(&["note-1", "note-2"]),
            },
            r#"{"urls":["/a"],"prefixes":["/assets/"],"tags":["note-1","note-2"]}"#,
        ),
        (
            "tags alone",
            PurgeRequest {
                tags: strings(&["t"]),
                ..PurgeRequest::default()
            },
            r#"{"tags":["t"]}"#,
        ),
    ];
    for (case, request, json) in cases {
        assert_eq!(request.to_json(), json, "{case}");
        assert_eq!(
            PurgeRequest::from_json(json.as_bytes()).unwrap(),
            request,
            "{case}: round trip"
        );
    }
}

#[test]
fn url_requests_name_each_url_once_in_order() {
    let request = PurgeRequest::urls(strings(&["/n/b", "/n/a", "/n/b", "/n/c", "/n/a"]));
    assert_eq!(request.urls, strings(&["/n/b", "/n/a", "/n/c"]));
    assert!(request.prefixes.is_empty() && request.tags.is_empty());
}

#[test]
fn reading_requests() {
    // (body, Some(is_empty) when it reads, None when refused)
    let cases: [(&str, Option<bool>); 11] = [
        (
            r#"{"urls": ["/a"], "prefixes": ["/b/"], "tags": ["c"]}"#,
            Some(false),
        ),
        (r#"{"prefixes": ["/b/"]}"#, Some(false)),
        (r#"{"urls": []}"#, Some(true)),
        ("{}", Some(true)),
        (r#"{"url": ["/a"]}"#, None),
        (r#"{"urls": ["/a"], "extra": 1}"#, None),
        (r#"{"urls": "/a"}"#, None),
        (r#"{"urls": [1]}"#, None),
        // serde reads a struct from an array of its members too; an empty
        // one names nothing, which a cache refuses all the same.
        ("[]", Some(true)),
        ("true", None),
        ("", None),
    ];
    for (body, expected) in cases {
        let read = PurgeRequest::from_json(body.as_bytes())
            .ok()
            .map(|r| r.is_empty());
        assert_eq!(read, expected, "{body}");
    }
}

#[test]
fn the_answer_keeps_its_bytes() {
    let answer = PurgeResponse {
        purged: PurgeCounts {
            prefixes: 1,
            tags: 3,
            urls: 2,
        },
    };
    let json = r#"{"purged":{"prefixes":1,"tags":3,"urls":2}}"#;
    assert_eq!(answer.to_json(), json);
    assert_eq!(PurgeResponse::from_json(json.as_bytes()).unwrap(), answer);
}
