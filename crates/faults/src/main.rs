//! `revalidate-faults`: the fault run. It starts real `revalidate serve`
//! and `revalidate edge` processes (and, where a case needs an origin that
//! misbehaves on purpose, a fake origin of its own), reproduces each
//! reliability defect found by the adversarial review over real sockets,
//! and prints for every case what was expected, what was observed (with
//! the measured figures) and `PASS`, `FAIL` or `SKIPPED`. It exits 1 when
//! a case fails, 0 otherwise.
//!
//! It is a runner, not a test suite: `scripts/faults.sh` builds it and
//! `revalidate` in release mode, starts a throwaway PostgreSQL and runs
//! it; the README's test command does not.
//!
//! ```text
//! revalidate-faults [--case NAME]... [--list] [--revalidate PATH] [--rounds N] [--postgres URL]
//! revalidate-faults --cluster SECONDS [--revalidate PATH] [--postgres URL]
//! ```
//!
//! Under `CI` a case that cannot run (no PostgreSQL) is a failure;
//! elsewhere it is reported `SKIPPED`.
//!
//! The servers are configured with the keys the reliability fixes add
//! (named once, in [`process::keys`]), set to about 1 s so that the run
//! is quick. A build that refuses its config (a key renamed, say) fails
//! the case with the server's own error line.
//!
//! # Map
//!
//! | module | what it holds |
//! |---|---|
//! | [`cases`] | the cases, one module per theme, and the settings given to the servers |
//! | [`cluster`] | the cluster run (`--cluster SECONDS`): two origin nodes, a shield and two leaves under load, kills and restarts, the one-line verdict |
//! | [`process`] | starting `revalidate serve` / `revalidate edge` with a config file in a temp dir, waiting for "listening on", RSS, killing on drop |
//! | [`fake_origin`] | a scriptable origin that records what it receives and can stall mid-body |
//! | [`wire`] | raw HTTP/1.1 over `TcpStream`: byte-exact requests, responses read with a deadline and their body's ending |
//! | [`load`] | the small load generator (tokio tasks repeating a request until stopped) |
//! | [`report`] | verdicts, observations, checks and the final table |
//!
//! Every wait has a bound: server start, each request, each observation
//! window, each case as a whole ([`CASE_BOUND`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

mod cases;
mod cluster;
mod fake_origin;
mod load;
mod process;
mod report;
mod wire;

use report::{Observation, Row, Verdict};

/// The longest a single case may run before it is abandoned as failed.
const CASE_BOUND: Duration = Duration::from_secs(900);

/// Open files the run needs: over a thousand sockets held at once.
const WANTED_OPEN_FILES: u64 = 8192;

/// The fault run: reproduces each reliability defect against real
/// `revalidate` processes and reports PASS/FAIL with the measured figures.
#[derive(Debug, Parser)]
#[command(name = "revalidate-faults", version, about, long_about = None)]
struct Args {
    /// Run only this case (repeatable); see --list.
    #[arg(long = "case", value_name = "NAME")]
    cases: Vec<String>,
    /// List the cases with their expected outcome, and exit.
    #[arg(long)]
    list: bool,
    /// The `revalidate` binary to test [default: `revalidate` next to this
    /// program, else target/release/revalidate].
    #[arg(long, value_name = "PATH")]
    revalidate: Option<PathBuf>,
    /// Racing rounds per lost-update case.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rounds: u32,
    /// PostgreSQL URL for the two-node cases (a database the run may
    /// write to; its resources are named after the run).
    #[arg(long, value_name = "URL", env = "REVALIDATE_TEST_PG_URL")]
    postgres: Option<String>,
    /// Instead of the cases, the cluster run ([`cluster`]) for this many
    /// seconds: two origin nodes, a shield and two leaves under writers
    /// and readers, one origin and one leaf killed and restarted.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(6..=3600))]
    cluster: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let all = cases::all();
    if args.list {
        for case in &all {
            println!("{:<40} {}", case.name, case.expected);
        }
        return ExitCode::SUCCESS;
    }
    let selected: Vec<cases::Case> = if args.cases.is_empty() {
        all
    } else {
        let unknown: Vec<&String> = args
            .cases
            .iter()
            .filter(|name| !all.iter().any(|c| c.name == name.as_str()))
            .collect();
        if !unknown.is_empty() {
            eprintln!(
                "revalidate-faults: unknown case {unknown:?}; the cases are: {}",
                all.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
            );
            return ExitCode::from(2);
        }
        all.into_iter()
            .filter(|c| args.cases.iter().any(|name| name == c.name))
            .collect()
    };
    let revalidate = args.revalidate.clone().unwrap_or_else(default_revalidate);
    if !revalidate.is_file() {
        eprintln!(
            "revalidate-faults: no revalidate binary at {} (build it with `cargo build --release -p revalidate`, or pass --revalidate PATH)",
            revalidate.display()
        );
        return ExitCode::from(2);
    }
    raise_open_file_limit();
    let ctx = Arc::new(cases::Context {
        revalidate,
        postgres: args.postgres.filter(|url| !url.is_empty()),
        rounds: args.rounds as usize,
        run_id: run_id(),
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("revalidate-faults: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(seconds) = args.cluster {
        return runtime.block_on(run_cluster(ctx, Duration::from_secs(seconds)));
    }
    let Some(rows) = runtime.block_on(run_all(selected, ctx)) else {
        eprintln!("revalidate-faults: interrupted");
        return ExitCode::from(130);
    };
    print!("{}", report::table(&rows));
    if rows.iter().any(|r| r.observation.verdict == Verdict::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The cluster run: its figures on stderr, its line last on stdout;
/// exit 1 when a figure fails, 2 when it cannot run.
async fn run_cluster(ctx: Arc<cases::Context>, duration: Duration) -> ExitCode {
    let Some(postgres) = ctx.postgres.clone() else {
        eprintln!(
            "revalidate-faults: the cluster run needs PostgreSQL (--postgres URL or REVALIDATE_TEST_PG_URL)"
        );
        return ExitCode::from(2);
    };
    let run = tokio::select! {
        run = cluster::run(Arc::clone(&ctx), &postgres, duration) => run,
        () = interrupted() => {
            eprintln!("revalidate-faults: interrupted");
            return ExitCode::from(130);
        }
    };
    match run {
        Ok(figures) => {
            eprintln!(
                "revalidate-faults: cluster: {} reads, purge lag p50 {} ms, p99 {} ms over {} samples, {} 5xx in flight at kills, {} requests unanswered by killed processes",
                figures.reads,
                figures.p50_purge_lag.as_millis(),
                figures.p99_purge_lag.as_millis(),
                figures.lag_samples,
                figures.server_errors_at_kills,
                figures.unavailable
            );
            for note in &figures.server_error_notes {
                eprintln!("revalidate-faults: cluster: 5xx: {note}");
            }
            if !figures.lag_within_target() {
                eprintln!(
                    "revalidate-faults: cluster: note: purge lag p99 {} ms is over the {} ms target (a figure, not a failure)",
                    figures.p99_purge_lag.as_millis(),
                    cluster::LAG_P99_BOUND.as_millis()
                );
            }
            let failures = figures.failures();
            if !failures.is_empty() {
                eprintln!("revalidate-faults: cluster run FAILED: {}", failures.join("; "));
            }
            println!("{}", figures.line());
            if failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("revalidate-faults: the cluster run could not run: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the cases one after the other; `None` when interrupted (the case
/// running is aborted, which kills its servers).
async fn run_all(selected: Vec<cases::Case>, ctx: Arc<cases::Context>) -> Option<Vec<Row>> {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    let mut rows = Vec::new();
    for case in selected {
        eprintln!("revalidate-faults: running {}", case.name);
        let started = Instant::now();
        let mut task = tokio::spawn(tokio::time::timeout(CASE_BOUND, (case.run)(Arc::clone(&ctx))));
        let joined = tokio::select! {
            joined = &mut task => joined,
            () = interrupted() => {
                task.abort();
                let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
                return None;
            }
        };
        let mut observation = match joined {
            Ok(Ok(Ok(observation))) => observation,
            Ok(Ok(Err(error))) => Observation::error(&error),
            Ok(Err(_)) => {
                Observation::judged(false, format!("did not finish within {} s", CASE_BOUND.as_secs()))
            }
            Err(error) => Observation::judged(false, format!("the case panicked: {}", panic_message(error))),
        };
        if ci && observation.verdict == Verdict::Skipped {
            observation.verdict = Verdict::Fail;
            observation.observed = format!(
                "{} (under CI a case that cannot run is a failure)",
                observation.observed
            );
        }
        eprintln!(
            "revalidate-faults: {} {:?} in {:.1} s: {}",
            case.name,
            observation.verdict,
            started.elapsed().as_secs_f64(),
            observation.observed
        );
        rows.push(Row {
            name: case.name,
            expected: case.expected,
            observation,
            elapsed: started.elapsed(),
        });
    }
    Some(rows)
}

async fn interrupted() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match terminate.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned()),
        Err(error) => error.to_string(),
    }
}

/// `revalidate` next to this program (both are built into one target
/// directory), else `target/release/revalidate`.
fn default_revalidate() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("revalidate")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("target/release/revalidate"))
}

/// Lowercase letters and digits unique to this run (resource names).
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}{:x}", std::process::id(), nanos % (1 << 40))
}

/// Raises the soft open-file limit towards the hard one: the connection
/// cases hold over a thousand sockets, and the servers started from here
/// inherit the limit (as they would raise their own at start).
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= WANTED_OPEN_FILES {
        return;
    }
    let wanted = limit
        .maximum
        .map_or(WANTED_OPEN_FILES, |max| max.min(WANTED_OPEN_FILES));
    if wanted > current {
        let raised = Rlimit {
            current: Some(wanted),
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            eprintln!("revalidate-faults: cannot raise the open-file limit from {current} to {wanted}: {e}");
        }
    }
}
