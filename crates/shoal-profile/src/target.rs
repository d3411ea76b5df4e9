//! Choices around a capture (pure): which instance of a service is the busiest, and
//! the request rate and p99 of the capture's window from per-second metrics.

/// The busiest of `candidates` (instance id, CPU in cores over the last seconds; `None`
/// when not measured yet): the most CPU, the first listed on a tie or without numbers.
pub fn busiest<'a>(candidates: &[(&'a str, Option<f64>)]) -> Option<&'a str> {
    let mut best: Option<(&str, f64)> = None;
    for &(id, cpu) in candidates {
        let cpu = cpu.filter(|c| c.is_finite()).unwrap_or(-1.0);
        if best.is_none_or(|(_, b)| cpu > b) {
            best = Some((id, cpu));
        }
    }
    best.map(|(id, _)| id)
}

/// Requests per second over the seconds `[from, to)`, from per-second counts
/// (`(unix second, count)`; a second without a point had none).
pub fn rate(counts: &[(u64, f64)], from: u64, to: u64) -> Option<f64> {
    let seconds = to.checked_sub(from).filter(|s| *s > 0)?;
    let n: f64 = counts
        .iter()
        .filter(|(t, _)| (from..to).contains(t))
        .map(|(_, n)| n)
        .sum();
    Some(n / seconds as f64)
}

/// The p99 over `[from, to)`: each second's p99 weighted by that second's count (the
/// metrics store's own way of merging percentiles); `None` without requests.
pub fn p99(p99s: &[(u64, f64)], counts: &[(u64, f64)], from: u64, to: u64) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0.0);
    for &(t, v) in p99s.iter().filter(|(t, _)| (from..to).contains(t)) {
        let w = counts
            .iter()
            .find(|(c, _)| *c == t)
            .map_or(0.0, |(_, w)| *w);
        sum += v * w;
        n += w;
    }
    (n > 0.0).then(|| sum / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_has_the_most_cpu() {
        assert_eq!(
            busiest(&[("a", Some(0.1)), ("b", Some(0.9)), ("c", None)]),
            Some("b")
        );
        assert_eq!(busiest(&[("a", None), ("b", None)]), Some("a"));
        assert_eq!(busiest(&[("a", Some(0.5)), ("b", Some(0.5))]), Some("a"));
        assert_eq!(
            busiest(&[("a", Some(f64::NAN)), ("b", Some(0.0))]),
            Some("b")
        );
        assert_eq!(busiest(&[]), None);
    }

    #[test]
    fn the_window_counts_only_its_own_seconds() {
        let counts = [(9, 100.0), (10, 10.0), (11, 30.0), (12, 1000.0)];
        assert_eq!(rate(&counts, 10, 12), Some(20.0));
        assert_eq!(rate(&counts, 20, 22), Some(0.0));
        assert_eq!(rate(&counts, 12, 12), None);
        let p = [(9, 9.0), (10, 0.010), (11, 0.020), (12, 5.0)];
        let got = p99(&p, &counts, 10, 12).unwrap_or_default();
        assert!((got - 0.0175).abs() < 1e-9, "{got}");
        assert_eq!(p99(&p, &counts, 20, 22), None);
    }
}
