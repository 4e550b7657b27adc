//! `revalidate config check FILE`: is this file one `serve` or `edge`
//! would start with (or take on `SIGHUP`)? Run it before a reload.
//!
//! The file goes through the same path as `revalidate serve --config FILE`
//! / `revalidate edge --config FILE`: the flags parsed by clap (so the
//! environment those commands read, such as `REVALIDATE_DATABASE`, counts
//! too), the TOML read into the server's config type, `validate`, and the
//! TLS certificates and keys loaded when `[tls]` names them, as the TLS
//! listener does before it binds. Nothing is bound, opened or written.
//!
//! Without `--kind` the kind is found from the keys: each server's config
//! type refuses unknown keys, so a file that reads as only one of them is
//! that one; a file both read (only shared keys, or empty) passes when
//! either server would take it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, FromArgMatches as _, Subcommand};
use revalidate_edge::config::EdgeConfig;
use revalidate_origin::config::OriginConfig;

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Check that FILE is a configuration `serve` or `edge` starts with (and takes on SIGHUP):
    /// prints `ok: FILE is a valid serve|edge config`, or one line saying why not. Exit status 0 valid, 2 not.
    Check(CheckConfigArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CheckConfigArgs {
    /// The TOML config file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Which server reads it [default: found from its keys].
    #[arg(long, value_enum)]
    kind: Option<Kind>,
}

/// The servers that read a config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    Serve,
    Edge,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Serve => "serve",
            Self::Edge => "edge",
        }
    }

    /// Whether the file reads as this kind's config type (keys and types only).
    fn reads(self, file: &Path) -> bool {
        match self {
            Self::Serve => revalidate_listener::read_config_file::<OriginConfig>(file).is_ok(),
            Self::Edge => revalidate_listener::read_config_file::<EdgeConfig>(file).is_ok(),
        }
    }

    /// The file through the server's own start-up path, as one line.
    fn check(self, file: &Path) -> Result<(), String> {
        let file_arg = file.as_os_str().to_owned();
        let argv = [self.name().into(), "--config".into(), file_arg];
        let one_line = |e: anyhow::Error| format!("{e:#}").replace('\n', " ");
        let clap_line = |e: clap::Error| {
            let text = e.to_string();
            text.lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned()
        };
        let tls = match self {
            Self::Serve => {
                let command = <crate::ServeArgs as Args>::augment_args(clap::Command::new("serve"));
                let matches = command.try_get_matches_from(argv).map_err(clap_line)?;
                let args = crate::ServeArgs::from_arg_matches(&matches).map_err(clap_line)?;
                args.into_config().map_err(one_line)?.tls
            }
            Self::Edge => {
                let command = <crate::EdgeArgs as Args>::augment_args(clap::Command::new("edge"));
                let matches = command.try_get_matches_from(argv).map_err(clap_line)?;
                let args = crate::EdgeArgs::from_arg_matches(&matches).map_err(clap_line)?;
                args.into_config().map_err(one_line)?.tls
            }
        };
        if tls.enabled() {
            revalidate_listener::tls::CertStore::load(&tls).map_err(|e| format!("[tls]: {e}"))?;
        }
        Ok(())
    }
}

/// Runs `config check`: `ok: FILE is a valid KIND config` on stdout and
/// exit 0, or `revalidate: error: …` on stderr and exit 2.
pub(crate) fn run(command: ConfigCommand) -> ExitCode {
    let ConfigCommand::Check(args) = command;
    let file = &args.file;
    let kinds: Vec<Kind> = match args.kind {
        Some(kind) => vec![kind],
        None => {
            let readable: Vec<Kind> = [Kind::Serve, Kind::Edge]
                .into_iter()
                .filter(|kind| kind.reads(file))
                .collect();
            if readable.is_empty() {
                // Neither reads it: each server's own reason (a missing
                // file, a TOML error, an unknown key) says what to fix.
                vec![Kind::Serve, Kind::Edge]
            } else {
                readable
            }
        }
    };
    let mut reasons = Vec::new();
    for kind in &kinds {
        match kind.check(file) {
            Ok(()) => {
                println!("ok: {} is a valid {} config", file.display(), kind.name());
                return ExitCode::SUCCESS;
            }
            Err(reason) => reasons.push((*kind, reason)),
        }
    }
    let message = match reasons.as_slice() {
        [(_, reason)] => reason.clone(),
        _ => reasons
            .iter()
            .map(|(kind, reason)| match kind {
                Kind::Serve => format!("as a serve config: {reason}"),
                Kind::Edge => format!("as an edge config: {reason}"),
            })
            .collect::<Vec<_>>()
            .join("; "),
    };
    // TOML's messages point at the line over several lines; one line here.
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!("revalidate: error: {message}");
    ExitCode::from(2)
}
