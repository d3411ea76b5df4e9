//! The flame graph of a profile: an interactive SVG drawn by inferno from the folded
//! stacks, with colours from the function names so the same profile draws the same.

use inferno::flamegraph::{self, Options};

use crate::folded::Folded;

/// The SVG of `stacks` under `title` (and `subtitle`, e.g. the sampler and rate).
pub fn svg(stacks: &Folded, title: &str, subtitle: &str) -> std::io::Result<Vec<u8>> {
    let mut options = Options::default();
    options.title = title.to_string();
    options.subtitle = Some(subtitle.to_string());
    options.count_name = "samples".to_string();
    options.hash = true;
    options.deterministic = true;
    let lines = stacks.lines();
    let mut out = Vec::new();
    if lines.is_empty() {
        // inferno refuses an empty input; an idle instance still gets a (blank) graph.
        flamegraph::from_lines(
            &mut options,
            ["[no CPU samples: the instance was idle] 1"],
            &mut out,
        )?;
    } else {
        flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graph_names_the_functions_and_is_the_same_each_time() {
        let stacks = Folded::parse("main;serve;citation_rank 90\nmain;serve;parse 10\n");
        let a = svg(&stacks, "publications", "perf, 99 Hz").unwrap_or_default();
        let text = String::from_utf8_lossy(&a);
        assert!(text.starts_with("<?xml"), "{}", &text[..40.min(text.len())]);
        assert!(text.contains("citation_rank") && text.contains("publications"));
        assert_eq!(
            svg(&stacks, "publications", "perf, 99 Hz").unwrap_or_default(),
            a
        );
    }

    #[test]
    fn an_idle_profile_still_draws() {
        let a = svg(&Folded::default(), "idle", "").unwrap_or_default();
        assert!(String::from_utf8_lossy(&a).contains("idle"));
    }
}
