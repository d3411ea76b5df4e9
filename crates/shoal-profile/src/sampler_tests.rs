//! Sampler choice and arguments.

use std::ffi::OsString;
use std::path::Path;

use super::*;

#[test]
fn python_is_known_by_its_executable_or_its_first_argument() {
    assert_eq!(
        language_of("/usr/bin/python3.11", "python3"),
        Language::Python
    );
    assert_eq!(
        language_of("/usr/lib/ld.so", "/root/.pyenv/shims/python3"),
        Language::Python
    );
    assert_eq!(
        language_of("/opt/pypy3/bin/pypy3", "pypy3"),
        Language::Python
    );
    assert_eq!(
        language_of("/work/target/debug/shoal-demo-publications", "x"),
        Language::Native
    );
    // A program merely named after a snake is not an interpreter.
    assert_eq!(language_of("/usr/bin/node", "monty"), Language::Native);
}

#[test]
fn each_language_gets_its_sampler_and_a_missing_one_is_named() {
    let perf = Path::new("/usr/bin/perf");
    let spy = Path::new("/usr/local/bin/py-spy");
    let c = choose(Language::Python, Some(perf), Some(spy)).ok();
    assert_eq!(c.map(|c| c.sampler), Some(Sampler::PySpy));
    let c = choose(Language::Native, Some(perf), Some(spy)).ok();
    assert_eq!(c.map(|c| (c.sampler, c.note)), Some((Sampler::Perf, None)));
    // Python without py-spy: perf, with a note saying what is lost.
    let c = choose(Language::Python, Some(perf), None).ok();
    assert!(c
        .is_some_and(|c| c.sampler == Sampler::Perf
            && c.note.is_some_and(|n| n.contains("pip install py-spy"))));
    // Native code needs perf; py-spy does not help.
    let e = choose(Language::Native, None, Some(spy))
        .err()
        .map(|e| e.to_string());
    assert!(e.is_some_and(|e| e.contains("apt install linux-perf") && e.contains("SHOAL_PERF")));
    let e = choose(Language::Python, None, None)
        .err()
        .map(|e| e.to_string());
    assert!(e.is_some_and(|e| e.contains("pip install py-spy") && e.contains("linux-perf")));
}

#[test]
fn perf_samples_user_space_only_where_the_kernel_says_so() {
    let plan = |root, paranoid| perf_plan(root, paranoid, 99, 10, 2);
    let p = plan(true, 3).ok();
    assert_eq!(p.map(|p| (p.event, p.dwarf)), Some(("cpu-clock", true)));
    assert_eq!(plan(false, 1).ok().map(|p| p.event), Some("cpu-clock"));
    assert_eq!(plan(false, -1).ok().map(|p| p.event), Some("cpu-clock"));
    assert_eq!(plan(false, 2).ok().map(|p| p.event), Some("cpu-clock:u"));
    assert!(matches!(
        plan(false, 3),
        Err(ProfileError::PerfNotAllowed(3))
    ));
}

#[test]
fn long_fast_captures_unwind_by_frame_pointers() {
    let dwarf = |rate, seconds, cpus| {
        perf_plan(true, 2, rate, seconds, cpus)
            .map(|p| p.dwarf)
            .ok()
    };
    assert_eq!(dwarf(99, 10, 2), Some(true));
    assert_eq!(dwarf(999, 60, 2), Some(false));
    assert_eq!(dwarf(999, 12, 2), Some(true));
    assert_eq!(dwarf(999, 13, 2), Some(false));
    // A process's threads may run on every CPU, each a stream of samples.
    assert_eq!(
        perf_plan(false, 1, 999, 24, 1).map(|p| p.dwarf).ok(),
        Some(true)
    );
    assert_eq!(
        perf_plan(false, 1, 999, 24, 64).map(|p| p.dwarf).ok(),
        Some(false)
    );
    let p = perf_plan(true, 2, 99, 10, 2).map(|p| p.describe()).ok();
    assert_eq!(p.as_deref(), Some("cpu-clock, dwarf stacks"));
}

#[test]
fn an_override_is_the_only_place_looked() {
    let path = OsString::from("/usr/local/bin:/usr/bin");
    assert_eq!(
        candidates("perf", None, Some(&path)),
        vec![
            Path::new("/usr/local/bin/perf").to_path_buf(),
            Path::new("/usr/bin/perf").to_path_buf()
        ]
    );
    let over = OsString::from("/nonexistent/perf");
    assert_eq!(
        candidates("perf", Some(&over), Some(&path)),
        vec![Path::new("/nonexistent/perf").to_path_buf()]
    );
    assert!(candidates("perf", None, None).is_empty());
}

#[test]
fn samplers_record_the_process_only_for_the_capture() {
    let plan = perf_plan(true, 2, 99, 10, 2).expect("plan");
    let args: Vec<String> = perf_record_args(42, 99, 10, plan, Path::new("/t/perf.data"))
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let text = args.join(" ");
    assert!(
        text.contains("-F 99 -e cpu-clock --call-graph dwarf,8192 -p 42"),
        "{text}"
    );
    assert!(text.ends_with("-o /t/perf.data -- sleep 10"), "{text}");
    assert!(!args.iter().any(|a| a == "-a"), "never every CPU: {text}");
    let spy: Vec<String> = py_spy_args(7, 50, 3, Path::new("/t/s.txt"))
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        spy.join(" "),
        "record --pid 7 --duration 3 --rate 50 --format raw --nolineno --gil --output /t/s.txt"
    );
}
