//! A `moto_server` on a free loopback port, started by the test that needs
//! it and killed when that test ends. moto is Python (`pip install
//! 'moto[server]'`); the live AWS backends talk to it through the real SDK.
//! moto's request recorder is pointed at a file of the test's own, so a test
//! can list every request hubops sent ([`Moto::record`], [`Moto::requests`]).

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::Test;

pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
    /// Where moto's recorder writes, once started.
    recording: tempfile::TempDir,
}

/// One request moto received, as the recorder saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// `GET`, `POST`, ...
    pub(crate) method: String,
    /// The URL's path: `/` for EC2, `/2013-04-01/...` for Route53.
    pub(crate) path: String,
    /// EC2's `Action` (empty for Route53).
    pub(crate) action: String,
    /// Whether EC2's `DryRun` was `true`.
    pub(crate) dry_run: bool,
}

impl Moto {
    pub(crate) fn start() -> Self {
        // Ask the OS for a free port, then hand it to moto. Another process
        // could take it in between; moto would then fail to bind and the
        // readiness wait below would say so.
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let recording = tempfile::tempdir().expect("temporary folder");
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_RECORDER_FILEPATH", recording.path().join("requests.jsonl"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be installed: pip install 'moto[server]'");
        let moto = Self { child, endpoint: format!("http://127.0.0.1:{port}"), recording };
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

    /// Python with boto3 (installed with moto) against this moto, to set up
    /// what hubops has no verb for and to act as "someone else" changing
    /// things. `ec2` and `r53` are clients; returns what the code prints.
    pub(crate) fn py(&self, code: &str) -> String {
        let preamble = "import json, sys, boto3\n\
            kw = dict(endpoint_url=sys.argv[1], region_name='us-west-2', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
            ec2 = boto3.client('ec2', **kw)\n\
            r53 = boto3.client('route53', **kw)\n";
        let out = Command::new("python3")
            .args(["-c", &format!("{preamble}{code}"), &self.endpoint])
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .expect("python3 with boto3 must be installed (pip install 'moto[server]')");
        assert!(out.status.success(), "{code}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Starts recording requests, forgetting any recorded before.
    pub(crate) fn record(&self) {
        self.py(
            "import urllib.request\n\
             for what in ['reset', 'start']:\n    \
                 urllib.request.urlopen(urllib.request.Request(sys.argv[1] + f'/moto-api/recorder/{what}-recording', method='POST'))",
        );
    }

    /// Every request recorded since [`Moto::record`], oldest first.
    pub(crate) fn requests(&self) -> Vec<Request> {
        let file = self.recording.path().join("requests.jsonl");
        let out = self.py(&format!(
            "import base64, urllib.parse\n\
             for line in open({file:?}):\n    \
                 r = json.loads(line)\n    \
                 body = base64.b64decode(r['body']).decode() if r.get('body_encoded') else (r.get('body') or '')\n    \
                 form = urllib.parse.parse_qs(body) if urllib.parse.urlparse(r['url']).path == '/' else {{}}\n    \
                 print(json.dumps([r['method'], urllib.parse.urlparse(r['url']).path, form.get('Action', [''])[0], form.get('DryRun', [''])[0] == 'true']))",
            file = file.display().to_string()
        ));
        out.lines()
            .map(|line| {
                let (method, path, action, dry_run): (String, String, String, bool) =
                    serde_json::from_str(line).expect("a recorded request");
                Request { method, path, action, dry_run }
            })
            .collect()
    }

    /// The recorder's own lines since [`Moto::record`] (headers included).
    pub(crate) fn recorded_text(&self) -> String {
        std::fs::read_to_string(self.recording.path().join("requests.jsonl")).unwrap_or_default()
    }

    /// A hosted zone; returns its id.
    pub(crate) fn zone(&self, name: &str, private: bool) -> String {
        let vpc = if private {
            ", VPC={'VPCRegion': 'us-west-2', 'VPCId': 'vpc-12345'}, HostedZoneConfig={'PrivateZone': True}"
        } else {
            ""
        };
        self.py(&format!(
            "print(r53.create_hosted_zone(Name='{name}', CallerReference='{name}-{private}'{vpc})['HostedZone']['Id'])"
        ))
        .trim_start_matches("/hostedzone/")
        .to_string()
    }

    /// The first value of the record sets of `zone` of type `record_type`.
    pub(crate) fn value(&self, zone: &str, record_type: &str) -> String {
        self.py(&format!(
            "print([r['ResourceRecords'][0]['Value'] for r in r53.list_resource_record_sets(HostedZoneId='{zone}')['ResourceRecordSets'] if r['Type'] == '{record_type}'][0])"
        ))
    }

    /// Sends a change batch straight to moto.
    pub(crate) fn change(&self, zone: &str, changes: &[String]) {
        self.py(&format!(
            "r53.change_resource_record_sets(HostedZoneId='{zone}', ChangeBatch={{'Changes': [{}]}})",
            changes.join(", ")
        ));
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
