use std::process::ExitCode;

fn main() -> ExitCode {
    kao::cli::main()
}
