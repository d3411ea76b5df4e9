//! Why a StatsD value is refused rather than stored (no series ever holds an infinity or NaN), with counts.

use crate::line::LineError;

/// Why a value was refused; the series keeps the value it had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The value sent is infinite or NaN (`inf`, `NaN`, `1e999`).
    NonFinite,
    /// The sample rate is outside (0, 1], or so small that its inverse overflows.
    BadRate,
    /// Divided by its rate, or added to the series' total, the value would overflow.
    Overflow,
}

impl Refusal {
    pub const ALL: [Refusal; 3] = [Refusal::NonFinite, Refusal::BadRate, Refusal::Overflow];

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NonFinite => "non_finite",
            Refusal::BadRate => "bad_rate",
            Refusal::Overflow => "overflow",
        }
    }

    /// The refusal a parser error stands for, if it is one (the line is also a bad line).
    pub fn of_line_error(e: LineError) -> Option<Refusal> {
        match e {
            LineError::NonFinite => Some(Refusal::NonFinite),
            LineError::BadSampleRate => Some(Refusal::BadRate),
            _ => None,
        }
    }
}

/// Refusals counted by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Refusals {
    pub non_finite: u64,
    pub bad_rate: u64,
    pub overflow: u64,
}

impl Refusals {
    pub fn count(&mut self, r: Refusal) {
        *self.slot(r) += 1;
    }

    pub fn get(&self, r: Refusal) -> u64 {
        match r {
            Refusal::NonFinite => self.non_finite,
            Refusal::BadRate => self.bad_rate,
            Refusal::Overflow => self.overflow,
        }
    }

    pub fn add(&mut self, other: &Refusals) {
        for r in Refusal::ALL {
            *self.slot(r) += other.get(r);
        }
    }

    fn slot(&mut self, r: Refusal) -> &mut u64 {
        match r {
            Refusal::NonFinite => &mut self.non_finite,
            Refusal::BadRate => &mut self.bad_rate,
            Refusal::Overflow => &mut self.overflow,
        }
    }
}

/// `v` if finite, else an overflow refusal (for sums and quotients of finite values).
pub fn finite(v: f64) -> Result<f64, Refusal> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Refusal::Overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let mut a = Refusals::default();
        a.count(Refusal::Overflow);
        a.count(Refusal::BadRate);
        let mut b = Refusals::default();
        b.count(Refusal::Overflow);
        b.add(&a);
        assert_eq!((b.non_finite, b.bad_rate, b.overflow), (0, 1, 2));
        assert_eq!(finite(1e308 + 1e308), Err(Refusal::Overflow));
        assert_eq!(finite(f64::NAN), Err(Refusal::Overflow));
        assert_eq!(finite(1.5), Ok(1.5));
        assert_eq!(
            Refusal::of_line_error(LineError::NonFinite),
            Some(Refusal::NonFinite)
        );
        assert_eq!(Refusal::of_line_error(LineError::NoType), None);
    }
}
