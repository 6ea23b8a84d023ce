//! A `moto_server` on a free loopback port, started by the test that needs
//! it and killed when that test ends. moto is Python (`pip install
//! 'moto[server]'`); the live AWS backends talk to it through the real SDK.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::Test;

pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
}

impl Moto {
    pub(crate) fn start() -> Self {
        // Ask the OS for a free port, then hand it to moto. Another process
        // could take it in between; moto would then fail to bind and the
        // readiness wait below would say so.
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be installed: pip install 'moto[server]'");
        let moto = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_mins(1);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// hubops, pointed at this moto with fake credentials.
    pub(crate) fn test(&self) -> Test {
        let t = Test::new().env("HUBOPS_AWS_ENDPOINT", &self.endpoint);
        fake_credentials(t)
    }

    /// The AWS CLI against this moto (to set up what hubops has no verb for,
    /// and to act as "someone else" changing things). Returns stdout.
    pub(crate) fn aws(&self, args: &[&str]) -> String {
        let out = Command::new("aws")
            .args(["--endpoint-url", &self.endpoint, "--output", "text"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-west-2")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .expect("the AWS CLI must be installed");
        assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A public hosted zone; returns its id.
    pub(crate) fn zone(&self, name: &str, private: bool) -> String {
        let reference = format!("{name}-{private}");
        let mut args = vec!["route53", "create-hosted-zone", "--name", name, "--caller-reference", &reference];
        if private {
            args.extend(["--vpc", "VPCRegion=us-west-2,VPCId=vpc-12345", "--hosted-zone-config", "PrivateZone=true"]);
        }
        args.extend(["--query", "HostedZone.Id"]);
        self.aws(&args).trim_start_matches("/hostedzone/").to_string()
    }
}

pub(crate) fn fake_credentials(t: Test) -> Test {
    t.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-west-2")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
