//! `revalidate check`: its flags, and handing them to `revalidate-checker`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use revalidate_checker::FailOn;
use revalidate_checker::report::Format;

/// Exit codes, also in the help: 0 nothing to fix, 1 findings, 2 error.
pub(crate) const EXIT_CODES: &str = "\
Exit status:
  0  every URL was checked and nothing fails --fail-on (infos never fail)
  1  a finding fails --fail-on: an error or a warning (default), or an error (--fail-on error)
  2  a URL could not be checked (timeout, unreachable, TLS, invalid URL), or bad arguments";

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub(crate) struct CheckArgs {
    /// The URLs to check.
    #[arg(required = true, value_name = "URL")]
    urls: Vec<String>,
    /// A node to send the same requests to, with the URL's Host; repeatable
    /// [default: every A/AAAA record of the host].
    #[arg(long = "backend", value_name = "ADDR")]
    backends: Vec<SocketAddr>,
    /// The origin behind the CDN at URL, to compare validators; without a path it takes URL's path.
    #[arg(long, value_name = "URL")]
    origin: Option<String>,
    /// Also test conditional writes (PUT) and racing writers. Only on a URL you own.
    #[arg(long = "unsafe")]
    unsafe_writes: bool,
    /// A request field sent with every probe (credentials, cookies); repeatable. A probe's own
    /// fields win (Accept-Encoding, a node's Host); conditional fields, Range and framing cannot be
    /// given. Not sent to --assets on another origin; reports redact the values.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Also check the scripts, stylesheets and images each HTML page links to (at most 50 a page).
    #[arg(long)]
    assets: bool,
    /// Output on stdout: human text, JSON lines for CI, or one self-contained HTML page.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    format: CheckFormat,
    /// Also write the HTML report to FILE, whatever --format says.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// The least severity that fails the run with exit code 1.
    #[arg(long, value_enum, default_value_t = FailOnArg::Warning)]
    fail_on: FailOnArg,
    /// Seconds to wait for each response.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
}

/// How `check` writes its report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum CheckFormat {
    Text,
    Json,
    Html,
}

/// `--fail-on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum FailOnArg {
    Warning,
    Error,
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("revalidate: error: {message}");
    ExitCode::from(2)
}

/// Runs the check; its exit code is the report's (0, 1 or 2).
pub(crate) fn run(args: CheckArgs) -> ExitCode {
    let mut headers = http::HeaderMap::new();
    for text in &args.headers {
        match revalidate_checker::probe::parse_header_field(text) {
            Ok((name, value)) => {
                headers.append(name, value);
            }
            Err(message) => return usage_error(&message),
        }
    }
    let settings = revalidate_checker::Settings {
        backends: args.backends,
        origin: args.origin,
        unsafe_writes: args.unsafe_writes,
        timeout: std::time::Duration::from_secs(args.timeout),
        headers,
        assets: args.assets,
    };
    let fail_on = match args.fail_on {
        FailOnArg::Warning => FailOn::Warning,
        FailOnArg::Error => FailOn::Error,
    };
    // Created before the check, so that an unwritable path fails at once
    // rather than after minutes of probing.
    let html_file = match &args.html {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Some((path, file)),
            Err(e) => return usage_error(&format!("--html {}: {e}", path.display())),
        },
        None => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return usage_error(&format!("cannot start the runtime: {e}")),
    };
    let reports = runtime.block_on(revalidate_checker::check_all(&args.urls, &settings));
    if let Some((path, mut file)) = html_file {
        use std::io::Write as _;
        let page = revalidate_checker::render_html(&reports, fail_on);
        if let Err(e) = file.write_all(page.as_bytes()).and_then(|()| file.flush()) {
            return usage_error(&format!("--html {}: {e}", path.display()));
        }
    }
    let format = match args.format {
        CheckFormat::Text => Format::Text,
        CheckFormat::Json => Format::Json,
        CheckFormat::Html => Format::Html,
    };
    ExitCode::from(revalidate_checker::report::print(&reports, format, fail_on))
}
