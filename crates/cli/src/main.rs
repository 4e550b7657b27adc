//! `revalidate`: the one command-line entry point of the workspace.
//!
//! The binary stays thin: it parses arguments with clap and hands each
//! subcommand to the library crate that does the work. Errors are printed
//! as one line and mapped to exit codes (0 success, 1 findings, 2 usage or
//! runtime error), as ripgrep and cargo do.

use std::process::ExitCode;

use clap::Parser;

/// HTTP conditional requests done right, end to end.
#[derive(Debug, Parser)]
#[command(name = "revalidate", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    ExitCode::SUCCESS
}
