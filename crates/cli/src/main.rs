//! `revalidate`: the one command-line entry point of the workspace.
//!
//! The binary stays thin: it parses arguments with clap and hands each
//! subcommand to the library crate that does the work. Errors are printed
//! as one line and mapped to exit codes (0 success, 1 findings, 2 usage or
//! runtime error), as ripgrep and cargo do.

mod check;
mod config_check;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mimalloc::MiMalloc;
use revalidate_edge::config::EdgeConfig;
use revalidate_origin::config::OriginConfig;

/// The server allocates and frees small buffers per request (header maps,
/// response heads); mimalloc's thread-local free lists handle that churn
/// better than glibc malloc in the origin benchmark (BENCHMARKS.md; a small
/// gain, within the noise on some rows).
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// HTTP conditional requests done right, end to end.
#[derive(Debug, Parser)]
#[command(name = "revalidate", version, about, long_about = None)]
struct Cli {
    /// Log line format on stderr: human-readable text, or one JSON object
    /// per line for log collectors. Levels come from RUST_LOG (default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "REVALIDATE_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve static files and a JSON resource API with strong ETags, 304s and 412s.
    Serve(ServeArgs),
    /// Run an RFC 9111 edge cache in front of an origin.
    Edge(EdgeArgs),
    /// Audit URLs: validators, conditional requests, ranges, codings, caching, nodes and CDN.
    /// Exit status 0 clean, 1 findings (see --fail-on), 2 error.
    Check(check::CheckArgs),
    /// Check a `serve` or `edge` config file before a start or reload.
    #[command(subcommand)]
    Config(config_check::ConfigCommand),
}

#[derive(Clone, Debug, Args)]
struct EdgeArgs {
    /// The origin to cache, http://host:port.
    #[arg(long, value_name = "URL")]
    origin: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8081].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Keep a disk tier in DIR (survives restarts) [default: memory only].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Memory tier size, such as 256MiB [default: 256MiB].
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
    /// Disk tier size, such as 4GiB [default: 4GiB].
    #[arg(long, value_name = "SIZE")]
    disk: Option<String>,
    /// A TOML config file; flags override its values.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    access_log: AccessLogArgs,
    /// The admin listener (/metrics, /healthz, /readyz): ADDR, or off [admin.listen; default: 127.0.0.1:9081].
    #[arg(long, value_name = "ADDR|off")]
    admin_listen: Option<String>,
}

/// `--admin-listen ADDR|off` as the `[admin]` section; a bad value is a
/// one-line error naming the flag.
fn admin_settings(value: &str) -> anyhow::Result<revalidate_listener::AdminSettings> {
    let listen = value
        .parse()
        .map_err(|e| anyhow::anyhow!("--admin-listen: {e}"))?;
    Ok(revalidate_listener::AdminSettings { listen })
}

/// The TLS listener's flags, shared by `serve` and `edge`; each overrides
/// its key in the config file's `[tls]` section.
#[derive(Clone, Debug, Args)]
struct TlsArgs {
    /// Also listen for TLS (HTTP/2 and HTTP/1.1 by ALPN) on ADDR [tls.listen].
    #[arg(long, value_name = "ADDR")]
    listen_tls: Option<SocketAddr>,
    /// The TLS certificate chain, PEM, leaf first [tls.cert]. Reloaded on SIGHUP and on change.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key, PEM: PKCS#8, RSA or SEC1 [tls.key].
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
}

/// The access log's flags, shared by `serve` and `edge`; each overrides
/// its key in the config file's `[access_log]` section.
#[derive(Clone, Debug, Args)]
struct AccessLogArgs {
    /// Log each request to FILE (appended to; reopened on SIGHUP and SIGUSR1), or - for stdout [access_log.path].
    #[arg(long, value_name = "FILE")]
    access_log: Option<PathBuf>,
    /// The access log's line format [access_log.format] [default: combined].
    #[arg(long, value_name = "FORMAT")]
    access_log_format: Option<AccessLogFormat>,
}

/// The access log's line formats.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum AccessLogFormat {
    /// nginx's `combined`.
    Combined,
    /// One JSON object per line.
    Json,
}

impl AccessLogArgs {
    fn apply(self, log: &mut revalidate_listener::AccessLogSettings) {
        if let Some(path) = self.access_log {
            log.path = Some(path);
        }
        if let Some(format) = self.access_log_format {
            log.format = match format {
                AccessLogFormat::Combined => revalidate_listener::access_log::Format::Combined,
                AccessLogFormat::Json => revalidate_listener::access_log::Format::Json,
            };
        }
    }
}

impl TlsArgs {
    fn apply(self, tls: &mut revalidate_listener::TlsSettings) {
        if let Some(listen) = self.listen_tls {
            tls.listen = Some(listen);
        }
        if let Some(cert) = self.tls_cert {
            tls.cert = Some(cert);
        }
        if let Some(key) = self.tls_key {
            tls.key = Some(key);
        }
    }
}

impl EdgeArgs {
    fn into_config(self) -> anyhow::Result<EdgeConfig> {
        let mut config = match &self.config {
            Some(path) => EdgeConfig::from_file(path)?,
            None => EdgeConfig::default(),
        };
        if let Some(origin) = self.origin {
            // The flag names the one origin: it replaces a pool (or a
            // shield tier) as well.
            config.origin = origin;
            config.origins.clear();
            config.shields.clear();
        }
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = self.cache_dir {
            config.cache_dir = Some(dir);
        }
        if let Some(memory) = self.memory {
            config.memory = memory;
        }
        if let Some(disk) = self.disk {
            config.disk = disk;
        }
        self.tls.apply(&mut config.tls);
        self.access_log.apply(&mut config.access_log);
        if let Some(admin) = &self.admin_listen {
            config.admin = admin_settings(admin)?;
        }
        if config.origin.is_empty()
            && config.origins.is_empty()
            && config.shields.is_empty()
            && config.sites.is_empty()
        {
            anyhow::bail!(
                "an origin is required: --origin http://host:port (or `origin`, `origins`, `shields` or [[sites]] in --config)"
            );
        }
        config.validate()?;
        Ok(config)
    }

    /// How the configuration is read again on `SIGHUP`: the file, then the
    /// same flags over it. `None` without `--config`: nothing can change.
    fn rereader(&self) -> Option<revalidate_edge::sites::reload::ReadConfig> {
        self.config.as_ref()?;
        Some(rereader(self.clone(), Self::into_config))
    }
}

#[derive(Clone, Debug, Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Root of the static tree [default: public].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Directory for the embedded database and the ETag index [default: data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// sqlite://… or postgres://… [default: sqlite://DATA/revalidate.db].
    #[arg(long, value_name = "URL", env = "REVALIDATE_DATABASE")]
    database: Option<String>,
    /// A TOML config file; flags override its values.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Runtime worker threads [default: one per core]. With 1, the whole
    /// server runs on one thread with no cross-thread wake-ups, like one
    /// nginx worker.
    #[arg(long, value_name = "N", env = "REVALIDATE_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    access_log: AccessLogArgs,
    /// The admin listener (/metrics, /healthz, /readyz; then /metrics leaves --listen): ADDR, or off [admin.listen; default: off].
    #[arg(long, value_name = "ADDR|off")]
    admin_listen: Option<String>,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<OriginConfig> {
        let mut config = match &self.config {
            Some(path) => OriginConfig::from_file(path)?,
            None => OriginConfig::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(root) = self.root {
            config.root = root;
        }
        if let Some(data) = self.data {
            config.data = data;
        }
        if let Some(database) = self.database {
            config.database = Some(database);
        }
        self.tls.apply(&mut config.tls);
        self.access_log.apply(&mut config.access_log);
        if let Some(admin) = &self.admin_listen {
            config.admin = Some(admin_settings(admin)?);
        }
        config.validate()?;
        Ok(config)
    }

    /// How the configuration is read again on `SIGHUP`: the file, then the
    /// same flags over it. `None` without `--config`: nothing can change.
    fn rereader(&self) -> Option<revalidate_origin::reload::ReadConfig> {
        self.config.as_ref()?;
        Some(rereader(self.clone(), Self::into_config))
    }
}

/// Reads the configuration again as at start: `args` (the file named by
/// `--config`, then the same flags over it) made into a configuration,
/// with a failure as one line.
fn rereader<A, C>(
    args: A,
    into_config: fn(A) -> anyhow::Result<C>,
) -> revalidate_listener::reload::ReadConfig<C>
where
    A: Clone + Send + Sync + 'static,
    C: 'static,
{
    Box::new(move || into_config(args.clone()).map_err(|e| format!("{e:#}").replace('\n', " ")))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => {
            let workers = args.workers;
            let reread = args.rereader();
            args.into_config()
                .and_then(|config| serve(config, workers, reread))
        }
        Command::Edge(args) => {
            let reread = args.rereader();
            args.into_config().and_then(|config| edge(config, reread))
        }
        Command::Check(args) => return check::run(args),
        Command::Config(command) => return config_check::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            eprintln!("revalidate: error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(2)
        }
    }
}

fn serve(
    config: OriginConfig,
    workers: Option<u16>,
    reread: Option<revalidate_origin::reload::ReadConfig>,
) -> anyhow::Result<()> {
    let runtime = match workers {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(n))
            .enable_all()
            .build()?,
        None => tokio::runtime::Builder::new_multi_thread().enable_all().build()?,
    };
    runtime.block_on(async {
        // The handlers are installed before anything says where the server
        // listens: a SIGTERM sent the moment that line is read shuts down
        // gracefully rather than killing the process.
        let shutdown = revalidate_listener::shutdown_signal()?;
        revalidate_origin::server::run_reloadable(config, reread, shutdown).await?;
        anyhow::Ok(())
    })
}

fn edge(
    config: EdgeConfig,
    reread: Option<revalidate_edge::sites::reload::ReadConfig>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        // Installed before the "listening" line, as for `serve`.
        let shutdown = revalidate_listener::shutdown_signal()?;
        revalidate_edge::server::run_reloadable(config, reread, shutdown).await?;
        anyhow::Ok(())
    })
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
