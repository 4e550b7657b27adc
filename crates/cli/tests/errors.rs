//! Bad input on the command line: one line on stderr, exit code 2.

use std::process::Command;

fn revalidate(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_revalidate"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn runtime_errors_are_one_line_and_exit_2() {
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap();
    let config = data.path().join("bad.toml");
    std::fs::write(&config, "lisen = 1\n").unwrap();
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "missing root",
            vec!["serve", "--root", "/nonexistent/revalidate", "--data", data_arg],
            "static root",
        ),
        (
            "bad database url",
            vec!["serve", "--database", "mysql://x", "--data", data_arg],
            "database must be",
        ),
        (
            "bad config",
            vec!["serve", "--config", config.to_str().unwrap()],
            "invalid config file",
        ),
        (
            "missing config",
            vec!["serve", "--config", "/nonexistent.toml"],
            "cannot read config file",
        ),
    ];
    for (name, args, message) in cases {
        let (code, stderr) = revalidate(&args);
        assert_eq!(code, 2, "{name}: {stderr}");
        let lines: Vec<_> = stderr
            .lines()
            .filter(|l| l.starts_with("revalidate: error:"))
            .collect();
        assert_eq!(lines.len(), 1, "{name}: {stderr}");
        assert!(lines[0].contains(message), "{name}: {stderr}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let (code, stderr) = revalidate(&["serve", "--listen", "not-an-address"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--listen"), "{stderr}");
    let (code, _) = revalidate(&["frobnicate"]);
    assert_eq!(code, 2);
}

/// `--log-format json`: every line on stderr is one JSON object with a
/// level and a message, so a collector can read it without a parser of
/// its own.
#[test]
fn json_log_format_writes_one_object_per_line() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_revalidate"))
        .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
        .args(["--root", crate::support::sample_root().to_str().unwrap()])
        .args(["--data", data.path().to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(line.starts_with("revalidate: listening on"), "{line}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 2, "{stderr}");
    for line in lines {
        let object: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            object["level"].is_string() && object["message"].is_string(),
            "{line}"
        );
    }
}
