/*
 * rocketmq_wire.h: the RocketMQ 4.x remoting frame and its binary ("ROCKETMQ") header
 * serialisation, for clients written in C or any language that can read a C header.
 *
 * This is the same layout the Rust `wire` crate decodes and the Java and Go clients speak.
 * Every integer is big-endian (network order).
 *
 * Frame:
 *   +----------+------+------------+------------------+----------------+
 *   | length   | type | header len | header           | body           |
 *   | int32    | u8   | uint24     | header len bytes | the rest       |
 *   +----------+------+------------+------------------+----------------+
 *   length = 4 + header len + body len (everything after the length word itself)
 *   type   = RMQ_SERIALIZE_JSON (0) or RMQ_SERIALIZE_ROCKETMQ (1)
 *   The whole frame (length + 4) must not exceed RMQ_FRAME_SIZE_MAX_DEFAULT unless the
 *   server was configured otherwise; an oversized frame makes the server close the connection.
 *
 * ROCKETMQ header (type 1), fields in this order:
 *   +------+------+---------+--------+------+-----------+--------+--------+------------+
 *   | code | lang | version | opaque | flag | remarkLen | remark | extLen | ext fields |
 *   | i16  | u8   | i16     | i32    | i32  | i32       | UTF-8  | i32    | extLen B   |
 *   +------+------+---------+--------+------+-----------+--------+--------+------------+
 *   21 fixed bytes; remarkLen 0 means no remark.
 *   ext field entry: keyLen i16 | key UTF-8 | valueLen i32 | value UTF-8
 *   (extLen counts the bytes of all entries; every value is text, numbers in decimal).
 *
 * flag: bit 0 (RMQ_FLAG_RESPONSE) marks a response, bit 1 (RMQ_FLAG_ONEWAY) a request that
 * expects no answer. A response echoes its request's opaque.
 */
#ifndef ROCKETMQ_WIRE_H
#define ROCKETMQ_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Sizes. */
#define RMQ_LENGTH_FIELD_SIZE 4
#define RMQ_HEADER_LENGTH_FIELD_SIZE 4 /* 1 byte type + 3 bytes header length */
#define RMQ_BINARY_HEADER_FIXED_SIZE 21
#define RMQ_HEADER_SIZE_MAX 0xFFFFFF
#define RMQ_FRAME_SIZE_MAX_DEFAULT (16 * 1024 * 1024) /* whole frame, length word included */

/* Serialize types (the byte after the length word). */
#define RMQ_SERIALIZE_JSON 0
#define RMQ_SERIALIZE_ROCKETMQ 1

/* Flag bits. */
#define RMQ_FLAG_RESPONSE 1
#define RMQ_FLAG_ONEWAY 2

/* Language codes (byte in the binary header; the enum name in JSON headers). */
#define RMQ_LANGUAGE_JAVA 0
#define RMQ_LANGUAGE_CPP 1
#define RMQ_LANGUAGE_DOTNET 2
#define RMQ_LANGUAGE_PYTHON 3
#define RMQ_LANGUAGE_DELPHI 4
#define RMQ_LANGUAGE_ERLANG 5
#define RMQ_LANGUAGE_RUBY 6
#define RMQ_LANGUAGE_OTHER 7
#define RMQ_LANGUAGE_HTTP 8
#define RMQ_LANGUAGE_GO 9
#define RMQ_LANGUAGE_PHP 10
#define RMQ_LANGUAGE_OMS 11
#define RMQ_LANGUAGE_RUST 12

/* Version: a 4.x client sends its MQVersion ordinal; 409 is 4.9.8. */
#define RMQ_VERSION_4_9_8 409

/* A few request codes. */
#define RMQ_SEND_MESSAGE 10
#define RMQ_PULL_MESSAGE 11
#define RMQ_QUERY_CONSUMER_OFFSET 14
#define RMQ_UPDATE_CONSUMER_OFFSET 15
#define RMQ_HEART_BEAT 34
#define RMQ_REGISTER_BROKER 103
#define RMQ_GET_ROUTEINFO_BY_TOPIC 105
#define RMQ_GET_BROKER_CLUSTER_INFO 106
#define RMQ_SEND_MESSAGE_V2 310
#define RMQ_SEND_BATCH_MESSAGE 320

/* A few response codes. */
#define RMQ_SUCCESS 0
#define RMQ_SYSTEM_ERROR 1
#define RMQ_SYSTEM_BUSY 2
#define RMQ_REQUEST_CODE_NOT_SUPPORTED 3
#define RMQ_TOPIC_NOT_EXIST 17
#define RMQ_PULL_NOT_FOUND 19
#define RMQ_QUERY_NOT_FOUND 22

/* One ext field (the typed header's fields, all as text). */
struct rmq_ext_field {
    const char *key;
    const char *value;
};

/* The fields of a command's binary header. */
struct rmq_command {
    int16_t code;
    uint8_t language;
    int16_t version;
    int32_t opaque;
    int32_t flag;
    const char *remark; /* NULL for none */
    const struct rmq_ext_field *ext_fields;
    size_t ext_field_count;
};

static inline void rmq_put_u16(uint8_t *out, uint16_t value) {
    out[0] = (uint8_t)(value >> 8);
    out[1] = (uint8_t)value;
}

static inline void rmq_put_u32(uint8_t *out, uint32_t value) {
    out[0] = (uint8_t)(value >> 24);
    out[1] = (uint8_t)(value >> 16);
    out[2] = (uint8_t)(value >> 8);
    out[3] = (uint8_t)value;
}

static inline uint32_t rmq_get_u32(const uint8_t *in) {
    return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
}

/* Size of the binary header of `command`. */
static inline size_t rmq_binary_header_size(const struct rmq_command *command) {
    size_t size = RMQ_BINARY_HEADER_FIXED_SIZE;
    size_t i;
    if (command->remark != NULL) {
        size += strlen(command->remark);
    }
    for (i = 0; i < command->ext_field_count; i++) {
        size += 2 + strlen(command->ext_fields[i].key) + 4 + strlen(command->ext_fields[i].value);
    }
    return size;
}

/*
 * Encodes a whole frame (length word, binary header, body) into `out`. Returns the frame size,
 * or -1 if it does not fit in `capacity` or exceeds the protocol's limits.
 */
static inline long rmq_encode_frame(const struct rmq_command *command, const uint8_t *body,
                                    size_t body_size, uint8_t *out, size_t capacity) {
    size_t header_size = rmq_binary_header_size(command);
    size_t frame_size = RMQ_LENGTH_FIELD_SIZE + RMQ_HEADER_LENGTH_FIELD_SIZE + header_size + body_size;
    size_t remark_size = command->remark != NULL ? strlen(command->remark) : 0;
    size_t ext_size = header_size - RMQ_BINARY_HEADER_FIXED_SIZE - remark_size;
    uint8_t *p = out;
    size_t i;
    if (header_size > RMQ_HEADER_SIZE_MAX || frame_size > capacity || frame_size > 0x7FFFFFFF) {
        return -1;
    }
    rmq_put_u32(p, (uint32_t)(frame_size - RMQ_LENGTH_FIELD_SIZE));
    rmq_put_u32(p + 4, (uint32_t)RMQ_SERIALIZE_ROCKETMQ << 24 | (uint32_t)header_size);
    p += 8;
    rmq_put_u16(p, (uint16_t)command->code);
    p[2] = command->language;
    rmq_put_u16(p + 3, (uint16_t)command->version);
    rmq_put_u32(p + 5, (uint32_t)command->opaque);
    rmq_put_u32(p + 9, (uint32_t)command->flag);
    rmq_put_u32(p + 13, (uint32_t)remark_size);
    p += 17;
    if (remark_size > 0) {
        memcpy(p, command->remark, remark_size);
        p += remark_size;
    }
    rmq_put_u32(p, (uint32_t)ext_size);
    p += 4;
    for (i = 0; i < command->ext_field_count; i++) {
        size_t key_size = strlen(command->ext_fields[i].key);
        size_t value_size = strlen(command->ext_fields[i].value);
        rmq_put_u16(p, (uint16_t)key_size);
        memcpy(p + 2, command->ext_fields[i].key, key_size);
        p += 2 + key_size;
        rmq_put_u32(p, (uint32_t)value_size);
        memcpy(p + 4, command->ext_fields[i].value, value_size);
        p += 4 + value_size;
    }
    if (body_size > 0) {
        memcpy(p, body, body_size);
    }
    return (long)frame_size;
}

#endif /* ROCKETMQ_WIRE_H */
