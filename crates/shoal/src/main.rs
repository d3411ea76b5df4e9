//! The `shoal` binary: parses the command line and hands off to the crates that do the work.

mod applied;
mod banner;
mod cli;
mod keycheck;
mod limits;
mod log_tap;
mod observe;
mod plane;
mod preflight;
mod progress;
mod reset;
mod tasks;
mod telemetry;
mod tls;
mod traces;
mod up;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the proxy's many small per-request allocations cost less than with glibc's malloc.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // Before the runtime's threads: raised once, for the whole process.
    limits::raise_for(&args.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(cli::run(args))
}
