//! Two "NFS servers" for tests: Debian's own sshd (openssh-server),
//! started by the test on 127.0.0.3 (old) and 127.0.0.2 (new), each on a
//! free port, with host and user keys generated in the test's folder, a
//! generated config (`-f`, `-D -e`, `UsePAM no`, `StrictModes no`, the
//! authorized keys in the test's folder), and stopped when the test ends.
//! Both log in the user running the tests (root here and in CI). The new
//! server pulls from the old one with its own key (`transfer`), as the seed
//! has the operator set up by hand.
//!
//! sshd keeps its stock limits (`MaxStartups 10:30:100`, `MaxSessions
//! 10`), which a copy at `parallel` 16 must live with. Sessions start with
//! `SHLVL=1`, so bash does not read the login user's `~/.bashrc` for a
//! remote command: on a stock server that file returns at once when the
//! shell is not interactive, while this machine's root runs `pyenv init`
//! from it (about 0.1 s of CPU a session, which would swamp what the
//! benchmark measures).
//!
//! Shared by the end-to-end tests and the homes benchmark.

// The harness starts sshd and ssh-keygen; the effects gate's rule is about
// hubops itself.
#![allow(clippy::disallowed_methods)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// One sshd.
pub struct Sshd {
    child: Child,
    pub addr: &'static str,
    pub port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The two servers and the files a client needs.
pub struct Servers {
    pub old: Sshd,
    pub new: Sshd,
    /// The key hubops logs in with.
    pub identity: PathBuf,
    /// The key the new server pulls from the old one with.
    pub transfer: PathBuf,
    /// Both servers' host keys.
    pub known_hosts: PathBuf,
    /// The folder of keys, configurations and logs.
    keys: PathBuf,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run a setup command");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A new ed25519 key pair at `path` (and `path.pub`), no passphrase.
pub fn keygen(path: &Path) {
    run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", ""]).arg("-f").arg(path));
}

fn free_port(addr: &str) -> u16 {
    TcpListener::bind((addr, 0)).and_then(|l| l.local_addr()).expect("a free port").port()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Servers {
    /// Starts both servers with their keys in `dir`.
    #[must_use]
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, "")
    }

    /// [`Self::start`], with `config` (sshd configuration lines) added to
    /// both servers' configuration.
    #[must_use]
    pub fn start_with(dir: &Path, config: &str) -> Self {
        assert!(Path::new(SSHD).exists(), "{SSHD} is missing: install Debian's openssh-server (.ci/run does)");
        if is_root() && !Path::new("/run/sshd").exists() {
            // sshd run as root needs its privilege-separation folder, which
            // the Debian service makes at boot and a container never does.
            std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        }
        let keys = dir.join("ssh");
        std::fs::create_dir_all(&keys).expect("mkdir ssh");
        let identity = keys.join("id");
        let transfer = keys.join("transfer");
        keygen(&identity);
        keygen(&transfer);
        let authorized: String = [&identity, &transfer]
            .iter()
            .map(|k| std::fs::read_to_string(k.with_extension("pub")).expect("public key"))
            .collect();
        std::fs::write(keys.join("authorized_keys"), authorized).expect("authorized_keys");
        let old = Self::sshd(&keys, "old", "127.0.0.3", config);
        let new = Self::sshd(&keys, "new", "127.0.0.2", config);
        let known: String = [(&old, "old"), (&new, "new")]
            .iter()
            .map(|(s, name)| {
                let key = std::fs::read_to_string(keys.join(format!("host-{name}.pub"))).expect("host key");
                let mut words = key.split_whitespace();
                let (kind, body) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                format!("[{}]:{} {kind} {body}\n", s.addr, s.port)
            })
            .collect::<Vec<_>>()
            .concat();
        let known_hosts = keys.join("known_hosts");
        std::fs::write(&known_hosts, known).expect("known_hosts");
        Self { old, new, identity, transfer, known_hosts, keys }
    }

    fn sshd(keys: &Path, name: &str, addr: &'static str, extra: &str) -> Sshd {
        let host_key = keys.join(format!("host-{name}"));
        keygen(&host_key);
        for _ in 0..5 {
            let port = free_port(addr);
            let config = keys.join(format!("sshd-{name}.conf"));
            std::fs::write(
                &config,
                format!(
                    "ListenAddress {addr}:{port}\nHostKey {}\nAuthorizedKeysFile {}\nUsePAM no\nStrictModes no\nPidFile none\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                     SetEnv SHLVL=1\nLogLevel INFO\n{extra}",
                    host_key.display(),
                    keys.join("authorized_keys").display()
                ),
            )
            .expect("sshd config");
            let log = std::fs::File::create(keys.join(format!("sshd-{name}.log"))).expect("sshd log");
            let child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start sshd");
            let mut sshd = Sshd { child, addr, port };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect((addr, port)).is_ok() {
                    return sshd;
                }
                if sshd.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            drop(sshd);
        }
        let log = std::fs::read_to_string(keys.join(format!("sshd-{name}.log"))).unwrap_or_default();
        panic!("sshd on {addr} did not start: {log}");
    }

    /// How many times `server` (`"old"` or `"new"`) let someone log in so far.
    #[must_use]
    pub fn logins(&self, server: &str) -> usize {
        let log = std::fs::read_to_string(self.keys.join(format!("sshd-{server}.log"))).unwrap_or_default();
        log.lines().filter(|l| l.contains("Accepted publickey")).count()
    }

    /// `homes::tree(...)` of `root` on the old server, which the new one
    /// pulls from with the transfer key.
    #[must_use]
    pub fn old_tree(&self, root: &Path) -> String {
        format!(
            "homes::tree(\"{addr}\", \"{root}\", #{{ port: {port}, identity: \"{id}\", known_hosts: \"{kh}\", \
             pull: #{{ address: \"{addr}\", port: {port}, identity: \"{transfer}\", known_hosts: \"{kh}\" }} }})",
            addr = self.old.addr,
            port = self.old.port,
            root = root.display(),
            id = self.identity.display(),
            kh = self.known_hosts.display(),
            transfer = self.transfer.display(),
        )
    }

    /// `homes::tree(...)` of `root` on the new server.
    #[must_use]
    pub fn new_tree(&self, root: &Path) -> String {
        format!(
            "homes::tree(\"{}\", \"{}\", #{{ port: {}, identity: \"{}\", known_hosts: \"{}\" }})",
            self.new.addr,
            root.display(),
            self.new.port,
            self.identity.display(),
            self.known_hosts.display()
        )
    }
}
