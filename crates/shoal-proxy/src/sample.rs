//! Which traces are sampled (the W3C `sampled` flag the proxy sends on and
//! export honours): OpenTelemetry's samplers, named as `OTEL_TRACES_SAMPLER`
//! and `OTEL_TRACES_SAMPLER_ARG` name them. A pure decision on the trace id.

/// A sampler: keep the caller's decision (parent-based) or decide by the
/// trace id against a ratio. The default is OpenTelemetry's,
/// `parentbased_always_on`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    /// A request whose `traceparent` carries a decision keeps it.
    pub parent_based: bool,
    /// The share of traces sampled when deciding, 0.0 to 1.0.
    pub ratio: f64,
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler {
            parent_based: true,
            ratio: 1.0,
        }
    }
}

/// A sampler name or ratio that is not one of OpenTelemetry's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamplerError {
    #[error(
        "unknown sampler `{0}`: use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
    )]
    UnknownSampler(String),
    #[error("sampler ratio `{0}` is not a number from 0 to 1")]
    BadRatio(String),
}

impl Sampler {
    /// The sampler `name` (with `arg`, the ratio of the `traceidratio`
    /// samplers, 1.0 when absent) as `OTEL_TRACES_SAMPLER` names it; no name
    /// is the default.
    pub fn from_otel(name: Option<&str>, arg: Option<&str>) -> Result<Sampler, SamplerError> {
        let ratio = || match arg.map(str::trim).filter(|a| !a.is_empty()) {
            None => Ok(1.0),
            Some(a) => a
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| SamplerError::BadRatio(a.to_string())),
        };
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        let (parent_based, ratio) = match name.unwrap_or("parentbased_always_on") {
            "always_on" => (false, 1.0),
            "always_off" => (false, 0.0),
            "traceidratio" => (false, ratio()?),
            "parentbased_always_on" => (true, 1.0),
            "parentbased_always_off" => (true, 0.0),
            "parentbased_traceidratio" => (true, ratio()?),
            other => return Err(SamplerError::UnknownSampler(other.to_string())),
        };
        Ok(Sampler {
            parent_based,
            ratio,
        })
    }

    /// Whether a trace is sampled, given the caller's decision when it sent
    /// one; `trace_low` gives the trace id's last 8 bytes (big-endian), asked
    /// for only when the ratio decides.
    pub fn sampled(&self, caller: Option<bool>, trace_low: impl FnOnce() -> u64) -> bool {
        match caller {
            Some(decided) if self.parent_based => decided,
            _ => self.by_ratio(trace_low),
        }
    }

    /// OpenTelemetry's `TraceIdRatioBased` (as its Go SDK computes it): the
    /// trace id's last 8 bytes, shifted right by one, below `ratio` × 2⁶³. Every
    /// hop with the same ratio decides the same for a trace.
    fn by_ratio(&self, trace_low: impl FnOnce() -> u64) -> bool {
        if self.ratio >= 1.0 {
            return true;
        }
        // Exact for every ratio a float can say; 2⁶³ itself is not reached (ratio < 1).
        let bound = (self.ratio * 9_223_372_036_854_775_808.0) as u64;
        (trace_low() >> 1) < bound
    }

    /// A short description, for logs and `--help`-style messages.
    pub fn describe(&self) -> String {
        let base = match self.ratio {
            r if r >= 1.0 => "always_on".to_string(),
            r if r <= 0.0 => "always_off".to_string(),
            r => format!("traceidratio {r}"),
        };
        if self.parent_based {
            format!("parentbased_{base}")
        } else {
            base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trace id's last 8 bytes, as `sampled` asks for them.
    fn id(n: u128) -> impl FnOnce() -> u64 + Copy {
        move || n as u64
    }

    #[test]
    fn otel_names_and_ratios() {
        let s = |n: Option<&str>, a: Option<&str>| Sampler::from_otel(n, a);
        assert_eq!(s(None, None), Ok(Sampler::default()));
        assert_eq!(
            s(Some("traceidratio"), Some(" 0.25 ")),
            Ok(Sampler {
                parent_based: false,
                ratio: 0.25
            })
        );
        assert_eq!(
            s(Some("parentbased_traceidratio"), None).map(|x| x.ratio),
            Ok(1.0)
        );
        assert_eq!(s(Some("always_off"), Some("0.5")).map(|x| x.ratio), Ok(0.0));
        assert_eq!(
            s(Some("jaeger_remote"), None),
            Err(SamplerError::UnknownSampler("jaeger_remote".into()))
        );
        for bad in ["1.5", "-0.1", "half", "NaN"] {
            assert_eq!(
                s(Some("traceidratio"), Some(bad)),
                Err(SamplerError::BadRatio(bad.into()))
            );
        }
    }

    #[test]
    fn parent_based_keeps_the_callers_decision_others_decide_alone() {
        let off = Sampler::from_otel(Some("parentbased_always_off"), None).expect("sampler");
        assert!(off.sampled(Some(true), id(7)));
        assert!(!off.sampled(Some(false), id(7)));
        assert!(!off.sampled(None, id(7)));
        let on = Sampler::from_otel(Some("always_on"), None).expect("sampler");
        assert!(on.sampled(Some(false), id(7)));
        let never = Sampler::from_otel(Some("always_off"), None).expect("sampler");
        assert!(!never.sampled(Some(true), id(7)));
    }

    #[test]
    fn a_ratio_samples_its_share_the_same_way_every_time() {
        let s = Sampler::from_otel(Some("traceidratio"), Some("0.1")).expect("sampler");
        // Trace ids spread like random ones (a multiplicative hash of 0..n).
        let ids: Vec<u128> = (0..20_000u128)
            .map(|n| n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
            .collect();
        let kept = ids.iter().filter(|&&t| s.sampled(None, id(t))).count();
        assert!((1_800..=2_200).contains(&kept), "{kept} of 20000 at 0.1");
        assert!(ids
            .iter()
            .all(|&t| s.sampled(None, id(t)) == s.sampled(None, id(t))));
        // The boundary: the last 8 bytes >> 1 against ratio × 2^63.
        let half = Sampler::from_otel(Some("traceidratio"), Some("0.5")).expect("sampler");
        assert!(half.sampled(None, id((1u128 << 63) - 2)));
        assert!(!half.sampled(None, id(1u128 << 63)));
        assert!(!half.sampled(None, id(u128::MAX)));
    }
}
