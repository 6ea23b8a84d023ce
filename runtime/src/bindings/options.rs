//! The one reader of the option maps bindings take (`#{ timeout: "5m",
//! labels: ... }`): unknown keys are rejected with the known ones and a
//! "did you mean", and typed getters say which key is wrong and why. `()`
//! counts as absent, so a script can pass `#{ timeout: p.timeout }` with an
//! unset parameter.

use std::time::Duration;

use rhai::{Array, Dynamic};

use super::{script_error, ScriptResult};

/// The longest duration any binding accepts (a year): anything longer is a
/// typo, and `Duration` arithmetic on the run's clock stays far from overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_hours(366 * 24);

/// A binding's option map, checked against the keys it knows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options<'a> {
    map: &'a rhai::Map,
}

impl<'a> Options<'a> {
    /// Checks `map` for `function`: every key must be one of `known`.
    pub(crate) fn new(function: &str, map: &'a rhai::Map, known: &[&str]) -> ScriptResult<Self> {
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                let mut message = format!("`{function}` has no option `{key}` (options: {})", known.join(", "));
                if let Some(close) = crate::suggestion::closest(key, known.iter().copied()) {
                    message.push_str(&format!("; did you mean `{close}`?"));
                }
                return Err(script_error("Invalid", &message));
            }
        }
        Ok(Self { map })
    }

    /// The raw value, if given and not `()`.
    pub(crate) fn get(self, key: &str) -> Option<&'a Dynamic> {
        self.map.get(key).filter(|v| !v.is_unit())
    }

    /// A string option.
    pub(crate) fn str(self, key: &str) -> ScriptResult<Option<String>> {
        self.get(key)
            .map(|v| {
                v.clone()
                    .into_immutable_string()
                    .map(|s| s.to_string())
                    .map_err(|t| script_error("Invalid", &format!("`{key}` must be a string, not {t}")))
            })
            .transpose()
    }

    /// A boolean option.
    pub(crate) fn bool(self, key: &str) -> ScriptResult<Option<bool>> {
        self.get(key)
            .map(|v| {
                v.as_bool().map_err(|t| script_error("Invalid", &format!("`{key}` must be true or false, not {t}")))
            })
            .transpose()
    }

    /// An integer option.
    pub(crate) fn int(self, key: &str) -> ScriptResult<Option<i64>> {
        self.get(key)
            .map(|v| v.as_int().map_err(|t| script_error("Invalid", &format!("`{key}` must be an integer, not {t}"))))
            .transpose()
    }

    /// A duration option: `"15m"` or a number of seconds.
    pub(crate) fn duration(self, key: &str) -> ScriptResult<Option<Duration>> {
        self.get(key).map(|v| duration(v, &format!("`{key}`"))).transpose()
    }

    /// A duration option that must be longer than zero (timeouts).
    pub(crate) fn positive_duration(self, key: &str) -> ScriptResult<Option<Duration>> {
        match self.duration(key)? {
            Some(d) if d.is_zero() => Err(script_error("Invalid", &format!("`{key}` must be longer than zero"))),
            other => Ok(other),
        }
    }

    /// A map option.
    pub(crate) fn map(self, key: &str) -> ScriptResult<Option<rhai::Map>> {
        self.get(key)
            .map(|v| {
                v.read_lock::<rhai::Map>()
                    .map(|m| m.clone())
                    .ok_or_else(|| script_error("Invalid", &format!("`{key}` must be a map, not {}", v.type_name())))
            })
            .transpose()
    }

    /// A list-of-strings option (a single string is a list of one).
    pub(crate) fn strings(self, key: &str) -> ScriptResult<Option<Vec<String>>> {
        let Some(v) = self.get(key) else { return Ok(None) };
        if v.is_string() {
            return Ok(Some(vec![v.to_string()]));
        }
        let list = v.read_lock::<Array>().ok_or_else(|| {
            script_error("Invalid", &format!("`{key}` must be a list of strings, not {}", v.type_name()))
        })?;
        list.iter()
            .map(|item| {
                if item.is_string() {
                    Ok(item.to_string())
                } else {
                    Err(script_error(
                        "Invalid",
                        &format!("`{key}` must be a list of strings, not one with {}", item.type_name()),
                    ))
                }
            })
            .collect::<ScriptResult<Vec<_>>>()
            .map(Some)
    }
}

/// A duration argument: `"15m"` or a number of seconds, at most a year.
/// `what` names it in errors, as in ``the duration of `sleep` ``.
pub(crate) fn duration(value: &Dynamic, what: &str) -> ScriptResult<Duration> {
    let too_long = || {
        script_error(
            "Invalid",
            &format!("{what} `{value}` is longer than 366 days, the longest duration hubops accepts"),
        )
    };
    if let Ok(secs) = value.as_int() {
        let secs = u64::try_from(secs).map_err(|_| script_error("Invalid", &format!("{what} must not be negative")))?;
        let d = Duration::from_secs(secs);
        return if d > MAX_DURATION { Err(too_long()) } else { Ok(d) };
    }
    if let Ok(f) = value.as_float() {
        if !(f >= 0.0 && f.is_finite()) {
            return Err(script_error("Invalid", &format!("{what} must be a non-negative number of seconds, not {f}")));
        }
        let d = Duration::try_from_secs_f64(f).map_err(|_| too_long())?;
        return if d > MAX_DURATION { Err(too_long()) } else { Ok(d) };
    }
    let text = value.clone().into_immutable_string().map_err(|t| {
        script_error("Invalid", &format!("{what} must be a duration such as \"15m\" or a number of seconds, not {t}"))
    })?;
    let d = crate::duration::parse(&text).map_err(|why| script_error("Invalid", &format!("{what}: {why}")))?;
    if d > MAX_DURATION {
        return Err(too_long());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Dynamic)]) -> rhai::Map {
        pairs.iter().map(|(k, v)| ((*k).into(), v.clone())).collect()
    }

    #[test]
    fn unknown_keys_are_named_with_a_suggestion() {
        let m = map(&[("timout", Dynamic::from("5m"))]);
        let err = Options::new("sh::run", &m, &["cwd", "timeout"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("`sh::run` has no option `timout` (options: cwd, timeout); did you mean `timeout`?"),
            "{err}"
        );
    }

    #[test]
    fn typed_getters_name_the_key() {
        let m = map(&[("wait", Dynamic::from("yes")), ("n", Dynamic::from(3_i64)), ("t", Dynamic::UNIT)]);
        let o = Options::new("f", &m, &["wait", "n", "t"]).unwrap();
        assert!(o.bool("wait").unwrap_err().to_string().contains("`wait` must be true or false, not string"));
        assert_eq!(o.int("n").unwrap(), Some(3));
        assert_eq!(o.duration("t").unwrap(), None, "() is absent");
    }

    #[test]
    fn huge_durations_are_refused_not_panicking() {
        for v in [
            Dynamic::from(1e300_f64),
            Dynamic::from(2e19_f64),
            Dynamic::from(i64::MAX),
            Dynamic::from("99999999999999d"),
        ] {
            let err = duration(&v, "`timeout`").unwrap_err().to_string();
            assert!(err.contains("`timeout`"), "{err}");
        }
        assert!(duration(&Dynamic::from(f64::NAN), "x").is_err());
        assert!(duration(&Dynamic::from(-1.0_f64), "x").is_err());
        assert_eq!(duration(&Dynamic::from(0.5_f64), "x").unwrap(), Duration::from_millis(500));
    }

    proptest::proptest! {
        #[test]
        fn durations_never_panic(f in proptest::num::f64::ANY, i in proptest::num::i64::ANY, s in "\\PC{0,20}") {
            let _ = duration(&Dynamic::from(f), "x");
            let _ = duration(&Dynamic::from(i), "x");
            let _ = duration(&Dynamic::from(s), "x");
        }
    }
}
