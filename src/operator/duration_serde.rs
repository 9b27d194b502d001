//! Durations in configuration files: `"250ms"`, `"1.5s"`, `"3 s"` (HOCON style),
//! serde's own `{ secs, nanos }` form, or `"never"` for `Duration::MAX`.
//!
//! Used as `#[serde(with = "crate::operator::duration_serde")]` on every `Duration`
//! field of a config. In a human-readable format (JSON, TOML, YAML) a duration is
//! written as a string in the largest unit that keeps it exact (`"1s"`,
//! `"250ms"`, `"1500us"`, `"7ns"`; `"never"` for `Duration::MAX`) and read from such
//! a string or from serde's `{ "secs": .., "nanos": .. }` map. In a binary format
//! (bincode, postcard) it is serde's standard `Duration` form both ways.
//!
//! A bare number is refused: its unit would be a guess (Akka reads milliseconds,
//! Cassandra's `*_in_ms` keys too, TOML users often mean seconds).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Units accepted after the number, with their length in nanoseconds. Akka's
/// (HOCON's) spellings are included, so `"100 ms"` and `"3 seconds"` both read.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("nanos", 1),
    ("nanosecond", 1),
    ("nanoseconds", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("micros", 1_000),
    ("microsecond", 1_000),
    ("microseconds", 1_000),
    ("ms", 1_000_000),
    ("millis", 1_000_000),
    ("millisecond", 1_000_000),
    ("milliseconds", 1_000_000),
    ("s", NANOS_PER_SEC),
    ("sec", NANOS_PER_SEC),
    ("secs", NANOS_PER_SEC),
    ("second", NANOS_PER_SEC),
    ("seconds", NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("min", 60 * NANOS_PER_SEC),
    ("mins", 60 * NANOS_PER_SEC),
    ("minute", 60 * NANOS_PER_SEC),
    ("minutes", 60 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("hour", 3_600 * NANOS_PER_SEC),
    ("hours", 3_600 * NANOS_PER_SEC),
    ("d", 86_400 * NANOS_PER_SEC),
    ("day", 86_400 * NANOS_PER_SEC),
    ("days", 86_400 * NANOS_PER_SEC),
];

/// The text form of `d`: the largest of s, ms, us, ns that keeps it exact;
/// `"never"` for `Duration::MAX`.
pub(crate) fn format(d: Duration) -> String {
    if d == Duration::MAX {
        return "never".to_owned();
    }
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_owned();
    }
    for (unit, len) in [("s", NANOS_PER_SEC), ("ms", 1_000_000), ("us", 1_000)] {
        if ns.is_multiple_of(len) {
            return format!("{}{unit}", ns / len);
        }
    }
    format!("{ns}ns")
}

/// Parses the text form: a non-negative decimal number, optional spaces, a unit
/// (see [`UNITS`]); or `"never"`. Exact: a value finer than a nanosecond, or beyond
/// `Duration::MAX`, is an error, never rounded.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "never" {
        return Ok(Duration::MAX);
    }
    // Bounded work: no valid duration is longer than this.
    if text.len() > 64 {
        return Err("a duration is at most 64 characters".to_owned());
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim_start();
    if number.is_empty() {
        return Err(format!(
            "`{text}` is not a duration: expected a non-negative number and a unit, e.g. \"250ms\" or \"1.5s\""
        ));
    }
    if unit.is_empty() {
        return Err(format!(
            "`{text}` has no unit: write e.g. \"{text}ms\" or \"{text}s\""
        ));
    }
    let Some(&(_, len)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(format!(
            "unknown unit `{unit}` in `{text}`: use ns, us, ms, s, m, h or d"
        ));
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(format!("`{number}` is not a number"));
    }
    let overflow = || format!("`{text}` is longer than the longest duration");
    let mut ns: u128 = 0;
    for digit in whole.bytes() {
        ns = ns
            .checked_mul(10)
            .and_then(|n| n.checked_add(u128::from(digit - b'0')))
            .ok_or_else(overflow)?;
    }
    ns = ns.checked_mul(len).ok_or_else(overflow)?;
    // The fraction, exactly: digit k (from 1) is worth len / 10^k nanoseconds.
    let mut scale = len;
    for digit in fraction.bytes() {
        let d = u128::from(digit - b'0');
        if !scale.is_multiple_of(10) {
            if d != 0 {
                return Err(format!("`{text}` is finer than a nanosecond"));
            }
            continue;
        }
        scale /= 10;
        ns = ns.checked_add(d * scale).ok_or_else(overflow)?;
    }
    let secs = u64::try_from(ns / NANOS_PER_SEC).map_err(|_| overflow())?;
    Ok(Duration::new(secs, (ns % NANOS_PER_SEC) as u32))
}

/// Serializes as [`format`] in human-readable formats, as serde's `Duration`
/// otherwise.
pub(crate) fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&format(*d))
    } else {
        d.serialize(serializer)
    }
}

/// Reads a string ([`parse`]) or serde's `{ secs, nanos }` map in human-readable
/// formats; serde's `Duration` otherwise.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    if deserializer.is_human_readable() {
        deserializer.deserialize_any(DurationVisitor)
    } else {
        Duration::deserialize(deserializer)
    }
}

struct DurationVisitor;

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"250ms\", \"1.5s\", \"never\", or { secs, nanos }")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "a bare number ({v}) is not a duration: write e.g. \"{v}ms\" or \"{v}s\""
        )))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "a bare number ({v}) is not a duration: write a non-negative number and a unit, e.g. \"250ms\""
        )))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "a bare number ({v}) is not a duration: write e.g. \"{v}s\""
        )))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Duration, A::Error> {
        Duration::deserialize(de::value::MapAccessDeserializer::new(map))
    }
}

/// The same for `Option<Duration>` (`None` is absent or `null`).
pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        d: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => serializer.serialize_some(&With(*d)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<With>::deserialize(deserializer)?.map(|w| w.0))
    }

    struct With(Duration);

    impl Serialize for With {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            super::serialize(&self.0, serializer)
        }
    }

    impl<'de> Deserialize<'de> for With {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            super::deserialize(deserializer).map(With)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_fractions_exactly() {
        let ok = [
            ("250ms", Duration::from_millis(250)),
            ("1.5s", Duration::from_millis(1500)),
            ("3 s", Duration::from_secs(3)),
            ("100 ms", Duration::from_millis(100)),
            ("2 minutes", Duration::from_secs(120)),
            ("0.000000001s", Duration::from_nanos(1)),
            ("7ns", Duration::from_nanos(7)),
            (".5s", Duration::from_millis(500)),
            ("1.10us", Duration::from_nanos(1100)),
            ("0s", Duration::ZERO),
            ("never", Duration::MAX),
            ("1h", Duration::from_secs(3600)),
        ];
        for (text, want) in ok {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "ms",
            "1",
            "1.5",
            "-1s",
            "1.2.3s",
            "1 parsec",
            "0.5ns",
            "1e3ms",
            ".s",
            "99999999999999999999999999999999999999999s",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn format_round_trips() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_micros(1500),
            Duration::from_millis(250),
            Duration::from_secs(86_400),
            Duration::new(u64::MAX, 999_999_998),
            Duration::MAX,
        ] {
            assert_eq!(parse(&format(d)), Ok(d), "{}", format(d));
        }
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format(Duration::from_secs(3)), "3s");
    }

    proptest::proptest! {
        /// Any text: an answer, never a panic; a long text is refused unread.
        #[test]
        fn parse_never_panics(text in "\\PC{0,80}") {
            let _ = parse(&text);
        }

        /// Digits, dots, spaces and unit letters: the inputs that get furthest.
        #[test]
        fn parse_near_misses(text in "[0-9. ]{0,30}(ns|us|µs|ms|s|m|h|d|x)?") {
            if let Ok(d) = parse(&text) {
                // Whatever parses is printed back to the same value.
                proptest::prop_assert_eq!(parse(&format(d)), Ok(d));
            }
        }

        /// Every duration prints and parses back exactly.
        #[test]
        fn round_trip(secs in proptest::prelude::any::<u64>(), nanos in 0u32..1_000_000_000) {
            let d = Duration::new(secs, nanos);
            proptest::prop_assert_eq!(parse(&format(d)), Ok(d));
        }

        /// A decimal number of seconds reads as the exact integer arithmetic says.
        #[test]
        fn decimal_seconds(whole in 0u64..1_000_000, frac in 0u32..1_000_000_000) {
            let text = std::format!("{whole}.{frac:09}s");
            proptest::prop_assert_eq!(parse(&text), Ok(Duration::new(whole, frac)));
        }
    }
}
