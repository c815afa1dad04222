//! Arbitrary bytes into the frame decoder and both header decoders: never a panic, never an
//! allocation sized by a claimed length; whatever decodes re-encodes and decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::{FrameDecoder, RemotingCommand};

fuzz_target!(|data: &[u8]| {
    let decoder = FrameDecoder::new(64 * 1024);
    let mut frames = Vec::new();
    let _ = decoder.decode_many(data, 16, &mut frames);
    for command in frames {
        if let Ok(frame) = command.to_frame() {
            let again = RemotingCommand::decode_frame(&frame).expect("re-encoded frame decodes");
            assert_eq!(again, command);
        }
    }
    let _ = RemotingCommand::decode_payload(data);
});
