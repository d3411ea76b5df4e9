//! Fuzzes the Consul API's request parsing: JSON bodies (registration of
//! services and checks, with case-insensitive field names) and Go durations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = shoal_consul::parse_go_duration(text);
    }
    if let Ok(body) = shoal_consul::parse_body(data) {
        let normalized = shoal_consul::normalize(body.clone());
        let _ = shoal_consul::parse_service(&body, 0);
        let _ = shoal_consul::parse_check_register(&body);
        let _ = shoal_consul::parse_service(&normalized, 0);
    }
});
