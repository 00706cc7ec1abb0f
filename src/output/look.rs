//! [`Look`]: how one job's picture is to come out (its format and which variant it is),
//! and [`VariantCount`], how many different pictures one request asks for.
//!
//! A request for N variants is N jobs; each carries its own look so the engine can make
//! it different (placement, scale and light with the built-in engine, a seed with
//! RunningHub) instead of N copies.

use std::fmt;
use std::str::FromStr;

use super::OutputFormat;

/// Which of a request's variants a job is: 0 is the engine's usual picture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Variant(pub u8);

/// One job's wanted output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Look {
    pub format: OutputFormat,
    pub variant: Variant,
    /// The provider's seed for this job (RunningHub's seed node); `None`: a fresh random
    /// one per task.
    pub seed: Option<u64>,
}

/// How many variants a request asks for: 1 to [`VariantCount::MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VariantCount(u8);

/// A variant count out of range or not a number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} variants: ask for 1 to 4")]
pub struct BadVariantCount(pub String);

impl VariantCount {
    pub const ONE: VariantCount = VariantCount(1);
    pub const MAX: u8 = 4;

    pub fn new(n: u8) -> Result<Self, BadVariantCount> {
        if (1..=Self::MAX).contains(&n) { Ok(Self(n)) } else { Err(BadVariantCount(n.to_string())) }
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// The variants of one request, in order.
    pub fn variants(self) -> impl Iterator<Item = Variant> {
        (0..self.0).map(Variant)
    }
}

impl Default for VariantCount {
    fn default() -> Self {
        Self::ONE
    }
}

impl fmt::Display for VariantCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for VariantCount {
    type Err = BadVariantCount;

    fn from_str(s: &str) -> Result<Self, BadVariantCount> {
        s.trim()
            .parse::<u8>()
            .ok()
            .and_then(|n| Self::new(n).ok())
            .ok_or_else(|| BadVariantCount(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_to_four_variants() {
        assert_eq!("3".parse::<VariantCount>().map(VariantCount::get), Ok(3));
        for bad in ["0", "5", "9", "-1", "two", ""] {
            assert!(bad.parse::<VariantCount>().is_err(), "{bad}");
        }
        assert_eq!(VariantCount::new(2).unwrap().variants().collect::<Vec<_>>(), [Variant(0), Variant(1)]);
    }
}
