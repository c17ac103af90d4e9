use std::process::ExitCode;

fn main() -> ExitCode {
    kao::allocator::keep_large_blocks();
    kao::cli::main()
}
