//! Arbitrary bytes into the stored-record, batch-body and register-body decoders.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::message::{self, MessageRecord, RecordView};

fuzz_target!(|data: &[u8]| {
    let _ = message::peek(data);
    if let Ok((view, size)) = RecordView::decode(data, false) {
        assert!(size <= data.len());
        let mut out = Vec::new();
        if view.encode(&mut out).is_ok() {
            let (again, _) = MessageRecord::decode(&out, true).expect("re-encoded record decodes");
            assert_eq!(again.body, view.to_record().body);
        }
    }
    let _ = message::decode_batch(data);
    let _ = wire::body::RegisterBrokerBody::decode_compressed(data);
    let _ = wire::body::TopicRouteData::decode(data);
});
