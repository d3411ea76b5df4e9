//! Fuzz target: the proxy's own HTTP/1.1 wire code (`shoal_proxy::fuzz_http1`): request
//! and response heads, body framing, the chunked decoder fed in pieces, and a written
//! request head parsing back. Any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shoal_proxy::fuzz_http1(data);
});
