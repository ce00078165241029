//! The `changerisk` binary: parse, run, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = changerisk::cli::Cli::parse();
    match changerisk::commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(changerisk::Error::Io { ref source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(err.exit_code())
        }
    }
}
