//! How Route53 values compare: the same record can come back spelled
//! differently from how a runbook (or the Kubernetes API) names it. Route53
//! stores names with a trailing dot and lowercase, a console-made alias to
//! an ELB carries the `dualstack.` prefix, and IPv6 addresses have several
//! spellings. A compare-and-swap that compared raw strings would refuse
//! with "someone changed it" when nobody did.
//!
//! Only comparisons use these forms; what is sent is what the runbook gave.

use super::super::{Alias, Record};

/// A host name as compared: trimmed, lowercase, no trailing dot, no
/// `dualstack.` prefix (the same ELB, also answering AAAA).
#[must_use]
pub fn canonical(name: &str) -> String {
    let lower = name.trim().trim_end_matches('.').to_ascii_lowercase();
    match lower.strip_prefix("dualstack.") {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => lower,
    }
}

/// One value of a record of type `rtype` as compared.
fn value(rtype: &str, value: &str) -> String {
    let v = value.trim();
    if let Ok(ip) = v.parse::<std::net::IpAddr>() {
        return ip.to_string();
    }
    match rtype.to_ascii_uppercase().as_str() {
        "CNAME" | "NS" | "PTR" | "DNAME" => canonical(v),
        // `10 mail.example.org.`, `0 5 443 sip.example.org.`: the target
        // is the last field.
        "MX" | "SRV" => match v.rsplit_once(char::is_whitespace) {
            Some((head, target)) => {
                format!("{} {}", head.split_whitespace().collect::<Vec<_>>().join(" "), canonical(target))
            }
            None => canonical(v),
        },
        _ => v.to_string(),
    }
}

/// The values of a record of type `rtype` as compared: normalised, sorted.
#[must_use]
pub fn values(rtype: &str, values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = values.iter().map(|v| value(rtype, v)).collect();
    out.sort();
    out.dedup();
    out
}

/// Whether two alias targets are the same: the name as compared, the zone
/// id without regard to case (health evaluation is a setting, not a target).
#[must_use]
pub fn same_alias(a: &Alias, b: &Alias) -> bool {
    canonical(&a.dns_name) == canonical(&b.dns_name) && a.zone_id.eq_ignore_ascii_case(&b.zone_id)
}

/// Where a record points, as compared: an alias's target, or a CNAME's value.
#[must_use]
pub fn target_of(record: &Record) -> Option<String> {
    match (&record.alias, record.values.as_slice()) {
        (Some(alias), _) => Some(canonical(&alias.dns_name)),
        (None, [one]) if record.record_type.eq_ignore_ascii_case("CNAME") => Some(canonical(one)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn names_compare_without_trailing_dot_case_or_dualstack() {
        assert_eq!(canonical("A1B2-Blue.elb.us-west-2.amazonaws.com."), "a1b2-blue.elb.us-west-2.amazonaws.com");
        assert_eq!(canonical("dualstack.a1b2-blue.elb.amazonaws.com"), "a1b2-blue.elb.amazonaws.com");
        assert_eq!(canonical("dualstack."), "dualstack");
        assert_eq!(values("CNAME", &strings(&["Blue.ELB.example.", "x"])), ["blue.elb.example", "x"]);
    }

    #[test]
    fn addresses_compare_by_value_and_text_exactly() {
        assert_eq!(values("AAAA", &strings(&["2001:DB8:0:0::1"])), values("AAAA", &strings(&["2001:db8::1"])));
        assert_eq!(values("A", &strings(&["192.0.2.2", "192.0.2.1"])), ["192.0.2.1", "192.0.2.2"]);
        assert_ne!(values("TXT", &strings(&["\"Hello\""])), values("TXT", &strings(&["\"hello\""])));
        assert_eq!(values("MX", &strings(&["10  Mail.example.org."])), ["10 mail.example.org"]);
    }

    #[test]
    fn a_cname_and_an_alias_point_at_their_target() {
        let cname = Record {
            name: "hub.example.org.".into(),
            record_type: "CNAME".into(),
            ttl: Some(60),
            values: strings(&["Blue.elb.example."]),
            alias: None,
        };
        assert_eq!(target_of(&cname).as_deref(), Some("blue.elb.example"));
        let alias =
            Alias { dns_name: "dualstack.blue.elb.example.".into(), zone_id: "Z1".into(), evaluate_health: true };
        let a = Record { record_type: "A".into(), ttl: None, values: Vec::new(), alias: Some(alias.clone()), ..cname };
        assert_eq!(target_of(&a).as_deref(), Some("blue.elb.example"));
        let other = Alias { dns_name: "blue.elb.example".into(), zone_id: "z1".into(), evaluate_health: false };
        assert!(same_alias(&alias, &other));
    }
}
