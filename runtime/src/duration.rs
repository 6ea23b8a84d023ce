//! Durations as operators write them in runbooks and on the command line:
//! `90s`, `15m`, `1h30m`, `2h`, `500ms`, or a bare number of seconds.
//! Parsing only; clocks live in `run::clock`.

use std::time::Duration;

/// Parses `15m`, `1h30m`, `90s`, `250ms`, `1d`, or a bare number of seconds.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an empty duration".into());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        // A whole or decimal number (`29.5s`, as `format` writes it), then a unit.
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        if digits == 0 || rest[..digits].matches('.').count() > 1 || rest.starts_with('.') {
            return Err(format!("`{text}` is not a duration (examples: 90s, 15m, 1h30m)"));
        }
        let number = &rest[..digits];
        let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let seconds = match unit {
            "ms" => value / 1000.0,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            "d" => value * 86_400.0,
            "" => return Err(format!("`{text}` needs a unit after {number} (ms, s, m, h or d)")),
            other => return Err(format!("`{other}` in `{text}` is not a unit (ms, s, m, h or d)")),
        };
        let part = Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is too large for a duration"))?;
        total = total.checked_add(part).ok_or_else(|| format!("`{text}` is too large for a duration"))?;
    }
    Ok(total)
}

/// Formats a duration the way [`parse`] reads it back, to the millisecond:
/// `1h30m`, `15m`, `2.5s`, `1m29.25s`, `250ms` (saved worlds rely on the
/// round trip).
pub(crate) fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let frac = ms % 1000;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if frac > 0 {
        let digits = format!("{frac:03}");
        out.push_str(&format!("{s}.{}s", digits.trim_end_matches('0')));
    } else if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Wall-clock time as a person reads it after a run: `12 ms`, `4.2 s`,
/// `3m5s` (whole seconds past a minute).
pub(crate) fn format_wall(d: Duration) -> String {
    match d.as_millis() {
        ms @ 0..1000 => format!("{ms} ms"),
        ms @ 1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format(Duration::from_secs(d.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_time_reads_as_a_person_says_it() {
        assert_eq!(format_wall(Duration::from_millis(12)), "12 ms");
        assert_eq!(format_wall(Duration::from_millis(4_240)), "4.2 s");
        assert_eq!(format_wall(Duration::from_millis(185_900)), "3m5s");
    }

    #[test]
    fn parses_what_operators_write() {
        assert_eq!(parse("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("15m"), Ok(Duration::from_mins(15)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_mins(90)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse(" 2d "), Ok(Duration::from_hours(48)));
    }

    #[test]
    fn rejects_nonsense_with_a_reason() {
        assert_eq!(parse("15"), Ok(Duration::from_secs(15)));
        assert!(parse("15x").unwrap_err().contains("`x` in `15x` is not a unit"));
        assert!(parse("m").unwrap_err().contains("is not a duration"));
        assert!(parse("").is_err());
        assert!(parse("1h5").unwrap_err().contains("needs a unit"));
        assert!(parse("99999999999999999999s").unwrap_err().contains("too large"));
    }

    #[test]
    fn formats_round_trip() {
        for text in ["15m", "1h30m", "2h", "45s", "1h0m5s"] {
            let d = parse(text).unwrap();
            assert_eq!(parse(&format(d)).unwrap(), d);
        }
        assert_eq!(format(Duration::from_mins(90)), "1h30m");
        assert_eq!(format(Duration::from_millis(2500)), "2.5s");
        assert_eq!(format(Duration::from_millis(89_250)), "1m29.25s");
        assert_eq!(parse("29.5s"), Ok(Duration::from_millis(29_500)));
    }

    proptest::proptest! {
        #[test]
        fn every_formatted_duration_parses_back(ms in 0_u64..10_000_000_000) {
            let d = Duration::from_millis(ms);
            proptest::prop_assert_eq!(parse(&format(d)), Ok(d));
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,24}") {
            let _ = parse(&text);
        }
    }
}
