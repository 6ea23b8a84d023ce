//! `hubops` plus the `testkit::` binding family (a mutating binding used to
//! prove what the effects gate, dry runs and worlds do).

fn main() -> std::process::ExitCode {
    hubops::main(std::env::args_os(), &[hubops_tests::testkit()])
}
