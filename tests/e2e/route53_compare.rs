//! Route53 records as they come back from the real API (moto): a trailing
//! dot, other case, a console alias with `dualstack.`. A compare-and-swap
//! must match them as Route53 means them, `zone.target` must find what a
//! name points at whatever its type, and a change marked `confirm` is asked
//! like a delete.

use crate::moto::Moto;

fn setup(moto: &Moto) -> String {
    let zone = moto.zone("example.org", false);
    let set =
        |name: &str, body: &str| format!("{{'Action': 'UPSERT', 'ResourceRecordSet': {{'Name': '{name}', {body}}}}}");
    moto.change(
        &zone,
        &[
            set("hub.example.org", "'Type': 'CNAME', 'TTL': 60, 'ResourceRecords': [{'Value': 'Blue.ELB.Example.com.'}]"),
            set(
                "lb.example.org",
                "'Type': 'A', 'AliasTarget': {'HostedZoneId': 'Z1H1FL5HABSF5', 'DNSName': 'dualstack.blue-123.us-west-2.elb.amazonaws.com.', 'EvaluateTargetHealth': False}",
            ),
            set("multi.example.org", "'Type': 'A', 'TTL': 300, 'ResourceRecords': [{'Value': '192.0.2.1'}]"),
        ],
    );
    zone
}

const SCRIPT: &str = r#"let zone = aws::account().route53().zone("example.org");
let hub = zone.target("hub.example.org");
print(`${hub.type} ${hub.target}`);
let lb = zone.target("lb.example.org");
print(`${lb.type} ${lb.target} ${lb.records.len()}`);
try { zone.target("multi.example.org"); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { zone.target("none.example.org"); } catch (e) { print(e.kind); }
print(zone.swap("hub.example.org", "CNAME", "blue.elb.example.com", "green.elb.example.com", 60).status);
let green = #{ dns_name: "green-456.us-west-2.elb.amazonaws.com", zone_id: lb.records[0].alias.zone_id };
print(zone.swap("lb.example.org", "A", "blue-123.us-west-2.elb.amazonaws.com", green, 60).status);
print(zone.target("lb.example.org").target);
"#;

#[test]
fn swaps_match_records_as_route53_means_them_and_targets_are_found() {
    let moto = Moto::start();
    let zone = setup(&moto);
    let (done, _dir) = moto.test().file("s.rhai", SCRIPT).args(&["run", "s.rhai"]).run();
    done.status(0).stdout(
        "CNAME blue.elb.example.com\n\
         A blue-123.us-west-2.elb.amazonaws.com 1\n\
         Invalid: `multi.example.org.` is an A record with addresses (192.0.2.1), not a CNAME or an alias: it cannot be pointed at a load balancer's name\n\
         NotFound\nINSYNC\nINSYNC\ngreen-456.us-west-2.elb.amazonaws.com\n",
    );
    assert_eq!(moto.value(&zone, "CNAME"), "green.elb.example.com");
}

#[test]
fn a_change_marked_confirm_is_asked_unless_yes() {
    let moto = Moto::start();
    let zone = setup(&moto);
    let script = "aws::account().route53().zone(\"example.org\").swap(\"hub.example.org\", \"CNAME\", \"blue.elb.example.com\", \"green.elb.example.com\", 60, #{ confirm: \"moves the production name hub.example.org\" });\n";
    let (done, _dir) = moto.test().file("s.rhai", script).args(&["run", "s.rhai"]).run();
    done.status(2);
    assert!(
        done.stderr.contains("error: swap CNAME hub.example.org. in zone `example.org.` moves the production name hub.example.org and needs confirmation, but there is no terminal to ask on"),
        "{}",
        done.stderr
    );
    assert_eq!(moto.value(&zone, "CNAME"), "Blue.ELB.Example.com.", "nothing was sent");
    let (done, _dir) = moto.test().file("s.rhai", script).args(&["run", "s.rhai", "--yes"]).run();
    done.status(0);
    assert_eq!(moto.value(&zone, "CNAME"), "green.elb.example.com");
}
