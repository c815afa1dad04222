//! The C header `wire/include/rocketmq_wire.h`: a C program built with it encodes requests that
//! the Rust decoder accepts, and reproduces the spec's example frame byte for byte.

use std::path::{Path, PathBuf};
use std::process::Command;

use wire::{FrameDecoder, LanguageCode, RemotingCommand, RequestCode, SerializeType};

fn build_program() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = std::env::temp_dir().join(format!("rmq-wire-c-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let binary = out_dir.join("encode_request");
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&compiler)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-I"])
        .arg(manifest.join("include"))
        .arg(manifest.join("tests/c/encode_request.c"))
        .arg("-o")
        .arg(&binary)
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run the C compiler {compiler} (make test needs one): {e}")
        });
    assert!(status.success(), "compiling encode_request.c failed");
    binary
}

fn run(binary: &Path, mode: &str) -> Vec<u8> {
    let output = Command::new(binary).arg(mode).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn c_encoded_request_decodes_in_rust() {
    let binary = build_program();
    let frame = run(&binary, "route");
    let (command, size) = FrameDecoder::default().decode(&frame).unwrap().unwrap();
    assert_eq!(size, frame.len());
    assert_eq!(command.request_code(), RequestCode::GET_ROUTEINFO_BY_TOPIC);
    assert_eq!(command.serialize_type, SerializeType::RocketMq);
    assert_eq!(command.language, LanguageCode::Cpp);
    assert_eq!((command.opaque, command.version, command.flag), (7, 409, 0));
    assert_eq!(command.remark.as_deref(), Some("from C"));
    assert_eq!(command.ext_fields.get("topic"), Some("TopicTest"));
    assert_eq!(
        command.ext_fields.get("acceptStandardJsonOnly"),
        Some("true")
    );
    assert_eq!(command.body, b"hello");
    // And the Rust encoder produces the same bytes from the decoded command.
    assert_eq!(command.to_frame().unwrap(), frame);

    let spec = run(&binary, "spec");
    let mut expected = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, 1)
        .with_serialize_type(SerializeType::RocketMq)
        .with_ext("topic", "T");
    expected.version = 401;
    assert_eq!(spec, expected.to_frame().unwrap());
    assert_eq!(spec.len(), 41, "the spec's 37-byte length word plus itself");
    let _ = std::fs::remove_dir_all(binary.parent().unwrap());
}
