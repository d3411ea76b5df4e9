//! The waterfall: one text line per span, indented by depth, with a bar placed on
//! the trace's time axis. Pure; `shoal trace ID` prints it.

use crate::tree::{Trace, TraceSpan};

/// A width that fits a usual terminal.
pub const DEFAULT_WIDTH: usize = 100;

/// Column widths grow with their content up to these caps; the bar takes the rest.
const LABEL_MAX: usize = 40;
const VERSION_MAX: usize = 8;
const INSTANCE_MAX: usize = 22;
const STATUS: usize = 4;
const DURATION: usize = 8;
const MIN_BAR: usize = 20;

/// `850µs`, `12.3ms`, `1.52s`.
pub fn format_duration(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1_000.0),
        _ => format!("{:.2}s", us as f64 / 1_000_000.0),
    }
}

/// Cuts `s` to `width` characters, marking a cut with `…`.
fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return format!("{s:<width$}");
    }
    let cut: String = s.chars().take(width.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// The bar of a span starting `offset` µs into a trace of `total` µs, lasting `dur` µs.
fn bar(offset: u64, dur: u64, total: u64, width: usize) -> String {
    let total = u128::from(total.max(1));
    let w = width as u128;
    let from = (u128::from(offset) * w / total).min(w.saturating_sub(1)) as usize;
    let len = (u128::from(dur) * w).div_ceil(total).max(1) as usize;
    let to = (from + len).min(width);
    let mut out = String::with_capacity(width * 3);
    out.extend(std::iter::repeat_n(' ', from));
    out.extend(std::iter::repeat_n('█', to - from));
    out.extend(std::iter::repeat_n(' ', width - to));
    out
}

/// `caller→service METHOD path`, indented two spaces per level (at most 8 levels).
fn label(ts: &TraceSpan) -> String {
    let s = &ts.span;
    let indent = "  ".repeat(ts.depth.min(8));
    format!("{indent}{}→{} {}", s.caller, s.service, s.name())
}

/// The widest cell of a column (header included), capped.
fn column<'a>(header: &str, cells: impl Iterator<Item = &'a str>, cap: usize) -> usize {
    cells
        .map(|c| c.chars().count())
        .fold(header.len(), usize::max)
        .min(cap)
}

/// Renders `trace` in about `width` columns (the bar never gets narrower than 20).
pub fn render(trace: &Trace, width: usize) -> String {
    let labels: Vec<String> = trace.spans.iter().map(label).collect();
    let label_w = column("SPAN", labels.iter().map(String::as_str), LABEL_MAX);
    let version_w = column(
        "VER",
        trace.spans.iter().map(|s| s.span.version.as_str()),
        VERSION_MAX,
    );
    let instance_w = column(
        "INSTANCE",
        trace
            .spans
            .iter()
            .map(|s| s.span.instance.as_deref().unwrap_or("-")),
        INSTANCE_MAX,
    );
    let fixed = label_w + version_w + instance_w + STATUS + DURATION + 5 + 2;
    let bar_w = width.saturating_sub(fixed).max(MIN_BAR);
    let total = trace.duration_us;
    let mut out = format!(
        "trace {}  {} span{}  {}  {}{}\n",
        trace.trace_id,
        trace.spans.len(),
        if trace.spans.len() == 1 { "" } else { "s" },
        format_duration(total),
        trace.services.join(", "),
        if trace.error { "  ERROR" } else { "" },
    );
    let end = format_duration(total);
    let axis = format!(
        "0{}{end}",
        " ".repeat((bar_w + 2).saturating_sub(1 + end.chars().count()))
    );
    out.push_str(&format!(
        "{} {} {} {} {:>DURATION$} {axis}\n",
        fit("SPAN", label_w),
        fit("VER", version_w),
        fit("INSTANCE", instance_w),
        fit("CODE", STATUS),
        "DURATION",
    ));
    for (ts, label) in trace.spans.iter().zip(&labels) {
        let s = &ts.span;
        let offset = s.start_us.saturating_sub(trace.start_us);
        let mut line = format!(
            "{} {} {} {} {:>DURATION$} |{}|",
            fit(label, label_w),
            fit(&s.version, version_w),
            fit(s.instance.as_deref().unwrap_or("-"), instance_w),
            fit(&s.status.to_string(), STATUS),
            format_duration(s.duration_us),
            bar(offset, s.duration_us, total, bar_w),
        );
        if let Some(r) = &s.reason {
            line.push_str(&format!(" {r}"));
        }
        if s.retries > 0 {
            line.push_str(&format!(" retries={}", s.retries));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::test_span;
    use crate::tree::assemble;

    const T: &str = "0af7651916cd43dd8448eb211c80319c";

    fn demo() -> Trace {
        let mut root = test_span(T, "a", Some("outside"), 1_000, 10_000);
        root.service = "profile".into();
        root.path = "/profile/ada".into();
        root.instance = Some("profile-1-abcdef".into());
        let mut b = test_span(T, "b", Some("a"), 2_000, 3_000);
        b.caller = "profile".into();
        b.service = "publications".into();
        b.path = "/publications/ada".into();
        b.version = "3".into();
        let mut c = test_span(T, "c", Some("a"), 6_000, 5_000);
        c.caller = "profile".into();
        c.service = "institution".into();
        c.status = 503;
        c.reason = Some("no-healthy-instance".into());
        c.instance = None;
        assemble(vec![b, c, root]).expect("trace")
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(850), "850µs");
        assert_eq!(format_duration(12_345), "12.3ms");
        assert_eq!(format_duration(1_520_000), "1.52s");
    }

    #[test]
    fn bars_sit_on_the_time_axis() {
        assert_eq!(bar(0, 100, 100, 10), "██████████");
        assert_eq!(bar(50, 10, 100, 10), "     █    ");
        assert_eq!(bar(99, 0, 100, 10), "         █", "never empty");
        assert_eq!(bar(0, 0, 0, 4), "█   ", "a zero-length trace");
    }

    #[test]
    fn the_waterfall_shows_every_span_indented() {
        let text = render(&demo(), DEFAULT_WIDTH);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[0].starts_with(&format!("trace {T}  3 spans  10.0ms")),
            "{text}"
        );
        assert!(lines[0].ends_with("ERROR"), "{text}");
        assert!(
            lines[2].starts_with("gateway→profile GET /profile/ada"),
            "{text}"
        );
        assert!(
            lines[3].starts_with("  profile→publications GET /publication…"),
            "{text}"
        );
        assert!(lines[4].starts_with("  profile→institution"), "{text}");
        assert!(lines[4].contains(" 503 ") && lines[4].ends_with("no-healthy-instance"));
        for l in &lines[1..] {
            assert!(l.chars().count() <= DEFAULT_WIDTH + 25, "{l}");
        }
        // The root spans the whole axis; the children sit inside it, in time order.
        let bar_of = |l: &str| l.split('|').nth(1).unwrap_or("").to_string();
        assert!(!bar_of(lines[2]).contains(' '));
        let (b, c) = (bar_of(lines[3]), bar_of(lines[4]));
        assert!(b.find('█') < c.find('█'), "{text}");
        assert_eq!(bar_of(lines[2]).chars().count(), b.chars().count());
    }

    #[test]
    fn narrow_widths_keep_a_usable_bar() {
        let text = render(&demo(), 20);
        let line = text.lines().nth(2).unwrap_or("");
        assert_eq!(
            line.split('|').nth(1).map(|b| b.chars().count()),
            Some(MIN_BAR)
        );
    }
}
