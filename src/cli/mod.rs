//! The `kao` command line.

mod bench;
mod eval;
mod export;
mod fid;
mod figures;
mod generate;
mod info;
mod prepare;
pub mod progress;
mod report;
mod studio;
mod train;

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// kao: anime face GANs. Prepare a folder of faces, train a generator, generate new faces.
#[derive(Parser, Debug)]
#[command(name = "kao", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Prepare(prepare::PrepareArgs),
    Train(train::TrainArgs),
    Generate(generate::GenerateArgs),
    Mix(figures::MixArgs),
    Interpolate(figures::InterpolateArgs),
    Figure(figures::FigureArgs),
    Weights(fid::WeightsArgs),
    Fid(fid::FidArgs),
    Eval(eval::EvalArgs),
    Report(report::ReportArgs),
    Bench(bench::BenchArgs),
    Studio(studio::StudioArgs),
    Info(info::InfoArgs),
    Export(export::ExportArgs),
}

/// Installs the Ctrl-C (SIGINT) handler. The first interrupt prints `message` and sets the
/// returned flag, which the command polls to stop cleanly. A second one exits at once with
/// status 130.
fn install_interrupt(message: &'static str) -> anyhow::Result<Arc<AtomicBool>> {
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("second interrupt: exiting at once");
            std::process::exit(130);
        }
        eprintln!("{message}");
    })
    .map_err(|error| anyhow::anyhow!("failed to install the Ctrl-C handler: {error}"))?;
    Ok(interrupt)
}

/// Parses the command line, runs the command and maps errors to exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Prepare(args) => prepare::run(args),
        Command::Train(args) => train::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Mix(args) => figures::run_mix(args),
        Command::Interpolate(args) => figures::run_interpolate(args),
        Command::Figure(args) => figures::run_figure(args),
        Command::Weights(args) => fid::run_weights(args),
        Command::Fid(args) => fid::run_fid(args),
        Command::Eval(args) => eval::run(args),
        Command::Report(args) => report::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Studio(args) => studio::run(args),
        Command::Export(args) => export::run(args),
        Command::Info(args) => info::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KAO_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
