//! Value parsers for flags whose bounds clap's own parsers cannot state (floats, a
//! minimum per flag): a value out of bounds is a bad command line (exit 2), not a panic
//! or an empty run later.

use std::fmt::Display;
use std::str::FromStr;

/// A whole number of at least `MIN`.
pub fn at_least<T: FromStr + PartialOrd + From<u8>, const MIN: u8>(s: &str) -> Result<T, String> {
    match s.parse::<T>() {
        Ok(v) if v >= T::from(MIN) => Ok(v),
        _ => Err(format!("expected a whole number of at least {MIN}")),
    }
}

/// A number for which `ok` holds (NaN fails every comparison, so it never does); `what`
/// names the bound in the error ("a probability in 0..1").
pub fn number<T>(s: &str, ok: impl Fn(T) -> bool, what: &str) -> Result<T, String>
where
    T: FromStr + Copy,
    T::Err: Display,
{
    let v: T = s.parse().map_err(|e: T::Err| e.to_string())?;
    if ok(v) {
        Ok(v)
    } else {
        Err(format!("{s} is not {what}"))
    }
}

/// A probability in 0..=1.
pub fn probability(s: &str) -> Result<f32, String> {
    number(
        s,
        |p: f32| (0.0..=1.0).contains(&p),
        "a probability in 0..1",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_and_nan_is_refused() {
        assert_eq!(at_least::<usize, 2>("2"), Ok(2));
        assert!(at_least::<usize, 2>("1").is_err());
        assert_eq!(probability("0.9"), Ok(0.9));
        for bad in ["1.5", "NaN", "-0.1", "x"] {
            assert!(probability(bad).is_err(), "{bad}");
        }
    }
}
