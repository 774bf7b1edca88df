//! The `glaux` binary: parse arguments, set up logging, run, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = glaux::Cli::parse();
    glaux::panics::install_hook();
    glaux::logging::init();
    match glaux::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("glaux: {}", glaux::logging::redact(&e.line()));
            ExitCode::from(e.exit_code())
        }
    }
}
