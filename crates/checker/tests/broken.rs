//! Deliberately broken local servers, one fault each, over real sockets:
//! each must be flagged with its finding id, and the correct server must
//! come out clean.

use revalidate_checker::Settings;

use crate::support::{Breakage, check, describe, problems, serve};

/// The reference server, reads and writes, has no error or warning.
#[tokio::test]
async fn correct_server_is_clean() {
    let server = serve(Breakage::default()).await;
    let report = check(&server.url(), |s| s.unsafe_writes = true).await;
    assert_eq!(problems(&report), Vec::<&str>::new(), "{}", describe(&report));
    let ids: Vec<_> = report.findings().iter().map(|f| f.rule.id).collect();
    assert!(ids.contains(&"freshness"), "{ids:?}");
    assert!(ids.contains(&"unconditional-write-accepted"), "{ids:?}");
}

type Case = (&'static str, Breakage, fn(&mut Settings), &'static str);

fn reads(_: &mut Settings) {}

fn writes(settings: &mut Settings) {
    settings.unsafe_writes = true;
}

/// One broken server per finding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_server_is_flagged() {
    let cases: Vec<Case> = vec![
        (
            "no_validators",
            Breakage {
                no_validators: true,
                ..Breakage::default()
            },
            reads,
            "no-validators",
        ),
        (
            "not_modified_for_changed_content",
            Breakage {
                not_modified_for_any_tag: true,
                ..Breakage::default()
            },
            reads,
            "not-modified-for-changed-content",
        ),
        (
            "body_on_304",
            Breakage {
                body_on_304: true,
                ..Breakage::default()
            },
            reads,
            "not-modified-has-body",
        ),
        (
            "if_range_stale_gives_206",
            Breakage {
                if_range_ignored: true,
                ..Breakage::default()
            },
            reads,
            "if-range-stale-gave-partial",
        ),
        (
            "ims_not_ignored_with_inm",
            Breakage {
                ims_before_inm: true,
                ..Breakage::default()
            },
            reads,
            "if-modified-since-not-ignored",
        ),
        (
            "stock_nginx_wants_both_inm_and_ims_to_pass",
            Breakage {
                ims_and_inm_both_required: true,
                ..Breakage::default()
            },
            reads,
            "if-modified-since-not-ignored",
        ),
        (
            "head_disagrees_with_get",
            Breakage {
                head_other_etag: true,
                ..Breakage::default()
            },
            reads,
            "head-validators-differ",
        ),
        (
            "missing_vary_on_304",
            Breakage {
                no_vary_on_304: true,
                ..Breakage::default()
            },
            reads,
            "not-modified-missing-fields",
        ),
        (
            "missing_vary_on_304_with_codings",
            Breakage {
                no_vary_on_304: true,
                ..Breakage::default()
            },
            reads,
            "vary-missing-accept-encoding",
        ),
        (
            "same_etag_for_gzip_and_identity",
            Breakage {
                same_etag_for_gzip: true,
                ..Breakage::default()
            },
            reads,
            "encoding-same-strong-etag",
        ),
        (
            "if_none_match_compared_as_string_weak",
            Breakage {
                inm_string_compare: true,
                ..Breakage::default()
            },
            reads,
            "if-none-match-weak-comparison",
        ),
        (
            "if_none_match_compared_as_string_list",
            Breakage {
                inm_string_compare: true,
                ..Breakage::default()
            },
            reads,
            "if-none-match-list",
        ),
        (
            "etag_changes_every_request",
            Breakage {
                unstable_etag: true,
                ..Breakage::default()
            },
            reads,
            "etag-unstable",
        ),
        (
            "freshness_left_to_heuristics",
            Breakage {
                cache_control: Some(""),
                ..Breakage::default()
            },
            reads,
            "freshness-heuristic",
        ),
        (
            "cache_control_conflict",
            Breakage {
                cache_control: Some("no-store, max-age=600, max-age=60"),
                ..Breakage::default()
            },
            reads,
            "cache-control-conflict",
        ),
        (
            "cache_control_syntax",
            Breakage {
                cache_control: Some("max-age=\"60\", must-revalidate=1"),
                ..Breakage::default()
            },
            reads,
            "cache-control-syntax",
        ),
        (
            "vary_user_agent",
            Breakage {
                extra: vec![("vary", "user-agent")],
                ..Breakage::default()
            },
            reads,
            "vary-fragments-cache",
        ),
        (
            "lost_update_under_racing_writers",
            Breakage {
                racy_writes: true,
                ..Breakage::default()
            },
            writes,
            "lost-update",
        ),
        (
            "write_preconditions_ignored_if_match",
            Breakage {
                ignores_write_preconditions: true,
                ..Breakage::default()
            },
            writes,
            "if-match-ignored",
        ),
        (
            "write_preconditions_ignored_ius",
            Breakage {
                ignores_write_preconditions: true,
                ..Breakage::default()
            },
            writes,
            "if-unmodified-since-ignored",
        ),
        (
            "write_preconditions_ignored_create_only",
            Breakage {
                ignores_write_preconditions: true,
                ..Breakage::default()
            },
            writes,
            "create-only-not-enforced",
        ),
    ];
    let mut failures = Vec::new();
    for (case, breakage, tweak, expected) in cases {
        let server = serve(breakage).await;
        let report = check(&server.url(), tweak).await;
        if !problems(&report).contains(&expected) {
            failures.push(format!("{case}: expected {expected}\n{}", describe(&report)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A server that requires preconditions is told so, and stays clean.
#[tokio::test]
async fn precondition_required_policy_is_reported() {
    let server = serve(Breakage {
        require_preconditions: true,
        ..Breakage::default()
    })
    .await;
    let report = check(&server.url(), writes).await;
    assert_eq!(problems(&report), Vec::<&str>::new(), "{}", describe(&report));
    assert!(
        report
            .findings()
            .iter()
            .any(|f| f.rule.id == "preconditions-required"),
        "{}",
        describe(&report)
    );
}

/// Two nodes behind one name with different ETags for the same bytes;
/// two identical nodes are clean.
#[tokio::test]
async fn nodes_with_differing_etags_are_flagged() {
    let a = serve(Breakage {
        node_salt: Some("inode-1"),
        ..Breakage::default()
    })
    .await;
    let b = serve(Breakage {
        node_salt: Some("inode-2"),
        ..Breakage::default()
    })
    .await;
    let report = check(&a.url(), |s| s.backends = vec![a.addr, b.addr]).await;
    assert!(
        problems(&report).contains(&"etag-differs-between-nodes"),
        "{}",
        describe(&report)
    );

    let c = serve(Breakage::default()).await;
    let d = serve(Breakage::default()).await;
    let report = check(&c.url(), |s| s.backends = vec![c.addr, d.addr]).await;
    assert_eq!(problems(&report), Vec::<&str>::new(), "{}", describe(&report));

    let e = serve(Breakage {
        content: Some("another deploy"),
        ..Breakage::default()
    })
    .await;
    let report = check(&c.url(), |s| s.backends = vec![c.addr, e.addr]).await;
    assert!(
        problems(&report).contains(&"content-differs-between-nodes"),
        "{}",
        describe(&report)
    );
}

/// A "CDN" that keeps an old copy with its old ETag past its lifetime,
/// while the origin has moved on.
#[tokio::test]
async fn cdn_keeping_a_stale_etag_is_flagged() {
    let origin = serve(Breakage::default()).await;
    let cdn = serve(Breakage {
        content: Some("{\"text\": \"the old version\"}\n"),
        extra: vec![("age", "600"), ("x-cache", "HIT")],
        ..Breakage::default()
    })
    .await;
    let report = check(&cdn.url(), |s| s.origin = Some(format!("http://{}", origin.addr))).await;
    let ids: Vec<_> = report.findings().iter().map(|f| f.rule.id).collect();
    assert!(ids.contains(&"cdn-detected"), "{}", describe(&report));
    assert!(ids.contains(&"cdn-stale-etag"), "{}", describe(&report));

    // Same bytes, rewritten tag.
    let rewriting = serve(Breakage {
        node_salt: Some("cdn"),
        extra: vec![("x-cache", "MISS")],
        ..Breakage::default()
    })
    .await;
    let report = check(&rewriting.url(), |s| {
        s.origin = Some(format!("http://{}", origin.addr));
    })
    .await;
    assert!(
        problems(&report).contains(&"cdn-etag-differs-from-origin"),
        "{}",
        describe(&report)
    );
}

/// Errors a user can act on: a server that never answers is a timeout,
/// plain HTTP on an https:// URL is a TLS error, a closed port is
/// unreachable; none is a finding.
#[tokio::test]
async fn network_errors_are_classified() {
    use revalidate_checker::CheckError;

    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let report = check(&format!("http://{silent_addr}/"), |s| {
        s.timeout = std::time::Duration::from_secs(1);
    })
    .await;
    assert!(
        matches!(report.outcome, Err(CheckError::Timeout { .. })),
        "{:?}",
        report.outcome
    );

    let plain = serve(Breakage::default()).await;
    let report = check(&format!("https://{}/doc", plain.addr), |_| {}).await;
    assert!(
        matches!(report.outcome, Err(CheckError::Tls { .. })),
        "{:?}",
        report.outcome
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let report = check(&format!("http://{closed}/"), |_| {}).await;
    assert!(
        matches!(report.outcome, Err(CheckError::Unreachable { .. })),
        "{:?}",
        report.outcome
    );
    assert_eq!(revalidate_checker::exit_code(std::slice::from_ref(&report)), 2);
    holder.abort();
}

/// The probes of the §13 audit (crate docs, "Audit"): each broken server
/// violates exactly one rule from one side, and the checker reports that
/// rule and nothing else (the correct side of every probe is
/// `correct_server_is_clean`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_one_sided_server_is_flagged_with_exactly_its_rule() {
    let cases: Vec<Case> = vec![
        (
            "stock_nginx_ims_exact_answers_200_to_a_later_date",
            Breakage {
                ims_exact_only: true,
                ..Breakage::default()
            },
            reads,
            "if-modified-since-later-date-ignored",
        ),
        (
            "ims_invalid_date_gives_304",
            Breakage {
                ims_invalid_not_ignored: true,
                ..Breakage::default()
            },
            reads,
            "if-modified-since-not-ignored",
        ),
        (
            "ims_evaluated_on_put",
            Breakage {
                ims_on_put: true,
                ..Breakage::default()
            },
            writes,
            "if-modified-since-not-ignored",
        ),
        (
            "if_match_ignored_on_get",
            Breakage {
                if_match_ignored_on_read: true,
                ..Breakage::default()
            },
            reads,
            "if-match-not-evaluated",
        ),
        (
            "if_match_weak_comparison",
            Breakage {
                if_match_weak_compare: true,
                ..Breakage::default()
            },
            reads,
            "if-match-weak-comparison",
        ),
        (
            "if_match_list_and_star_refused",
            Breakage {
                if_match_string_compare: true,
                ..Breakage::default()
            },
            reads,
            "if-match-current-refused",
        ),
        (
            "ius_ignored_on_get",
            Breakage {
                ius_ignored_on_read: true,
                ..Breakage::default()
            },
            reads,
            "if-unmodified-since-not-evaluated",
        ),
        (
            "stock_nginx_ius_not_ignored_with_if_match",
            Breakage {
                ius_not_ignored_with_if_match: true,
                ..Breakage::default()
            },
            reads,
            "if-unmodified-since-not-ignored",
        ),
        (
            "ius_invalid_date_gives_412",
            Breakage {
                ius_invalid_refused: true,
                ..Breakage::default()
            },
            reads,
            "if-unmodified-since-not-ignored",
        ),
        (
            "ius_at_last_modified_gives_412",
            Breakage {
                ius_equal_refused: true,
                ..Breakage::default()
            },
            reads,
            "if-unmodified-since-current-refused",
        ),
        (
            "preconditions_evaluated_on_a_404",
            Breakage {
                preconditions_before_not_found: true,
                ..Breakage::default()
            },
            reads,
            "precondition-evaluated-on-error",
        ),
        (
            "stock_nginx_wants_both_inm_and_ims_to_pass",
            Breakage {
                ims_and_inm_both_required: true,
                ..Breakage::default()
            },
            reads,
            "if-modified-since-not-ignored",
        ),
    ];
    let mut failures = Vec::new();
    for (case, breakage, tweak, expected) in cases {
        let server = serve(breakage).await;
        let report = check(&server.url(), tweak).await;
        if problems(&report) != [expected] {
            failures.push(format!("{case}: expected only {expected}\n{}", describe(&report)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
