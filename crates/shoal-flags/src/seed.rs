//! Seeding (pure): what `shoal up` / `shoal deploy` write so the store follows the file's `[flags.*]`.

use std::collections::BTreeMap;

use shoal_spec::FlagSpec;

use crate::spec::from_spec;
use crate::{Flag, Origin};

/// One write of a seed.
#[derive(Debug, Clone, PartialEq)]
pub enum SeedOp {
    /// Write this flag.
    Put(Box<Flag>),
    /// Delete the flag of this name.
    Delete(String),
}

impl SeedOp {
    /// The name of the flag written.
    pub fn name(&self) -> &str {
        match self {
            SeedOp::Put(f) => &f.name,
            SeedOp::Delete(name) => name,
        }
    }
}

/// What to write so the stored flags follow `file_flags`, by name order:
/// - a flag new in the file is created from it (origin file);
/// - a flag whose file definition is the one it was last seeded with keeps its stored
///   state, edits made through the API included;
/// - a flag whose file definition changed is replaced by it (edits are dropped: the file
///   was edited later); so is a flag created through the API that the file now defines;
/// - a flag seeded from the file that the file no longer has is deleted;
/// - flags created through the API stay.
pub fn seed(
    file_flags: &BTreeMap<String, FlagSpec>,
    stored: &BTreeMap<String, Flag>,
    now_ms: u64,
) -> Vec<SeedOp> {
    let mut ops = Vec::new();
    for (name, spec) in file_flags {
        match stored.get(name) {
            Some(flag) if flag.file.as_ref() == Some(spec) => {}
            Some(flag) => {
                let mut next = from_spec(name, spec, now_ms);
                next.version = flag.version.saturating_add(1);
                ops.push(SeedOp::Put(Box::new(next)));
            }
            None => ops.push(SeedOp::Put(Box::new(from_spec(name, spec, now_ms)))),
        }
    }
    for (name, flag) in stored {
        if flag.origin == Origin::File && !file_flags.contains_key(name) {
            ops.push(SeedOp::Delete(name.clone()));
        }
    }
    ops.sort_by(|a, b| a.name().cmp(b.name()));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FlagChange;

    fn spec(rollout: f64) -> FlagSpec {
        FlagSpec {
            enabled: true,
            rollout,
            ..FlagSpec::default()
        }
    }

    fn file(pairs: &[(&str, f64)]) -> BTreeMap<String, FlagSpec> {
        pairs
            .iter()
            .map(|&(n, r)| (n.to_owned(), spec(r)))
            .collect()
    }

    /// The store after applying `ops`.
    fn applied(mut stored: BTreeMap<String, Flag>, ops: &[SeedOp]) -> BTreeMap<String, Flag> {
        for op in ops {
            match op {
                SeedOp::Put(f) => {
                    stored.insert(f.name.clone(), (**f).clone());
                }
                SeedOp::Delete(n) => {
                    stored.remove(n);
                }
            }
        }
        stored
    }

    #[test]
    fn new_flags_are_created_from_the_file() {
        let ops = seed(&file(&[("b", 10.0), ("a", 5.0)]), &BTreeMap::new(), 7);
        let names: Vec<&str> = ops.iter().map(SeedOp::name).collect();
        assert_eq!(names, ["a", "b"]);
        let SeedOp::Put(a) = &ops[0] else {
            panic!("expected a put");
        };
        assert_eq!(
            (a.rollout, a.origin, a.version, a.updated_ms),
            (5.0, Origin::File, 1, 7)
        );
        assert_eq!(a.file, Some(spec(5.0)));
    }

    #[test]
    fn runtime_edits_survive_an_unchanged_file() {
        let f = file(&[("a", 10.0)]);
        let stored = applied(BTreeMap::new(), &seed(&f, &BTreeMap::new(), 1));
        // An operator raises the rollout at run time.
        let edit = FlagChange {
            rollout: Some(50.0),
            ..FlagChange::default()
        };
        let edited = edit.apply(&stored["a"]).unwrap_or_else(|e| panic!("{e}"));
        let stored = applied(stored, &[SeedOp::Put(Box::new(edited))]);
        // `shoal up` again with the same file: nothing to write.
        assert_eq!(seed(&f, &stored, 2), []);
        // The file's definition changes: it wins, and the version moves on.
        let ops = seed(&file(&[("a", 20.0)]), &stored, 3);
        let [SeedOp::Put(next)] = ops.as_slice() else {
            panic!("expected one put, got {ops:?}");
        };
        assert_eq!((next.rollout, next.version, next.updated_ms), (20.0, 2, 3));
    }

    #[test]
    fn file_flags_gone_from_the_file_are_deleted_api_flags_stay() {
        let mut stored = applied(
            BTreeMap::new(),
            &seed(&file(&[("a", 1.0), ("b", 1.0)]), &BTreeMap::new(), 1),
        );
        let mut api = Flag::new("c");
        api.version = 1;
        stored.insert("c".into(), api);
        let ops = seed(&file(&[("b", 1.0)]), &stored, 2);
        assert_eq!(ops, [SeedOp::Delete("a".into())]);
        // An empty file removes every file flag and nothing else.
        let ops = seed(&BTreeMap::new(), &stored, 2);
        assert_eq!(
            ops,
            [SeedOp::Delete("a".into()), SeedOp::Delete("b".into())]
        );
    }

    #[test]
    fn a_file_definition_takes_over_an_api_flag_of_the_same_name() {
        let mut stored = BTreeMap::new();
        let mut api = Flag::new("a");
        api.version = 4;
        stored.insert("a".to_owned(), api);
        let ops = seed(&file(&[("a", 30.0)]), &stored, 9);
        let [SeedOp::Put(f)] = ops.as_slice() else {
            panic!("expected one put, got {ops:?}");
        };
        assert_eq!((f.origin, f.rollout, f.version), (Origin::File, 30.0, 5));
        // Seeding the result again changes nothing.
        assert_eq!(seed(&file(&[("a", 30.0)]), &applied(stored, &ops), 10), []);
    }
}
