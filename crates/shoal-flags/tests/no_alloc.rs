//! Evaluating every flag of a request allocates nothing: counted by a global allocator
//! that counts the allocations of the current thread.
// The only unsafe code of the crate's tests: a `GlobalAlloc` must be an `unsafe impl`.
// It forwards every call to the system allocator unchanged.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use shoal_flags::{Constraint, Flag, FlagSet, ForceOn, Request, Variant};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

struct Req<'a> {
    headers: &'a [(&'a str, &'a str)],
    path: &'a str,
}

impl Request for Req<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    fn path(&self) -> &str {
        self.path
    }
}

/// Twenty flags using every rule.
fn flags() -> Vec<Flag> {
    (0..20)
        .map(|i| {
            let mut f = Flag::new(format!("flag_{i}"));
            f.enabled = i % 7 != 0;
            f.rollout = f64::from(i * 5);
            f.allow = vec![format!("user-{i}")];
            f.deny = vec![format!("user-{}", i + 1)];
            if i % 3 == 0 {
                f.force_on = vec![ForceOn {
                    header: "X-Beta".into(),
                    values: vec!["1".into()],
                }];
            }
            if i % 4 == 0 {
                f.constraints = vec![
                    Constraint::HeaderIn {
                        header: "X-Country".into(),
                        values: vec!["DE".into(), "FR".into()],
                    },
                    Constraint::PathPrefix {
                        prefix: "/shop".into(),
                    },
                ];
            }
            if i % 5 == 0 {
                f.user_header = "X-Account".into();
                f.variants = vec![
                    Variant {
                        name: "blue".into(),
                        weight: 2,
                    },
                    Variant {
                        name: "green".into(),
                        weight: 1,
                    },
                ];
            }
            f
        })
        .collect()
}

#[test]
fn evaluating_twenty_flags_allocates_nothing() {
    // `evaluate_all`, `write_all` (into buffers of `written_len`) and `evaluate`.
    let flags = flags();
    let set = FlagSet::new(&flags);
    let users: Vec<String> = (0..500).map(|i| format!("user-{i}")).collect();
    let traces: Vec<String> = (0..500).map(|i| format!("{i:032x}")).collect();
    let mut on = 0u64;
    // The counter sees this thread's allocations.
    let probe = allocations();
    drop(std::hint::black_box(vec![0u8; 16]));
    assert!(
        allocations() > probe,
        "the counting allocator is not in use"
    );
    // The gateway's buffers, made once at the sizes the set gives: never grown.
    let (lines_len, text_len) = set.written_len();
    let mut lines = Vec::with_capacity(lines_len);
    let mut text = String::with_capacity(text_len);
    let before = allocations();
    for (i, (user, trace)) in users.iter().zip(&traces).enumerate() {
        let with_user = [
            ("X-User-Id", user.as_str()),
            ("X-Account", user.as_str()),
            ("X-Country", "DE"),
            ("X-Beta", if i % 2 == 0 { "1" } else { "0" }),
        ];
        let headers: &[(&str, &str)] = if i % 10 == 0 { &[] } else { &with_user };
        let req = Req {
            headers,
            path: "/shop/cart?x=1",
        };
        let fallback = (i % 3 == 0).then_some(trace.as_str());
        set.evaluate_all(&req, fallback, |_, d| on += u64::from(d.on));
        lines.clear();
        text.clear();
        set.write_all(&req, fallback, &mut lines, Some(&mut text));
        let one = set.evaluate(i % 20, &req, None);
        on += u64::from(one.is_some_and(|d| d.on));
    }
    let allocated = allocations() - before;
    assert_eq!(allocated, 0, "evaluation allocated {allocated} times");
    assert!(on > 0);
    let total: u64 = set.tally().snapshot().iter().map(|(_, _, n)| n).sum();
    assert_eq!(total, 500 * 41);
}
