//! AWS profiles as organisations write them: `credential_process`,
//! assume-role (`role_arn` + `source_profile`, against moto's STS), web
//! identity (a token file, as a Job in EKS has) and IAM Identity Center
//! (SSO: the cached login and the portal's answer served on loopback).
//! No request leaves 127.0.0.0/8: every service's endpoint is set.

use crate::moto::Moto;
use crate::support::Test;
use crate::web::Web;

/// A hubops run against moto with `config` as the AWS config file and no
/// credentials in the environment.
fn with_profile(moto: &Moto, config: &str) -> Test {
    Test::new()
        .file("aws-config", config)
        .env("HUBOPS_AWS_ENDPOINT", &moto.endpoint)
        // STS and SSO calls made while credentials resolve go to loopback too.
        .env("AWS_ENDPOINT_URL_STS", &moto.endpoint)
        .env("AWS_CONFIG_FILE", "aws-config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "aws-credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

const LIST: &str = "print(aws::account(#{ profile: \"site\" }).ec2().volumes().len());\n";

#[test]
fn a_credential_process_profile_resolves() {
    let moto = Moto::start();
    moto.record();
    let t = with_profile(&moto, "[profile site]\nregion = us-west-2\ncredential_process = ./creds.sh --as hubops\n");
    let script = format!(
        "#!/bin/sh\necho \"$@\" > {}\necho '{{\"Version\": 1, \"AccessKeyId\": \"AKIAPROCESS000000001\", \"SecretAccessKey\": \"process-secret\"}}'\n",
        t.path("called").display()
    );
    let t = t.file("creds.sh", &script).file("l.rhai", LIST);
    make_executable(&t.path("creds.sh"));
    let (done, dir) = t.args(&["run", "l.rhai", "-q"]).run();
    done.status(0).stdout("0\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("called")).unwrap(), "--as hubops\n");
    let recorded = moto.recorded_text();
    assert!(recorded.contains("Credential=AKIAPROCESS000000001/"), "signed with the process's key: {recorded}");
    assert!(!done.stderr.contains("process-secret"));
}

#[test]
fn an_assume_role_profile_asks_sts_for_the_role() {
    let moto = Moto::start();
    moto.record();
    let (done, _dir) = with_profile(
        &moto,
        "[profile base]\nregion = us-west-2\n\n[profile site]\nregion = us-west-2\nrole_arn = arn:aws:iam::123456789012:role/hub-admin\nsource_profile = base\nrole_session_name = hubops-test\n",
    )
    .file("aws-credentials", "[base]\naws_access_key_id = AKIABASE000000000001\naws_secret_access_key = base-secret\n")
    .file("l.rhai", LIST)
    .args(&["run", "l.rhai", "-q"])
    .run();
    done.status(0).stdout("0\n");
    let actions: Vec<String> = moto.requests().into_iter().map(|r| r.action).collect();
    assert_eq!(actions, ["AssumeRole", "DescribeVolumes"]);
    let recorded = moto.recorded_text();
    assert!(recorded.contains("Credential=AKIABASE000000000001/"), "STS is asked with the source profile's key");
    let first: serde_json::Value = serde_json::from_str(recorded.lines().next().unwrap()).unwrap();
    let body =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, first["body"].as_str().unwrap()).unwrap();
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fhub-admin"), "{body}");
    assert!(body.contains("RoleSessionName=hubops-test"), "{body}");
}

#[test]
fn a_web_identity_profile_exchanges_its_token() {
    let moto = Moto::start();
    moto.record();
    let (done, _dir) = with_profile(
        &moto,
        "[profile site]\nregion = us-west-2\nrole_arn = arn:aws:iam::123456789012:role/hub-job\nweb_identity_token_file = token\n",
    )
    .file("token", "eyJ.service-account-token.x")
    .file("l.rhai", LIST)
    .args(&["run", "l.rhai", "-q"])
    .run();
    done.status(0).stdout("0\n");
    let actions: Vec<String> = moto.requests().into_iter().map(|r| r.action).collect();
    assert_eq!(actions, ["AssumeRoleWithWebIdentity", "DescribeVolumes"]);
}

const SSO_CONFIG: &str = "[profile site]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = HubAdmin\nregion = us-west-2\n\n[sso-session corp]\nsso_region = us-east-1\nsso_start_url = https://corp.awsapps.com/start\n";

#[test]
fn an_sso_profile_uses_the_cached_login_and_the_portals_credentials() {
    let moto = Moto::start();
    moto.record();
    let portal = Web::start(false, |seen, _| {
        if seen.path.starts_with("/federation/credentials") {
            let body = r#"{"roleCredentials":{"accessKeyId":"ASIASSO0000000000001","secretAccessKey":"sso-secret","sessionToken":"sso-session-token","expiration":4102444800000}}"#;
            (200, "application/json".into(), body.into())
        } else {
            (404, "application/json".into(), "{}".into())
        }
    });
    // What `aws sso login` leaves: the session's token, cached under the
    // SHA-1 of the session's name.
    let token = r#"{"accessToken":"cached-sso-token","expiresAt":"2099-01-01T00:00:00Z","region":"us-east-1","startUrl":"https://corp.awsapps.com/start"}"#;
    let (done, _dir) = with_profile(&moto, SSO_CONFIG)
        .env("AWS_ENDPOINT_URL_SSO", &portal.base)
        .file(&format!(".aws/sso/cache/{}.json", sha1_hex("corp")), token)
        .file("l.rhai", LIST)
        .args(&["run", "l.rhai", "-q"])
        .run();
    done.status(0).stdout("0\n");
    let asked: Vec<String> = portal.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(asked, ["/federation/credentials?role_name=HubAdmin&account_id=123456789012"]);
    assert!(moto.recorded_text().contains("Credential=ASIASSO0000000000001/"));
}

#[test]
fn an_sso_profile_without_a_login_says_to_log_in() {
    let moto = Moto::start();
    let (done, _dir) = with_profile(&moto, SSO_CONFIG)
        .env("AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_SSO_OIDC", "http://127.0.0.1:9")
        .file("l.rhai", LIST)
        .args(&["run", "l.rhai"])
        .run();
    done.status(1);
    assert!(
        done.stderr.contains("error: DescribeVolumes: no AWS credentials: an error occurred while loading an access token: failed to load the cached SSO token"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("\nhint: log in to IAM Identity Center first: `aws sso login --profile NAME`\n"),
        "{}",
        done.stderr
    );
}

fn sha1_hex(text: &str) -> String {
    let out = std::process::Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("sha1sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

fn make_executable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
