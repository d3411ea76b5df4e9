//! Folding: folded text, perf script output, bounds.

use proptest::prelude::*;

use super::*;

/// Three samples of `perf script -F comm,pid,tid,time,event,ip,sym,dso` (no period: each sample counts one).
const PERF_SCRIPT: &str = "\
shoal-demo-publ  2738 32108.717545: cpu-clock: 
\t    55d0c1a2b3c4 shoal_demo_publications::citation_rank+0x54 (/t/shoal-demo-publications)
\t    55d0c1a2b000 shoal_demo_publications::serve+0x120 (/t/shoal-demo-publications)
\t    7f28272da9c0 start_thread+0x2f0 (/usr/lib/x86_64-linux-gnu/libc.so.6)

shoal-demo-publ  2738 32108.727635: cpu-clock: 
\t    55d0c1a2b3c9 shoal_demo_publications::citation_rank+0x59 (/t/shoal-demo-publications)
\t    55d0c1a2b000 shoal_demo_publications::serve+0x120 (/t/shoal-demo-publications)
\t    7f28272da9c0 start_thread+0x2f0 (/usr/lib/x86_64-linux-gnu/libc.so.6)

shoal-demo-publ  2738 32108.737736: cpu-clock: 
\tffffffff8a20011c entry_SYSCALL_64+0x9c ([kernel.kallsyms])
\t    7f28272da9c0 __libc_recv+0x10 (/usr/lib/x86_64-linux-gnu/libc.so.6)

";

#[test]
fn perf_script_folds_into_stacks_without_the_command_name() {
    let f = Folded::from_perf_script(PERF_SCRIPT.as_bytes()).unwrap_or_default();
    assert_eq!(f.total(), 3);
    assert_eq!(
        f.0.get(
            "start_thread;shoal_demo_publications::serve;shoal_demo_publications::citation_rank"
        ),
        Some(&2),
        "{f:?}"
    );
    assert_eq!(
        f.0.get("__libc_recv;entry_SYSCALL_64_[k]"),
        Some(&1),
        "{f:?}"
    );
}

#[test]
fn folded_text_is_read_line_by_line() {
    let f =
        Folded::parse("<module> (app.py);hot (app.py) 197\nmain;a 2\nmain;a 3\nnot a line\n\n 4\n");
    assert_eq!(f.0.get("<module> (app.py);hot (app.py)"), Some(&197));
    assert_eq!(f.0.get("main;a"), Some(&5));
    assert_eq!(f.0.len(), 2);
    assert_eq!(Folded::parse(&f.lines().join("\n")), f);
}

#[test]
fn bounding_keeps_the_heaviest_stacks_and_every_sample() {
    let mut f = Folded::default();
    f.add("main;heavy", 100);
    f.add("main;medium", 10);
    f.add("main;light;and;a;long;tail;of;frames", 1);
    let b = f.clone().bounded(110);
    assert_eq!(b.total(), 111);
    assert_eq!(b.0.get("main;heavy"), Some(&100));
    assert!(b.0.contains_key(TRUNCATED));
    assert!(!b.0.contains_key("main;light;and;a;long;tail;of;frames"));
    assert_eq!(f.clone().bounded(1 << 20), f);
}

proptest! {
    #[test]
    fn bounding_never_loses_a_sample(stacks in proptest::collection::btree_map("[a-c;]{1,12}", 1u64..50, 0..40), max in 0usize..600) {
        let f = Folded(stacks);
        let total = f.total();
        let b = f.bounded(max);
        prop_assert_eq!(b.total(), total);
    }
}
