//! `route53::` - hosted zones and records of an account: reads, upserts,
//! alias records, deletes, and `swap`, the compare-and-swap a cutover needs.
//! Each change is one [`Edit`](crate::backends::aws::Edit) of the backend
//! account handed to the gate: Route53 has no dry run, so the backend reads
//! the precondition (the zone exists, the record is what the runbook
//! expects) under either permit, and only sends the batch when applying.

use std::time::Duration;

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};

use super::aws::{read, to_dynamic, to_map, Account};
use super::options::Options;
use super::{script_error, ScriptResult};
use crate::backends::aws as backend;
use crate::run::Run;

mod change;

use change::{alias, delete, swap, upsert};

/// The Route53 of an account: `aws::account(...).route53()`.
#[derive(Debug, Clone)]
pub struct Route53(pub(crate) Account);

/// A hosted zone: `route53.zone("cal-adapt.org")`.
#[derive(Debug, Clone)]
pub struct Zone {
    account: Account,
    zone: backend::Zone,
}

pub(super) const WAIT_INSYNC: Duration = Duration::from_mins(5);

#[export_module]
pub(crate) mod route53 {
    pub type Route53 = super::Route53;
    pub type Zone = super::Zone;

    /// The account's Route53 (hosted zones and records).
    ///
    /// ```rhai
    /// let zone = aws::account(#{ profile: "prod" }).route53().zone("cal-adapt.org");
    /// ```
    #[rhai_fn(global)]
    pub fn route53(account: super::Account) -> Route53 {
        super::Route53(account)
    }

    /// The hosted zone named `name`. If a public and a private zone share
    /// the name, this fails (`kind: "Invalid"`, `candidates`) and the
    /// two-argument form picks one with `visibility`.
    ///
    /// ```rhai
    /// let zone = aws::account(#{ profile: "prod" }).route53().zone("cal-adapt.org");
    /// ```
    #[rhai_fn(global, name = "zone", return_raw)]
    pub fn zone_plain(ctx: NativeCallContext, r53: Route53, name: &str) -> Result<Zone, Box<EvalAltResult>> {
        super::zone(&ctx, &r53, name, &rhai::Map::new())
    }

    /// The hosted zone named `name` with `visibility: "public"` or
    /// `"private"`.
    ///
    /// ```rhai
    /// let inside = r53.zone("cal-adapt.org", #{ visibility: "private" });
    /// ```
    #[rhai_fn(global, name = "zone", return_raw)]
    pub fn zone(
        ctx: NativeCallContext,
        r53: Route53,
        name: &str,
        options: rhai::Map,
    ) -> Result<Zone, Box<EvalAltResult>> {
        super::zone(&ctx, &r53, name, &options)
    }

    /// The zone's id.
    ///
    /// ```rhai
    /// print(zone.id);   // "Z0CAEADAPT"
    /// ```
    #[rhai_fn(global, get = "id", pure)]
    pub fn id(zone: &mut Zone) -> String {
        zone.zone.id.clone()
    }

    /// The zone's name, with its trailing dot.
    ///
    /// ```rhai
    /// print(zone.name);   // "cal-adapt.org."
    /// ```
    #[rhai_fn(global, get = "name", pure)]
    pub fn name(zone: &mut Zone) -> String {
        zone.zone.name.clone()
    }

    /// `"public"` or `"private"` (`private` is a Rhai keyword).
    ///
    /// ```rhai
    /// if zone.visibility == "private" { log::warn("a private zone"); }
    /// ```
    #[rhai_fn(global, get = "visibility", pure)]
    pub fn visibility(zone: &mut Zone) -> String {
        if zone.zone.private { "private" } else { "public" }.into()
    }

    /// Every record set of the zone: `#{name, type, ttl, values, alias}`.
    ///
    /// ```rhai
    /// for r in zone.records() { print(`${r.name} ${r.type}`); }
    /// ```
    #[rhai_fn(global, name = "records", return_raw)]
    pub fn records_all(ctx: NativeCallContext, zone: Zone) -> Result<rhai::Array, Box<EvalAltResult>> {
        super::records(&ctx, &zone, &rhai::Map::new())
    }

    /// Record sets selected by `name` and `type`.
    ///
    /// ```rhai
    /// let hub = zone.records(#{ name: "hub.cal-adapt.org" });
    /// ```
    #[rhai_fn(global, name = "records", return_raw)]
    pub fn records(ctx: NativeCallContext, zone: Zone, query: rhai::Map) -> Result<rhai::Array, Box<EvalAltResult>> {
        super::records(&ctx, &zone, &query)
    }

    /// One record set (`kind: "NotFound"` if there is none).
    ///
    /// ```rhai
    /// let now = zone.record("hub.cal-adapt.org", "CNAME").values[0];
    /// ```
    #[rhai_fn(global, return_raw)]
    pub fn record(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        to_map(&read(&run, zone.account.backend().record(&zone.zone, name, record_type))?)
    }

    /// What `name` points at: its CNAME, or its A/AAAA alias records (the
    /// type is found, not assumed). Returns `#{name, type, target, records}`:
    /// `type` is `CNAME`, or `A` for aliases (`records` holds the A and the
    /// AAAA alias when both exist), `target` the name it points at as
    /// compared (lowercase, no trailing dot, no `dualstack.`). `kind:
    /// "NotFound"` when it has neither; `"Invalid"` for plain addresses.
    ///
    /// ```rhai
    /// let hub = zone.target("hub.cal-adapt.org");
    /// if hub.target != route53::canonical(blue_lb) { fail(`hub points at ${hub.target}`); }
    /// ```
    #[rhai_fn(global, return_raw)]
    pub fn target(ctx: NativeCallContext, zone: Zone, name: &str) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        to_map(&read(&run, zone.account.backend().pointer(&zone.zone, name))?)
    }

    /// A host name as Route53 values are compared: lowercase, no trailing
    /// dot, no `dualstack.` prefix (an ELB alias made in the console has it).
    ///
    /// ```rhai
    /// if route53::canonical("Blue.ELB.amazonaws.com.") == "blue.elb.amazonaws.com" { print("same"); }
    /// ```
    pub fn canonical(name: &str) -> String {
        crate::backends::aws::normal::canonical(name)
    }

    /// Creates or replaces a record set (`values`: a string or an array) and
    /// waits until the change is INSYNC (at most 5 minutes). Returns
    /// `#{id, status}` of the change.
    ///
    /// ```rhai
    /// zone.upsert("hub.cal-adapt.org", "CNAME", green_lb, 60);
    /// ```
    #[rhai_fn(global, name = "upsert", return_raw)]
    pub fn upsert_plain(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        values: Dynamic,
        ttl: i64,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::upsert(&ctx, &zone, name, record_type, &values, ttl, &rhai::Map::new())
    }

    /// `upsert` with options: `wait: false` returns without waiting for
    /// INSYNC; `timeout` bounds the wait; `confirm` (a reason: "moves the
    /// production name") makes the change a confirmation point, asked like
    /// a delete unless `--yes` (every change verb takes these three).
    ///
    /// ```rhai
    /// zone.upsert("hub.cal-adapt.org", "A", ["192.0.2.10", "192.0.2.11"], 60, #{ wait: false });
    /// ```
    #[rhai_fn(global, name = "upsert", return_raw)]
    pub fn upsert(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        values: Dynamic,
        ttl: i64,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::upsert(&ctx, &zone, name, record_type, &values, ttl, &options)
    }

    /// Creates or replaces an alias record pointing at an ELB (or any alias
    /// target): `#{dns_name, zone_id, evaluate_health}`, where `zone_id` is
    /// the load balancer's canonical hosted zone id. Waits for INSYNC.
    ///
    /// ```rhai
    /// zone.alias("hub.cal-adapt.org", "A", #{ dns_name: lb, zone_id: "Z1H1FL5HABSF5" });
    /// ```
    #[rhai_fn(global, name = "alias", return_raw)]
    pub fn alias_plain(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        target: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::alias(&ctx, &zone, name, record_type, &target, &rhai::Map::new())
    }

    /// `alias` with options (`wait`, `timeout`, `confirm`).
    ///
    /// ```rhai
    /// zone.alias("hub.cal-adapt.org", "A", #{ dns_name: lb, zone_id: "Z1H1FL5HABSF5" }, #{ wait: false });
    /// ```
    #[rhai_fn(global, name = "alias", return_raw)]
    pub fn alias(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        target: rhai::Map,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::alias(&ctx, &zone, name, record_type, &target, &options)
    }

    /// Deletes a record set, exactly as it is now (destructive: asks unless
    /// `--yes`). Waits for INSYNC.
    ///
    /// ```rhai
    /// zone.delete("old-hub.cal-adapt.org", "CNAME");
    /// ```
    #[rhai_fn(global, name = "delete", return_raw)]
    pub fn delete_plain(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::delete(&ctx, &zone, name, record_type, &rhai::Map::new())
    }

    /// `delete` with options (`wait`, `timeout`, `confirm`).
    ///
    /// ```rhai
    /// zone.delete("old-hub.cal-adapt.org", "CNAME", #{ wait: false });
    /// ```
    #[rhai_fn(global, name = "delete", return_raw)]
    pub fn delete(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::delete(&ctx, &zone, name, record_type, &options)
    }

    /// Compare-and-swap: replaces the record set only if its values are now
    /// `expected_old` (a string or an array; or a map `#{values, ttl}` /
    /// `#{alias}`; compared as Route53 means them: no trailing dot, any case,
    /// and one name also matches an alias that targets it), in one change batch that DELETEs the exact current set
    /// and CREATEs the new one (`new`: values, or an alias map). If the
    /// record is anything else, nothing is sent and the error has
    /// `kind: "Conflict"`. Waits for INSYNC.
    ///
    /// ```rhai
    /// zone.swap("hub.cal-adapt.org", "CNAME", blue_lb, green_lb, 60);
    /// ```
    #[rhai_fn(global, name = "swap", return_raw)]
    pub fn swap_plain(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        expected_old: Dynamic,
        new: Dynamic,
        ttl: i64,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::swap(&ctx, &zone, name, record_type, &expected_old, &new, ttl, &rhai::Map::new())
    }

    /// `swap` with options (`wait`, `timeout`, `confirm`).
    ///
    /// ```rhai
    /// zone.swap("hub.cal-adapt.org", "CNAME", blue_lb, green_lb, 60, #{ timeout: "10m" });
    /// ```
    #[rhai_fn(global, name = "swap", return_raw)]
    #[allow(clippy::too_many_arguments)] // the script's signature: handle, five arguments, options
    pub fn swap(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        expected_old: Dynamic,
        new: Dynamic,
        ttl: i64,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::swap(&ctx, &zone, name, record_type, &expected_old, &new, ttl, &options)
    }

    /// `Zone(cal-adapt.org., Z123)`.
    ///
    /// ```rhai
    /// print(`${zone}`);
    /// ```
    #[rhai_fn(global, name = "to_string", pure)]
    pub fn to_string(zone: &mut Zone) -> String {
        format!("Zone({}, {})", zone.zone.name, zone.zone.id)
    }
}

fn zone(ctx: &NativeCallContext, r53: &Route53, name: &str, options: &rhai::Map) -> ScriptResult<Zone> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new("zone", options, &["visibility"])?;
    let private = match o.str("visibility")?.as_deref() {
        None => None,
        Some("private") => Some(true),
        Some("public") => Some(false),
        Some(other) => {
            return Err(script_error(
                "Invalid",
                &format!("`visibility` must be \"public\" or \"private\", not `{other}`"),
            ))
        }
    };
    let zone = read(&run, r53.0.backend().zone(name, private))?;
    Ok(Zone { account: r53.0.clone(), zone })
}

pub(super) fn system(zone: &Zone) -> String {
    format!("route53/{}", zone.account.name())
}

fn records(ctx: &NativeCallContext, zone: &Zone, options: &rhai::Map) -> ScriptResult<rhai::Array> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new("records", options, &["name", "type"])?;
    let name = o.str("name")?;
    let record_type = o.str("type")?;
    let found = read(&run, zone.account.backend().records(&zone.zone.id, name.as_deref(), record_type.as_deref()))?;
    found.iter().map(to_dynamic).collect()
}
