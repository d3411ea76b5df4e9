//! [`FlagsRoute`]: the flags of the routing table, compiled once per change of the
//! flags (not per rebuild of the table) with their counters carried over.

use std::collections::BTreeMap;

use shoal_flags::{Flag, FlagSet};

/// The stored flags and the set compiled from them; shared by consecutive tables
/// while the flags stay the same.
#[derive(Debug, Default)]
pub struct FlagsRoute {
    /// The flags as stored, by name.
    pub defs: BTreeMap<String, Flag>,
    /// Compiled for the request path; its counters feed
    /// `shoal_flag_evaluations_total`.
    pub set: FlagSet,
}

impl FlagsRoute {
    /// Compiles `defs`, continuing the counts of `previous`.
    pub fn new(defs: BTreeMap<String, Flag>, previous: &FlagsRoute) -> Self {
        let set = FlagSet::new(defs.values());
        set.tally().carry_from(previous.set.tally());
        FlagsRoute { defs, set }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_carry_over_and_the_buffer_fits_the_longest_values() {
        let mut a = Flag::new("a");
        a.enabled = true;
        let mut defs = BTreeMap::new();
        defs.insert("a".to_owned(), a.clone());
        let first = FlagsRoute::new(defs.clone(), &FlagsRoute::default());
        assert_eq!(
            first.set.written_len(),
            ("X-Flag-a: 1\r\n".len(), "a=1".len())
        );
        first.set.evaluate(0, &Path, None);
        let mut b = Flag::new("b");
        b.variants = vec![
            shoal_flags::Variant {
                name: "blue".into(),
                weight: 1,
            },
            shoal_flags::Variant {
                name: "green".into(),
                weight: 1,
            },
        ];
        defs.insert("b".to_owned(), b);
        let second = FlagsRoute::new(defs, &first);
        assert_eq!(second.set.tally().count("a", "1"), 1);
        assert_eq!(
            second.set.written_len(),
            (
                "X-Flag-a: 1\r\n".len() + "X-Flag-b: green\r\n".len(),
                "a=1,b=green".len()
            )
        );
    }

    struct Path;
    impl shoal_flags::Request for Path {
        fn header(&self, _: &str) -> Option<&str> {
            None
        }
        fn path(&self) -> &str {
            "/"
        }
    }
}
