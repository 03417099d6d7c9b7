//! Any JSON record into the worker and org mappings: a change or a record
//! error, never a panic; a mapped change always serialises.
#![no_main]

use connector_workday::config::ExternalIdAttribute;
use connector_workday::mapping::{last_updated, map_org, map_worker};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = last_updated(&record);
    for attr in ExternalIdAttribute::ALL {
        if let Ok(change) = map_worker(&record, attr) {
            assert!(!change.external_id.is_empty());
            serde_json::to_string(&change).expect("a change serialises");
        }
    }
    if let Ok(change) = map_org(&record) {
        assert!(!change.external_id.is_empty());
        serde_json::to_string(&change).expect("a change serialises");
    }
});
