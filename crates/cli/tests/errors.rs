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
