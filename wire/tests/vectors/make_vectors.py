#!/usr/bin/env python3
"""Builds the golden frames in this folder straight from the protocol reference, byte by byte.

This is an independent encoder (it shares no code with the Rust crate) so that the golden
vectors check our codec against the spec rather than against itself. Run it from this folder;
it rewrites the *.hex files (one frame per file, hex, 32 bytes per line).
"""
import json
import struct
import zlib

def frame(serialize_type, header, body=b""):
    return struct.pack(">i", 4 + len(header) + len(body)) + \
        struct.pack(">I", serialize_type << 24 | len(header)) + header + body

def json_header(code, opaque, flag, ext, version=401, language="JAVA", remark=None):
    # fastjson: bean fields alphabetical, nulls omitted, ext values strings, no whitespace.
    parts = ['"code":%d' % code]
    if ext:
        parts.append('"extFields":{%s}' % ",".join(
            json.dumps(k) + ":" + json.dumps(v) for k, v in ext))
    parts += ['"flag":%d' % flag, '"language":"%s"' % language, '"opaque":%d' % opaque]
    if remark is not None:
        parts.append('"remark":' + json.dumps(remark))
    parts += ['"serializeTypeCurrentRPC":"JSON"', '"version":%d' % version]
    return ("{" + ",".join(parts) + "}").encode()

def binary_header(code, language, version, opaque, flag, remark, ext):
    out = struct.pack(">hBhii", code, language, version, opaque, flag)
    remark_bytes = remark.encode() if remark else b""
    out += struct.pack(">i", len(remark_bytes)) + remark_bytes
    entries = b""
    for key, value in ext:
        k, v = key.encode(), value.encode()
        entries += struct.pack(">h", len(k)) + k + struct.pack(">i", len(v)) + v
    return out + struct.pack(">i", len(entries)) + entries

def properties(pairs):
    return "\x02".join(k + "\x01" + v for k, v in pairs).encode()

def stored_record(queue_id, queue_offset, commit_log_offset, born_host, store_host, topic,
                  body, props, born_ts, store_ts, sys_flag=0):
    born_ip, born_port = born_host
    store_ip, store_port = store_host
    if len(born_ip) == 16:
        sys_flag |= 0x10
    if len(store_ip) == 16:
        sys_flag |= 0x20
    topic_bytes = topic.encode()
    rest = struct.pack(">iiqqiq", queue_id, 0x5A, queue_offset, commit_log_offset, sys_flag,
                       born_ts)
    rest += born_ip + struct.pack(">i", born_port) + struct.pack(">q", store_ts)
    rest += store_ip + struct.pack(">i", store_port)
    rest += struct.pack(">iq", 1, 0)  # reconsume times, prepared transaction offset
    rest += struct.pack(">i", len(body)) + body
    rest += struct.pack(">b", len(topic_bytes)) + topic_bytes
    rest += struct.pack(">h", len(props)) + props
    crc = zlib.crc32(body) & 0x7FFFFFFF
    total = 4 + 4 + 4 + len(rest)
    return struct.pack(">iIi", total, 0xDAA320A7, crc) + rest

def write(name, data):
    with open(name, "w") as out:
        hexed = data.hex().upper()
        for start in range(0, len(hexed), 64):
            out.write(hexed[start:start + 64] + "\n")

HEARTBEAT_BODY = (
    '{"clientID":"10.0.0.5@4242#81234567890123","consumerDataSet":[{"consumeFromWhere":'
    '"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"cg",'
    '"messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[],'
    '"expressionType":"TAG","subString":"*","subVersion":1700000000000,"tagsSet":[],'
    '"topic":"TopicTest"},{"classFilterMode":false,"codeSet":[],"expressionType":"TAG",'
    '"subString":"*","subVersion":1700000000001,"tagsSet":[],"topic":"%RETRY%cg"}],'
    '"unitMode":false}],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}')

REGISTER_BODY = (
    '{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,'
    '"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"order":false,"perm":6,'
    '"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest",'
    '"topicSysFlag":0,"writeQueueNums":4}}}}')

def main():
    write("json_heartbeat.hex",
          frame(0, json_header(34, 12, 0, []), HEARTBEAT_BODY.encode()))

    send_ext = [("a", "ProducerGroupName"), ("b", "TopicTest"), ("c", "TBW102"), ("d", "4"),
                ("e", "2"), ("f", "0"), ("g", "1700000000123"), ("h", "0"),
                ("i", properties([("TAGS", "TagA"), ("KEYS", "k1"), ("WAIT", "true"),
                                  ("UNIQ_KEY", "0A00000510922A3F1C2E0C8B7D0B0000")]).decode()),
                ("j", "0"), ("k", "false"), ("m", "false")]
    write("binary_send_message_v2.hex",
          frame(1, binary_header(310, 0, 401, 44, 0, None, send_ext), b"Hello RocketMQ"))

    ipv4 = bytes([127, 0, 0, 1])
    ipv6 = bytes(15) + b"\x01"
    first = stored_record(1, 7, 1024, (ipv4, 50123), (ipv4, 10911), "TopicTest", b"first",
                          properties([("TAGS", "TagA"), ("CLUSTER", "DefaultCluster")]),
                          1700000000000, 1700000000005)
    second = stored_record(1, 8, 1024 + len(first), (ipv6, 50124), (ipv4, 10911), "TopicTest",
                           b"second body", properties([("KEYS", "order-1 order-2")]),
                           1700000000010, 1700000000012)
    pull_ext = [("suggestWhichBrokerId", "0"), ("nextBeginOffset", "9"), ("minOffset", "0"),
                ("maxOffset", "9")]
    write("pull_response_two_messages.hex",
          frame(0, json_header(0, 45, 1, pull_ext, remark="FOUND"), first + second))

    register_ext = [("brokerAddr", "127.0.0.1:10911"), ("brokerId", "0"),
                    ("brokerName", "broker-a"), ("bodyCrc32",
                                                 str(zlib.crc32(REGISTER_BODY.encode()) & 0x7FFFFFFF)),
                    ("clusterName", "DefaultCluster"), ("compressed", "false"),
                    ("haServerAddr", "127.0.0.1:10912")]
    write("register_broker.hex",
          frame(0, json_header(103, 3, 0, register_ext), REGISTER_BODY.encode()))

if __name__ == "__main__":
    main()
