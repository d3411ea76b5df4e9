//! Tests of the memory: the stabilization window's highest ask, what is kept, the bound on its size.

use super::*;

const W: u64 = 60_000;

fn past(entries: &[(u64, u32)]) -> State {
    State {
        desired: 1,
        past: entries
            .iter()
            .map(|&(at_ms, count)| Past { at_ms, count })
            .collect(),
        ..State::default()
    }
}

fn entries(s: &State) -> Vec<(u64, u32)> {
    s.past.iter().map(|p| (p.at_ms, p.count)).collect()
}

#[test]
fn a_new_memory_holds_only_the_count() {
    let s = State::new(4);
    assert_eq!(s.desired, 4);
    assert_eq!((s.last_scale_up_ms, s.last_change_ms), (None, None));
    assert!(s.past.is_empty());
    assert_eq!(s.highest(1_000, W), None);
}

#[test]
fn the_highest_ask_inside_the_window() {
    let s = past(&[(0, 9), (10_000, 5), (50_000, 3)]);
    assert_eq!(s.highest(59_999, W), Some(Past { at_ms: 0, count: 9 }));
    assert_eq!(
        s.highest(60_000, W),
        Some(Past {
            at_ms: 10_000,
            count: 5
        })
    );
    assert_eq!(
        s.highest(70_000, W),
        Some(Past {
            at_ms: 50_000,
            count: 3
        })
    );
    assert_eq!(s.highest(110_000, W), None);
}

#[test]
fn on_a_tie_the_latest_is_the_highest() {
    let s = past(&[(0, 4), (5_000, 4)]);
    assert_eq!(
        s.highest(10_000, W),
        Some(Past {
            at_ms: 5_000,
            count: 4
        })
    );
}

#[test]
fn asks_from_the_future_are_inside() {
    let s = past(&[(100_000, 7)]);
    assert_eq!(s.highest(0, W).map(|p| p.count), Some(7));
    assert_eq!(s.highest(0, 0), None, "a zero window holds nothing");
}

#[test]
fn how_long_a_level_is_held() {
    let s = past(&[(0, 9), (10_000, 5), (50_000, 3)]);
    assert_eq!(s.holds_until(20_000, W, 9), Some(60_000));
    assert_eq!(s.holds_until(20_000, W, 5), Some(70_000));
    assert_eq!(s.holds_until(20_000, W, 4), Some(70_000));
    assert_eq!(s.holds_until(20_000, W, 3), Some(110_000));
    assert_eq!(s.holds_until(20_000, W, 10), None);
    assert_eq!(s.holds_until(65_000, W, 9), None, "the 9 has left");
    let far = past(&[(u64::MAX, 2)]);
    assert_eq!(far.holds_until(0, W, 1), Some(u64::MAX));
}

#[test]
fn forgetting_drops_what_left_the_window() {
    let mut s = past(&[(0, 9), (10_000, 5), (50_000, 3)]);
    s.forget(65_000, W);
    assert_eq!(entries(&s), [(10_000, 5), (50_000, 3)]);
    s.forget(1_000_000, W);
    assert!(s.past.is_empty());
}

#[test]
fn remembering_keeps_a_falling_staircase() {
    let mut s = State::new(1);
    for (at, count) in [(0, 3), (1_000, 5), (2_000, 4), (3_000, 4), (4_000, 2)] {
        s.remember(at, W, count);
    }
    // 3 at 0 is outlived by 5 at 1 s; the 4 at 2 s by the 4 at 3 s.
    assert_eq!(entries(&s), [(1_000, 5), (3_000, 4), (4_000, 2)]);
    s.remember(5_000, W, 6);
    assert_eq!(entries(&s), [(5_000, 6)]);
}

#[test]
fn remembering_forgets_what_left_the_window() {
    let mut s = past(&[(0, 9)]);
    s.remember(60_000, W, 1);
    assert_eq!(entries(&s), [(60_000, 1)]);
}

#[test]
fn a_clock_stepping_back_never_shortens_a_hold() {
    let mut s = past(&[(100_000, 3)]);
    s.remember(50_000, W, 5);
    // The 5 replaces the 3 but keeps its later time.
    assert_eq!(entries(&s), [(100_000, 5)]);
    s.remember(40_000, W, 2);
    assert_eq!(entries(&s), [(40_000, 2), (100_000, 5)]);
    assert_eq!(s.highest(45_000, W).map(|p| p.count), Some(5));
}

#[test]
fn the_memory_is_bounded_and_merging_holds_longer_not_shorter() {
    let mut s = State::new(1);
    // A strictly falling staircase longer than the bound: every entry is useful.
    let n = MAX_PAST as u32 + 10;
    for i in 0..n {
        s.remember(u64::from(i) * 10, 1_000_000, 1_000 - i);
    }
    assert_eq!(s.past.len(), MAX_PAST);
    // The oldest (highest) ask is still the highest: nothing goes down earlier.
    let top = s.highest(u64::from(n) * 10, 1_000_000).map(|p| p.count);
    assert_eq!(top, Some(1_000));
    // Every count asked is held at least as long as it was asked for.
    for i in 0..n {
        let at = u64::from(i) * 10;
        let until = s.holds_until(at, 1_000_000, 1_000 - i);
        assert!(until >= Some(at + 1_000_000), "{i}: {until:?}");
    }
}

#[test]
fn a_hand_made_unordered_memory_still_answers() {
    let s = past(&[(50_000, 3), (0, 9), (10_000, 5)]);
    assert_eq!(s.highest(20_000, W).map(|p| p.count), Some(9));
    let mut s = s;
    s.remember(20_000, W, 4);
    assert_eq!(entries(&s), [(0, 9), (10_000, 5), (50_000, 4)]);
}

#[test]
fn an_older_stored_memory_decodes() {
    let s: State = serde_json::from_str(r#"{"desired": 2, "past": [{"at_ms": 5, "count": 3}]}"#)
        .expect("decodes");
    assert_eq!(s.desired, 2);
    assert_eq!(entries(&s), [(5, 3)]);
    assert_eq!(s.last_scale_up_ms, None);
    let back: State =
        serde_json::from_str(&serde_json::to_string(&s).expect("encodes")).expect("round trip");
    assert_eq!(back, s);
}
