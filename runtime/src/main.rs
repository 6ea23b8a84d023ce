//! The `hubops` binary: everything lives in the library; this only hands over
//! the process arguments and returns the exit code the library chose.

fn main() -> std::process::ExitCode {
    hubops::main(std::env::args_os(), &[])
}
