//! RFC 9110 §9.3.4: an origin "MUST NOT send a validator field (Section
//! 8.8), such as an ETag or Last-Modified field, in a successful response
//! to PUT unless the request's representation data was saved without any
//! transformation applied to the body". The API stores a PUT's bytes as
//! sent, so the validators it answers with name the bytes a GET returns.
//! A PATCH's new representation is the server's own serialisation of the
//! merge: its response carries that body and the validators naming it.

use reqwest::{Method, StatusCode};

use crate::api_support::{Api, etag};

/// Valid JSON, formatted as no serialiser would write it.
const UNUSUAL: [&str; 6] = [
    "{ \"zeta\" : 1.0 ,\n\t\"alpha\": [ 1e2, -0, 10.50 ] }\n",
    r#"{"b":2,"a":1,"c":{"z":null,"y":false}}"#,
    r#"{"e":"\u00e9","E":"\u00E9","smile":"\ud83d\ude00","slash":"\/","raw":"é"}"#,
    "  [ ]  ",
    r#"{"big":123456789012345678901234567890,"tiny":1.0000000000000000000001,"exp":1E+2}"#,
    r#"{"dup":1,"dup":2}"#,
];

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn put(api: &Api, path: &str, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = api
        .request(Method::PUT, path)
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// Each unusual text, PUT to create and PUT again to replace, comes back
/// from GET byte for byte, with the ETag and Last-Modified the PUT
/// answered, and that ETag makes the GET conditional (304).
#[tokio::test]
async fn a_put_body_is_served_byte_for_byte_with_the_validators_the_put_sent() {
    let api = Api::start_with(Vec::new()).await;
    for (i, text) in UNUSUAL.into_iter().enumerate() {
        let path = format!("/api/exact/d{i}");
        let created = put(&api, &path, text, &[]).await;
        assert_eq!(created.status(), StatusCode::CREATED, "{text}");
        let tag = etag(&created);
        let last_modified = header(&created, "last-modified").expect("Last-Modified");
        assert_eq!(
            created.text().await.unwrap(),
            text,
            "the 201 carries the bytes sent"
        );

        let read = api.request(Method::GET, &path).send().await.unwrap();
        assert_eq!(read.status(), StatusCode::OK);
        assert_eq!(etag(&read), tag, "{text}: GET names the version the PUT named");
        assert_eq!(header(&read, "last-modified").as_deref(), Some(&*last_modified));
        assert_eq!(read.bytes().await.unwrap(), text.as_bytes(), "{text}: byte-exact");

        let revalidated = api
            .request(Method::GET, &path)
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED, "{text}");

        // Replace it with the next unusual text, guarded by the tag.
        let next = UNUSUAL[(i + 1) % UNUSUAL.len()];
        let replaced = put(&api, &path, next, &[("if-match", &tag)]).await;
        assert_eq!(replaced.status(), StatusCode::OK, "{text}");
        let next_tag = etag(&replaced);
        assert_ne!(next_tag, tag);
        assert_eq!(replaced.text().await.unwrap(), next);
        let read = api.request(Method::GET, &path).send().await.unwrap();
        assert_eq!(etag(&read), next_tag);
        assert_eq!(read.bytes().await.unwrap(), next.as_bytes());
    }
}

/// One row per rule: the request, the status, whether the response carries
/// validators, and what a GET afterwards returns.
#[tokio::test]
async fn put_and_patch_validators_follow_the_rfc_table() {
    struct Case {
        name: &'static str,
        method: Method,
        content_type: &'static str,
        body: &'static str,
        /// `If-Match` with the tag of the version before the case (`Some(true)`),
        /// with a stale tag (`Some(false)`), or none.
        if_match_current: Option<bool>,
        status: StatusCode,
        validators: bool,
        /// What GET returns afterwards.
        stored: &'static str,
    }
    let stale = "\"0000000000000000000000000000dead\"";
    let cases = [
        Case {
            name: "§9.3.4 PUT creates: saved as sent, so 201 with validators",
            method: Method::PUT,
            content_type: "application/json",
            body: "{ \"n\" : 1.0 }",
            if_match_current: None,
            status: StatusCode::CREATED,
            validators: true,
            stored: "{ \"n\" : 1.0 }",
        },
        Case {
            name: "§9.3.4 PUT replaces: saved as sent, so 200 with validators",
            method: Method::PUT,
            content_type: "application/json",
            body: "{\"n\":2,  \"m\":\"\\u00e9\"}",
            if_match_current: Some(true),
            status: StatusCode::OK,
            validators: true,
            stored: "{\"n\":2,  \"m\":\"\\u00e9\"}",
        },
        Case {
            name: "§13.1.1 PUT with a stale If-Match: 412, nothing written",
            method: Method::PUT,
            content_type: "application/json",
            body: "{\"n\":3}",
            if_match_current: Some(false),
            status: StatusCode::PRECONDITION_FAILED,
            validators: true,
            stored: "{\"n\":2,  \"m\":\"\\u00e9\"}",
        },
        Case {
            name: "PUT of invalid JSON: 400 without validators, nothing written",
            method: Method::PUT,
            content_type: "application/json",
            body: "{\"n\":",
            if_match_current: Some(true),
            status: StatusCode::BAD_REQUEST,
            validators: false,
            stored: "{\"n\":2,  \"m\":\"\\u00e9\"}",
        },
        Case {
            name: "RFC 5789 PATCH (RFC 7396 merge): the server's serialisation, 200 with its validators",
            method: Method::PATCH,
            content_type: "application/merge-patch+json",
            body: "{ \"m\" : null , \"p\" : [ 1.0 ] }",
            if_match_current: Some(true),
            status: StatusCode::OK,
            validators: true,
            stored: "{\"n\":2,\"p\":[1.0]}",
        },
        Case {
            name: "§13.1.1 PATCH with a stale If-Match: 412, nothing written",
            method: Method::PATCH,
            content_type: "application/merge-patch+json",
            body: "{\"n\":4}",
            if_match_current: Some(false),
            status: StatusCode::PRECONDITION_FAILED,
            validators: true,
            stored: "{\"n\":2,\"p\":[1.0]}",
        },
    ];
    let api = Api::start_with(Vec::new()).await;
    let path = "/api/table/one";
    let mut current: Option<String> = None;
    for case in cases {
        let mut request = api
            .request(case.method.clone(), path)
            .header("content-type", case.content_type)
            .body(case.body);
        match case.if_match_current {
            Some(true) => request = request.header("if-match", current.as_deref().unwrap()),
            Some(false) => request = request.header("if-match", stale),
            None => {}
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), case.status, "{}", case.name);
        let tag = header(&response, "etag");
        let last_modified = header(&response, "last-modified");
        assert_eq!(tag.is_some(), case.validators, "{}: ETag", case.name);
        let successful = response.status().is_success();
        assert_eq!(
            last_modified.is_some(),
            case.validators && successful,
            "{}: Last-Modified only with a representation",
            case.name
        );
        let answered = response.text().await.unwrap();

        let read = api.request(Method::GET, path).send().await.unwrap();
        let read_tag = etag(&read);
        let read_last_modified = header(&read, "last-modified");
        assert_eq!(read.text().await.unwrap(), case.stored, "{}: stored", case.name);
        if successful {
            // The validators the write sent name exactly what GET now serves.
            assert_eq!(answered, case.stored, "{}: the write's body", case.name);
            assert_eq!(tag.as_deref(), Some(&*read_tag), "{}", case.name);
            assert_eq!(last_modified, read_last_modified, "{}", case.name);
        } else if case.status == StatusCode::PRECONDITION_FAILED {
            // The 412 names the current version, so the client can re-fetch.
            assert_eq!(tag.as_deref(), Some(&*read_tag), "{}", case.name);
        }
        current = Some(read_tag);
    }
}
