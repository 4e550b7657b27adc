//! `428-bypass`: a collection whose writes must be conditional
//! (`[api] require_preconditions`, RFC 6585 §3). A precondition that
//! guards nothing (an unparsable `If-None-Match` or `If-Unmodified-Since`,
//! an `If-None-Match` with a tag on a write, an `If-Unmodified-Since` in
//! the future) must get `428` with a problem document and write nothing;
//! the guarding ones (`If-Match: <ETag>`, `If-None-Match: *` to create)
//! are accepted, so the policy is not simply "refuse everything".

use std::sync::Arc;

use anyhow::Context as _;
use serde_json::json;

use super::{Context, client, header};
use crate::process::{ConfigFile, Server, server_notes};
use crate::report::{Checks, Observation};

pub(crate) const EXPECTED: &str = "PUT with If-None-Match: garbage, If-Unmodified-Since: garbage, If-None-Match: \
                                   \"zzz\", and DELETE with a far-future If-Unmodified-Since each get 428 \
                                   problem+json and write nothing; If-Match: <ETag> and If-None-Match: * are \
                                   accepted";

const GUARDED: &str = "guarded";

pub(crate) async fn run(ctx: Arc<Context>) -> anyhow::Result<Observation> {
    let config = ConfigFile::new().set_in("api", "require_preconditions", vec![GUARDED]);
    let origin = Server::origin(&ctx, "origin", config).await?;
    let http = client();
    let existing = origin.url(&format!("/api/{GUARDED}/doc-{}", ctx.run_id));
    let missing = origin.url(&format!("/api/{GUARDED}/new-{}", ctx.run_id));
    let mut checks = Checks::default();

    let created = http
        .put(&existing)
        .header("if-none-match", "*")
        .json(&json!({ "v": 1 }))
        .send()
        .await?;
    let created_status = created.status().as_u16();
    checks.check(
        "PUT If-None-Match: * (create only) is accepted",
        created_status == 201,
        created_status.to_string(),
    );
    let mut etag = header(&created, "etag").context("the create gave no ETag")?;

    let replaced = http
        .put(&existing)
        .header("if-match", &etag)
        .json(&json!({ "v": 2 }))
        .send()
        .await?;
    let replaced_status = replaced.status().as_u16();
    checks.check(
        "PUT If-Match: <current ETag> is accepted",
        replaced_status == 200,
        replaced_status.to_string(),
    );
    if let Some(new) = header(&replaced, "etag") {
        etag = new;
    }

    let attempts: [(&str, &str, &str, &str); 6] = [
        ("PUT", "existing", "if-none-match", "garbage"),
        ("PUT", "existing", "if-unmodified-since", "garbage"),
        ("PUT", "existing", "if-none-match", "\"zzz\""),
        (
            "DELETE",
            "existing",
            "if-unmodified-since",
            "Fri, 01 Jan 2100 00:00:00 GMT",
        ),
        ("PUT", "missing", "if-none-match", "garbage"),
        ("PUT", "missing", "if-none-match", "\"zzz\""),
    ];
    for (method, which, name, value) in attempts {
        let url = if which == "existing" { &existing } else { &missing };
        let request = match method {
            "PUT" => http.put(url).json(&json!({ "v": "bypass" })),
            _ => http.delete(url),
        };
        let response = request.header(name, value).send().await?;
        let status = response.status().as_u16();
        let problem =
            header(&response, "content-type").is_some_and(|v| v.starts_with("application/problem+json"));
        // Nothing written: the existing resource keeps its ETag, the missing one stays missing.
        let after = http.get(url).send().await?;
        let after_status = after.status().as_u16();
        let unchanged = if which == "existing" {
            after_status == 200 && header(&after, "etag").as_deref() == Some(etag.as_str())
        } else {
            after_status == 404
        };
        let written = if unchanged {
            "nothing written".to_owned()
        } else if which == "existing" {
            format!(
                "WRITTEN (GET after: {after_status}, ETag {})",
                header(&after, "etag").unwrap_or_else(|| "(none)".to_owned())
            )
        } else {
            format!("WRITTEN (GET after: {after_status})")
        };
        // The next attempt starts from what is there now (on a build that
        // wrote, the resource changed or is gone: put it back).
        if which == "existing" {
            match header(&after, "etag") {
                Some(current) if after_status == 200 => etag = current,
                _ => etag = recreate(&http, &existing).await?,
            }
        } else if let Some(written_etag) = header(&after, "etag") {
            let _ = http
                .delete(&missing)
                .header("if-match", written_etag)
                .send()
                .await?;
        }
        checks.check(
            format!("{method} {which} resource with {name}: {value}"),
            status == 428 && problem && unchanged,
            format!(
                "{status}{}, {written}",
                if problem { " problem+json" } else { "" }
            ),
        );
    }

    let mut observation = checks.into_observation();
    observation.details.extend(server_notes([&origin]));
    Ok(observation)
}

/// Creates the resource again after a build deleted it; its new ETag.
async fn recreate(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let created = http
        .put(url)
        .header("if-none-match", "*")
        .json(&json!({ "v": "again" }))
        .send()
        .await?;
    header(&created, "etag").context("the re-create gave no ETag")
}
