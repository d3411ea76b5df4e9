//! The README's demo fleet runs: profile (Python) composes publications (Rust)
//! and institution (Python) through the platform, one flag decision for the tree.

mod common;

#[test]
fn demo_fleet_composes_the_profile_page() {
    let p = common::start_demo();
    let r = p.gateway("profile", "/profile/ada").expect("gateway");
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.json();
    assert_eq!(page["user"], "ada");
    assert_eq!(
        page["publications"]["publications"][0], "Notes on the Analytical Engine",
        "{page}"
    );
    assert_eq!(
        page["institution"]["institution"], "Analytical Engine Society",
        "{page}"
    );
    // The gateway decided `new_profile`; publications, two hops down, saw the same.
    assert!(page["flags"]["new_profile"].is_string(), "{page}");
    assert_eq!(page["flags"], page["publications"]["flags"], "{page}");
    // The path route works too.
    let r = p.gateway("example.com", "/profile/alan").expect("gateway");
    assert_eq!(
        r.json()["institution"]["institution"],
        "University of Manchester"
    );
}
