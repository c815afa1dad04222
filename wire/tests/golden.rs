//! Golden frames built by hand from the protocol reference (`vectors/make_vectors.py`, an
//! encoder independent of this crate): each decodes to the expected values and re-encodes to
//! the same bytes.

use wire::{FrameDecoder, LanguageCode, RemotingCommand, RequestCode, SerializeType};

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let hex: String = text.split_whitespace().collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn decode_and_reencode(bytes: &[u8]) -> RemotingCommand {
    let (command, size) = FrameDecoder::default().decode(bytes).unwrap().unwrap();
    assert_eq!(size, bytes.len());
    assert_eq!(
        command.to_frame().unwrap(),
        bytes,
        "re-encoding changed the bytes"
    );
    command
}

#[test]
fn golden_json_heartbeat() {
    let bytes = vector("json_heartbeat.hex");
    let command = decode_and_reencode(&bytes);
    assert_eq!(command.serialize_type, SerializeType::Json);
    assert_eq!(command.request_code(), RequestCode::HEART_BEAT);
    assert_eq!(
        (command.opaque, command.version, command.flag),
        (12, 401, 0)
    );
    assert_eq!(command.language, LanguageCode::Java);
    assert!(command.ext_fields.is_empty());
    let body = std::str::from_utf8(&command.body).unwrap();
    assert!(body.starts_with(r#"{"clientID":"10.0.0.5@4242#81234567890123""#));
}

#[test]
fn golden_binary_send_message_v2() {
    let bytes = vector("binary_send_message_v2.hex");
    assert_eq!(bytes[4], 1, "serialize type byte");
    let command = decode_and_reencode(&bytes);
    assert_eq!(command.serialize_type, SerializeType::RocketMq);
    assert_eq!(command.request_code(), RequestCode::SEND_MESSAGE_V2);
    assert_eq!((command.opaque, command.version), (44, 401));
    assert_eq!(command.remark, None);
    assert_eq!(command.ext_fields.get("b"), Some("TopicTest"));
    assert_eq!(command.ext_fields.get("g"), Some("1700000000123"));
    assert_eq!(command.body, b"Hello RocketMQ");
}

#[test]
fn golden_pull_response_two_messages() {
    let bytes = vector("pull_response_two_messages.hex");
    let command = decode_and_reencode(&bytes);
    assert!(command.is_response());
    assert_eq!(command.code, 0);
    assert_eq!(command.remark.as_deref(), Some("FOUND"));
    assert_eq!(command.ext_fields.get("nextBeginOffset"), Some("9"));
    assert_eq!(command.ext_fields.get("suggestWhichBrokerId"), Some("0"));
}

#[test]
fn golden_register_broker() {
    let bytes = vector("register_broker.hex");
    let command = decode_and_reencode(&bytes);
    assert_eq!(command.request_code(), RequestCode::REGISTER_BROKER);
    assert_eq!(command.ext_fields.get("brokerName"), Some("broker-a"));
    let crc: u32 = command
        .ext_fields
        .get("bodyCrc32")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(crc, wire::crc32_masked(&command.body));
}
