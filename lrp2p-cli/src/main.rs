//! `lrp2p`: the LRP2P command-line tool — `demo`, `keygen`, `send`/`recv`, `perf`, `relay`.
//!
//! Every error ends the process with one line on standard error, `lrp2p: error: …`, and an
//! exit code by kind (see [`error`]). The network is reached only through [`net`], the seam
//! where `lrp2p-tokio` plugs in.

mod cli;
mod commands;
mod demo;
mod error;
mod keyfile;
mod known_peers;
mod net;
mod output;
mod perf;
mod plot;
mod service;
mod trace_file;
mod transfer;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command, PerfRole};
use crate::error::CliError;
use crate::output::Ui;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&CliError::net("cannot start the async runtime", e)),
    };
    let ui = Ui::new(cli.json);
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => demo::run(&args, &ui).await,
            Command::Keygen(args) => commands::keygen(&args, &ui),
            Command::Recv(args) => commands::recv(&args, &ui).await,
            Command::Send(args) => commands::send(&args, &ui).await,
            Command::Perf(args) => match args.role {
                PerfRole::Server(args) => perf::server(&args, &ui).await,
                PerfRole::Client(args) => perf::client(&args, &ui).await,
            },
            Command::Relay(args) => commands::relay(&args, &ui).await,
            Command::Rendezvous(args) => commands::rendezvous(&args, &ui).await,
        }
    });
    // Do not wait for tasks still blocked on the network.
    runtime.shutdown_background();
    // A result that could not be printed (`> /dev/full`) is a failure too.
    let result = result.and_then(|()| match output::stdout_failure() {
        Some(source) => Err(CliError::Output { path: "standard output".into(), source }),
        None => Ok(()),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Prints `e` as one line and returns its exit code.
fn fail(e: &CliError) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "lrp2p: error: {e}");
    ExitCode::from(e.exit_code())
}

/// Help and version go to standard output with success; usage errors become one line and
/// exit code 2.
fn clap_exit(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return ExitCode::from(2);
    }
    let rendered = e.render().to_string();
    let line = usage_line(&rendered);
    let _ = writeln!(std::io::stderr(), "lrp2p: error: {line} (see `lrp2p --help`)");
    ExitCode::from(2)
}

/// clap's message in one line: its first paragraph, the indented lines that follow the first
/// (the missing arguments' names) joined to it.
fn usage_line(rendered: &str) -> String {
    let mut lines = rendered.lines().skip_while(|l| l.trim().is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first).trim_end();
    let rest: Vec<&str> = lines.take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
    if rest.is_empty() { first.to_owned() } else { format!("{first} {}", rest.join(", ")) }
}
