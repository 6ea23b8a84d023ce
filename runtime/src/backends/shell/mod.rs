//! Local commands: running a process (argv only, a deadline, Ctrl-C), the
//! argv of `rsync` and `ssh` and what their output means. Every process is
//! started through the effects gate's `Permit`; nothing here knows Rhai or
//! decides whether a command runs.

pub mod process;
pub mod rsync;
pub mod ssh;
pub mod world;
