//! Frame and header codec: the remoting gotchas that concern encoding, hostile input, and
//! round trips in both serialisations.

use proptest::prelude::*;
use wire::command::{FLAG_ONEWAY, FLAG_RESPONSE};
use wire::{
    DecodeError, Decoded, ExtFields, FrameDecoder, LanguageCode, RemotingCommand, RequestCode,
    ResponseCode, SerializeType,
};

fn frame_with_header(serialize_type: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&((4 + header.len() + body.len()) as i32).to_be_bytes());
    frame.push(serialize_type);
    frame.extend_from_slice(&(header.len() as u32).to_be_bytes()[1..]);
    frame.extend_from_slice(header);
    frame.extend_from_slice(body);
    frame
}

fn decode_one(frame: &[u8]) -> Result<RemotingCommand, DecodeError> {
    match FrameDecoder::default().decode(frame)? {
        Some((command, size)) => {
            assert_eq!(size, frame.len());
            Ok(command)
        }
        None => panic!("frame of {} bytes reported incomplete", frame.len()),
    }
}

#[test]
fn gotcha_ext_fields_values_are_json_strings() {
    // Go decodes extFields as map[string]string: a number or boolean there fails the frame.
    let command = RemotingCommand::request(RequestCode::PULL_MESSAGE, 3)
        .with_ext("queueId", "5")
        .with_ext("commitOffset", "-1")
        .with_ext("unitMode", "true");
    let frame = command.to_frame().unwrap();
    let header = std::str::from_utf8(&frame[8..]).unwrap();
    assert!(header.contains(r#""queueId":"5""#), "{header}");
    assert!(header.contains(r#""commitOffset":"-1""#), "{header}");
    assert!(header.contains(r#""unitMode":"true""#), "{header}");
}

#[test]
fn gotcha_json_header_accepts_non_string_ext_values() {
    // Tolerance in the other direction: a sloppy peer's numbers become their text.
    let header = br#"{"code":14,"extFields":{"queueId":3,"flag":true,"x":null},"flag":0}"#;
    let command = decode_one(&frame_with_header(0, header, b"")).unwrap();
    assert_eq!(command.ext_fields.get("queueId"), Some("3"));
    assert_eq!(command.ext_fields.get("flag"), Some("true"));
    assert_eq!(command.ext_fields.get("x"), None);
}

#[test]
fn gotcha_reply_in_request_serialize_type() {
    for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
        let mut request = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, 77)
            .with_serialize_type(serialize_type)
            .with_ext("topic", "T");
        request.language = LanguageCode::Go;
        let request = decode_one(&request.to_frame().unwrap()).unwrap();
        let response = RemotingCommand::response_to(&request, ResponseCode::TOPIC_NOT_EXIST);
        let frame = response.to_frame().unwrap();
        assert_eq!(frame[4], serialize_type.as_byte());
        let decoded = decode_one(&frame).unwrap();
        assert_eq!(decoded.opaque, 77);
        assert!(decoded.is_response());
        assert_eq!(decoded.flag & FLAG_RESPONSE, FLAG_RESPONSE);
        assert_eq!(decoded.response_code(), ResponseCode::TOPIC_NOT_EXIST);
    }
}

#[test]
fn gotcha_oneway_flag_is_bit_one() {
    let mut command = RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, 1);
    assert!(!command.is_oneway());
    command.mark_oneway();
    assert_eq!(command.flag, FLAG_ONEWAY);
    let decoded = decode_one(&command.to_frame().unwrap()).unwrap();
    assert!(decoded.is_oneway() && !decoded.is_response());
}

#[test]
fn gotcha_commands_originate_as_java_with_real_version() {
    let request = RemotingCommand::request(RequestCode::HEART_BEAT, 1);
    let response = RemotingCommand::response_to(&request, ResponseCode::SUCCESS);
    for command in [request, response] {
        assert_eq!(command.language, LanguageCode::Java);
        assert!(
            command.version >= 232,
            "Java gates SQL92 on the broker version"
        );
        let frame = command.to_frame().unwrap();
        let header = std::str::from_utf8(&frame[8..]).unwrap();
        assert!(header.contains(r#""language":"JAVA""#), "{header}");
    }
}

#[test]
fn gotcha_java_json_header_layout() {
    // fastjson writes bean fields alphabetically, nulls omitted, no whitespace.
    let command = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, 12)
        .with_ext("topic", "TopicTest");
    let frame = command.to_frame().unwrap();
    assert_eq!(
        std::str::from_utf8(&frame[8..]).unwrap(),
        r#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","#.to_owned()
            + r#""opaque":12,"serializeTypeCurrentRPC":"JSON","version":409}"#
    );
}

#[test]
fn gotcha_go_json_header() {
    // Go: struct order, no serializeTypeCurrentRPC, remark "", version 317, extFields {}.
    let header = br#"{"code":34,"language":"GO","version":317,"opaque":5,"flag":0,"remark":"","extFields":{}}"#;
    let command = decode_one(&frame_with_header(0, header, b"{}")).unwrap();
    assert_eq!(command.request_code(), RequestCode::HEART_BEAT);
    assert_eq!(command.language, LanguageCode::Go);
    assert_eq!(command.version, 317);
    assert_eq!(command.opaque, 5);
    assert_eq!(command.remark.as_deref(), Some(""));
    assert!(command.ext_fields.is_empty());
    assert_eq!(command.body, b"{}");
}

#[test]
fn json_header_without_serialize_type_and_with_unknown_fields() {
    let header = br#"{"opaque":9,"flag":1,"code":0,"body":null,"onewayRPC":false,
        "futureField":{"nested":[1,2]},"serializeTypeCurrentRPC":"ROCKETMQ","language":"CPP"}"#;
    let command = decode_one(&frame_with_header(0, header, b"")).unwrap();
    assert_eq!(command.opaque, 9);
    assert!(command.is_response());
    assert_eq!(command.language, LanguageCode::Cpp);
    // The frame's type byte wins over serializeTypeCurrentRPC.
    assert_eq!(command.serialize_type, SerializeType::Json);
}

#[test]
fn gotcha_frames_over_16_mib_refused() {
    let decoder = FrameDecoder::default();
    // length + 4 == 16 MiB is the largest accepted frame, exactly as Netty's check.
    let length: i32 = 16 * 1024 * 1024 - 4;
    assert_eq!(
        decoder.check(&length.to_be_bytes()).unwrap(),
        Decoded::Incomplete {
            frame_size: Some(16 * 1024 * 1024)
        }
    );
    let error = decoder.check(&(length + 1).to_be_bytes()).unwrap_err();
    assert!(
        matches!(error, DecodeError::FrameTooLarge { .. }),
        "{error}"
    );
    // A 100 MB claim is refused on its first four bytes.
    let error = decoder.check(&100_000_000i32.to_be_bytes()).unwrap_err();
    assert!(matches!(
        error,
        DecodeError::FrameTooLarge {
            frame_size: 100_000_004,
            ..
        }
    ));
}

#[test]
fn configurable_frame_size_max() {
    let decoder = FrameDecoder::new(64);
    let small = RemotingCommand::request(RequestCode::HEART_BEAT, 1)
        .with_serialize_type(SerializeType::RocketMq);
    let frame = small.to_frame().unwrap();
    assert!(frame.len() <= 64);
    assert!(decoder.decode(&frame).unwrap().is_some());
    let big = small.with_body(vec![0; 64]).to_frame().unwrap();
    assert!(matches!(
        decoder.check(&big),
        Err(DecodeError::FrameTooLarge { .. })
    ));
}

#[test]
fn hostile_lengths_are_typed_errors() {
    let decoder = FrameDecoder::default();
    for length in [i32::MIN, -1, 0, 3] {
        let error = decoder.check(&length.to_be_bytes()).unwrap_err();
        assert_eq!(error, DecodeError::FrameLengthInvalid { length });
    }
    // Header length larger than the frame, refused before the body arrives.
    let mut frame = 100i32.to_be_bytes().to_vec();
    frame.extend_from_slice(&[0, 0, 0, 200]);
    let error = decoder.check(&frame).unwrap_err();
    assert_eq!(
        error,
        DecodeError::HeaderLengthInvalid {
            header_size: 200,
            frame_size: 100
        }
    );
    // Unknown serialize type.
    let frame = frame_with_header(7, b"{}", b"");
    assert_eq!(
        decode_one(&frame).unwrap_err(),
        DecodeError::SerializeTypeUnknown { value: 7 }
    );
}

#[test]
fn hostile_json_headers_are_typed_errors() {
    let invalid_utf8 = frame_with_header(0, b"{\"code\":\xff}", b"");
    assert!(matches!(
        decode_one(&invalid_utf8),
        Err(DecodeError::Utf8Invalid { .. })
    ));
    for header in [
        &b"{\"code\":"[..],
        b"[1,2]",
        b"",
        b"nul",
        b"{\"code\":\"abc\"}",
    ] {
        let error = decode_one(&frame_with_header(0, header, b"")).unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::JsonInvalid { .. } | DecodeError::FieldInvalid { .. }
            ),
            "{error}"
        );
    }
    let too_big = frame_with_header(0, b"{\"code\":99999999999}", b"");
    assert!(matches!(
        decode_one(&too_big),
        Err(DecodeError::FieldInvalid { name: "code", .. })
    ));
}

#[test]
fn hostile_binary_headers_are_typed_errors() {
    let good = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, 1)
        .with_serialize_type(SerializeType::RocketMq)
        .with_remark("r")
        .with_ext("topic", "T");
    let frame = good.to_frame().unwrap();
    let header = &frame[8..];
    // Every truncation of the header is an error, never a panic.
    for cut in 0..header.len() {
        let error = decode_one(&frame_with_header(1, &header[..cut], b"")).unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::HeaderTruncated { .. } | DecodeError::HeaderFieldLengthInvalid { .. }
            ),
            "cut {cut}: {error}"
        );
    }
    // A remark length that lies (huge, negative) is refused without allocating it.
    for lie in [i32::MAX, -5, 1000] {
        let mut bad = header.to_vec();
        bad[13..17].copy_from_slice(&lie.to_be_bytes());
        let error = decode_one(&frame_with_header(1, &bad, b"")).unwrap_err();
        assert!(matches!(
            error,
            DecodeError::HeaderFieldLengthInvalid {
                field: "remark",
                ..
            }
        ));
    }
    // Invalid UTF-8 in the remark.
    let mut bad = header.to_vec();
    bad[17] = 0xff;
    let error = decode_one(&frame_with_header(1, &bad, b"")).unwrap_err();
    assert_eq!(error, DecodeError::Utf8Invalid { field: "remark" });
}

#[test]
fn binary_header_spec_example() {
    // remoting-and-namesrv.md §2.3: GET_ROUTEINFO_BY_TOPIC, topic T, opaque 1, version 401.
    let expected: Vec<u8> = [
        "00000025",
        "01000021",
        "0069",
        "00",
        "0191",
        "00000001",
        "00000000",
        "00000000",
        "0000000C",
        "0005",
        "746F706963",
        "00000001",
        "54",
    ]
    .concat()
    .as_bytes()
    .chunks(2)
    .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
    .collect();
    let mut command = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, 1)
        .with_serialize_type(SerializeType::RocketMq)
        .with_ext("topic", "T");
    command.version = 401;
    assert_eq!(command.to_frame().unwrap(), expected);
    assert_eq!(decode_one(&expected).unwrap(), command);
}

#[test]
fn binary_header_refuses_codes_beyond_i16() {
    // 5.x POP codes (200050) do not fit the binary header; never truncate them silently.
    let mut command = RemotingCommand::request(RequestCode::Unknown(200_050), 1)
        .with_serialize_type(SerializeType::RocketMq);
    assert!(matches!(
        command.to_frame(),
        Err(DecodeError::FieldInvalid { name: "code", .. })
    ));
    command.serialize_type = SerializeType::Json;
    assert_eq!(
        decode_one(&command.to_frame().unwrap()).unwrap().code,
        200_050
    );
}

#[test]
fn many_frames_in_one_buffer_and_partial_tail() {
    let mut buffer = Vec::new();
    for opaque in 0..10 {
        let serialize_type = if opaque % 2 == 0 {
            SerializeType::Json
        } else {
            SerializeType::RocketMq
        };
        RemotingCommand::request(RequestCode::HEART_BEAT, opaque)
            .with_serialize_type(serialize_type)
            .with_body(vec![opaque as u8; opaque as usize])
            .encode(&mut buffer)
            .unwrap();
    }
    let whole = buffer.len();
    buffer.extend_from_slice(&[0, 0]); // the first bytes of an eleventh frame
    let decoder = FrameDecoder::default();
    let mut frames = Vec::new();
    let consumed = decoder.decode_many(&buffer, 4, &mut frames).unwrap();
    assert_eq!(frames.len(), 4);
    let consumed = consumed
        + decoder
            .decode_many(&buffer[consumed..], 100, &mut frames)
            .unwrap();
    assert_eq!(consumed, whole);
    assert_eq!(
        frames.iter().map(|f| f.opaque).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert_eq!(frames[7].body, vec![7; 7]);
    assert_eq!(frames[7].serialize_type, SerializeType::RocketMq);
}

#[test]
fn every_prefix_of_a_frame_is_incomplete() {
    let frame = RemotingCommand::request(RequestCode::SEND_MESSAGE_V2, 3)
        .with_ext("a", "group")
        .with_body(b"hello".to_vec())
        .to_frame()
        .unwrap();
    let decoder = FrameDecoder::default();
    for cut in 0..frame.len() {
        assert!(
            decoder.decode(&frame[..cut]).unwrap().is_none(),
            "prefix {cut}"
        );
    }
    assert!(decoder.decode(&frame).unwrap().is_some());
}

#[test]
fn encode_header_leaves_room_for_a_borrowed_body() {
    let response = RemotingCommand::response_to(
        &RemotingCommand::request(RequestCode::PULL_MESSAGE, 5),
        ResponseCode::SUCCESS,
    );
    let body = b"stored records";
    let mut out = Vec::new();
    response.encode_header(body.len(), &mut out).unwrap();
    out.extend_from_slice(body);
    let decoded = decode_one(&out).unwrap();
    assert_eq!(decoded.body, body);
    assert_eq!(decoded.opaque, 5);
}

fn language() -> impl Strategy<Value = LanguageCode> {
    (0u8..13).prop_map(LanguageCode::from_byte)
}

fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("(?s).{0,24}").unwrap()
}

prop_compose! {
    fn command()(
        code in any::<i16>(),
        language in language(),
        version in any::<i16>(),
        opaque in any::<i32>(),
        flag in 0i32..4,
        remark in proptest::option::of(text()),
        ext in proptest::collection::vec((text(), text()), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        binary in any::<bool>(),
    ) -> RemotingCommand {
        RemotingCommand {
            code: i32::from(code),
            language,
            version: i32::from(version),
            opaque,
            flag,
            // The binary header cannot tell an empty remark from none, nor keep empty keys.
            remark: remark.filter(|r| !(binary && r.is_empty())),
            ext_fields: ext.into_iter().filter(|(k, _)| !binary || !k.is_empty())
                .collect::<ExtFields>(),
            body,
            serialize_type: if binary { SerializeType::RocketMq } else { SerializeType::Json },
        }
    }
}

proptest! {
    #[test]
    fn round_trip_both_serialisations(command in command()) {
        let frame = command.to_frame().unwrap();
        prop_assert_eq!(decode_one(&frame).unwrap(), command.clone());
        prop_assert_eq!(RemotingCommand::decode_frame(&frame).unwrap(), command);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let decoder = FrameDecoder::new(1024);
        let _ = decoder.decode(&bytes);
        let _ = RemotingCommand::decode_payload(&bytes);
        let _ = RemotingCommand::decode_frame(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic(
        command in command(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut frame = command.to_frame().unwrap();
        for (position, value) in flips {
            let index = position % frame.len();
            frame[index] = value;
        }
        let _ = FrameDecoder::default().decode(&frame);
    }
}
