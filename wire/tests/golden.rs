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

#[test]
fn golden_pull_response_records_decode_and_re_encode() {
    use wire::message::RecordView;
    let bytes = vector("pull_response_two_messages.hex");
    let command = decode_and_reencode(&bytes);
    let (first, first_size) = RecordView::decode(&command.body, true).unwrap();
    let (second, second_size) = RecordView::decode(&command.body[first_size..], true).unwrap();
    assert_eq!(first_size + second_size, command.body.len());
    assert_eq!((first.queue_offset, first.commit_log_offset), (7, 1024));
    assert_eq!(second.commit_log_offset, 1024 + first_size as i64);
    assert_eq!(first.body, b"first");
    assert_eq!(first.tags(), Some("TagA"));
    assert_eq!(second.body, b"second body");
    assert!(
        second.born_host.is_ipv6(),
        "the second record's born host is IPv6"
    );
    let mut re_encoded = Vec::new();
    first.encode(&mut re_encoded).unwrap();
    second.encode(&mut re_encoded).unwrap();
    assert_eq!(re_encoded, command.body);
}

#[test]
fn gotcha_offset_msg_id_from_store_host_and_offset() {
    // Consumers derive the offset msgId from STOREHOST + PHYSICALOFFSET and dial that address.
    let bytes = vector("pull_response_two_messages.hex");
    let command = decode_and_reencode(&bytes);
    let (first, _) = wire::message::RecordView::decode(&command.body, true).unwrap();
    let id = first.offset_msg_id();
    assert_eq!(id.encode(), "7F00000100002A9F0000000000000400");
    assert_eq!(
        wire::message_id::OffsetMsgId::decode(&id.encode()).unwrap(),
        id
    );
}

#[test]
fn golden_register_broker_body() {
    let command = decode_and_reencode(&vector("register_broker.hex"));
    let body = wire::body::RegisterBrokerBody::decode(&command.body).unwrap();
    assert_eq!(
        body.encode(),
        command.body,
        "the body re-encodes byte for byte"
    );
    let topics = &body.topic_config_serialize_wrapper.topic_config_table;
    assert_eq!(topics["TopicTest"].write_queue_nums, 4);
}

#[test]
fn golden_heartbeat_body() {
    let command = decode_and_reencode(&vector("json_heartbeat.hex"));
    let heartbeat = wire::body::HeartbeatData::decode(&command.body).unwrap();
    assert_eq!(heartbeat.consumer_data_set[0].group_name, "cg");
    assert_eq!(
        heartbeat.encode(),
        command.body,
        "the body re-encodes byte for byte"
    );
}

#[test]
fn gotcha_register_body_crc32_is_masked() {
    let command = decode_and_reencode(&vector("register_broker.hex"));
    let crc: u32 = command
        .ext_fields
        .get("bodyCrc32")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(crc, crc32fast::hash(&command.body) & 0x7FFF_FFFF);
    assert!(
        crc <= i32::MAX as u32,
        "Java sends it as a non-negative Integer"
    );
}

#[test]
fn golden_send_v2_typed_header() {
    use wire::headers::send::read_send_request;
    let command = decode_and_reencode(&vector("binary_send_message_v2.hex"));
    let header = read_send_request(command.request_code(), &command.ext_fields).unwrap();
    assert_eq!(header.producer_group, "ProducerGroupName");
    assert_eq!(header.topic, "TopicTest");
    assert_eq!(header.queue_id, 2);
    assert_eq!(header.born_timestamp, 1_700_000_000_123);
    let properties = wire::properties::decode(header.properties.as_deref().unwrap());
    assert_eq!(properties.get("TAGS"), Some("TagA"));
    assert_eq!(
        properties.get("UNIQ_KEY"),
        Some("0A00000510922A3F1C2E0C8B7D0B0000")
    );
}
