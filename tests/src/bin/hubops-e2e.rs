//! The real `hubops` command line, for the end-to-end tests.

fn main() -> std::process::ExitCode {
    hubops::main(std::env::args_os(), &[])
}
