//! `revalidate --version` and `revalidate config check FILE`: the file
//! through the servers' own start-up path, `ok` or one line, exit 0 or 2.

use std::path::Path;
use std::process::{Command, Output};

fn revalidate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_revalidate"))
        .args(args)
        .env_remove("REVALIDATE_DATABASE")
        .env_remove("REVALIDATE_WORKERS")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn config_check(file: &Path, kind: Option<&str>) -> Output {
    let mut args = vec!["config", "check", file.to_str().unwrap()];
    if let Some(kind) = kind {
        args.extend(["--kind", kind]);
    }
    revalidate(&args)
}

#[test]
fn version_is_the_packages() {
    let output = revalidate(&["--version"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        text(&output.stdout).trim(),
        concat!("revalidate ", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn config_check_says_ok_or_why_not_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    let serve = write(
        "serve.toml",
        "listen = \"127.0.0.1:8080\"\nroot = \"/srv/www\"\n[api]\nprefix = \"/api/\"\n",
    );
    let edge = write(
        "edge.toml",
        "origin = \"http://127.0.0.1:8080\"\nlisten = \"127.0.0.1:8081\"\nmemory = \"64MiB\"\n",
    );

    // Found from the keys, or named.
    for (file, kind, expected) in [
        (&serve, None, "serve"),
        (&serve, Some("serve"), "serve"),
        (&edge, None, "edge"),
        (&edge, Some("edge"), "edge"),
    ] {
        let output = config_check(file, kind);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        assert_eq!(
            text(&output.stdout).trim(),
            format!("ok: {} is a valid {expected} config", file.display())
        );
    }

    let bad_value = write(
        "bad-value.toml",
        "origin = \"http://127.0.0.1:8080\"\nmemory = \"0\"\n",
    );
    let bad_prefix = write("bad-prefix.toml", "[api]\nprefix = \"api\"\n");
    let typo = write("typo.toml", "lisen = \"127.0.0.1:8080\"\n");
    let no_origin = write(
        "no-origin.toml",
        "memory = \"64MiB\"\nmax_object_size = \"1MiB\"\n",
    );
    let tls = write(
        "tls.toml",
        "root = \"/srv/www\"\n[tls]\nlisten = \"127.0.0.1:8443\"\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
    );
    let missing = dir.path().join("missing.toml");
    for (name, file, kind, says) in [
        ("a value out of range", &bad_value, None, "memory"),
        ("a serve value", &bad_prefix, None, "api.prefix"),
        (
            "an edge file read as serve",
            &edge,
            Some("serve"),
            "unknown field",
        ),
        ("a serve file read as edge", &serve, Some("edge"), "unknown field"),
        ("a typo", &typo, None, "lisen"),
        (
            "an edge without an origin",
            &no_origin,
            Some("edge"),
            "an origin is required",
        ),
        ("certificates that do not load", &tls, None, "[tls]"),
        ("a missing file", &missing, None, "cannot read config file"),
    ] {
        let output = config_check(file, kind);
        assert_eq!(output.status.code(), Some(2), "{name}: {}", text(&output.stdout));
        assert!(output.stdout.is_empty(), "{name}");
        let stderr = text(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.starts_with("revalidate: error: "), "{name}: {stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
    }

    // A bad --kind is a usage error.
    assert_eq!(config_check(&serve, Some("proxy")).status.code(), Some(2));
}
