//! Any string into the watermark codec: a value or a clear error, never a
//! panic; and a decoded value survives encode → decode unchanged.
#![no_main]

use connector_workday::watermark::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(w) = decode(Some(raw)) {
        let once = encode(&w);
        let again = decode(Some(&once)).expect("an encoded watermark decodes");
        assert_eq!(encode(&again), once, "encode is stable after one round");
    }
});
