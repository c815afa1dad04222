/*
 * Encodes requests with rocketmq_wire.h alone and writes the frame bytes to stdout, for
 * wire/tests/c_header.rs to decode with the Rust codec.
 *   encode_request route    GET_ROUTEINFO_BY_TOPIC topic=TopicTest, opaque 7, version 409,
 *                           remark "from C", body "hello"
 *   encode_request spec     the spec's example: topic T, opaque 1, version 401, no body
 */
#include <stdio.h>
#include <string.h>

#include "rocketmq_wire.h"

int main(int argc, char **argv) {
    uint8_t frame[256];
    struct rmq_ext_field route_fields[] = {{"topic", "TopicTest"}, {"acceptStandardJsonOnly", "true"}};
    struct rmq_ext_field spec_fields[] = {{"topic", "T"}};
    struct rmq_command command;
    const uint8_t *body = NULL;
    size_t body_size = 0;
    long size;
    memset(&command, 0, sizeof command);
    command.code = RMQ_GET_ROUTEINFO_BY_TOPIC;
    command.language = RMQ_LANGUAGE_CPP;
    if (argc > 1 && strcmp(argv[1], "spec") == 0) {
        command.language = RMQ_LANGUAGE_JAVA;
        command.version = 401;
        command.opaque = 1;
        command.ext_fields = spec_fields;
        command.ext_field_count = 1;
    } else {
        command.version = RMQ_VERSION_4_9_8;
        command.opaque = 7;
        command.remark = "from C";
        command.ext_fields = route_fields;
        command.ext_field_count = 2;
        body = (const uint8_t *)"hello";
        body_size = 5;
    }
    size = rmq_encode_frame(&command, body, body_size, frame, sizeof frame);
    if (size < 0) {
        fprintf(stderr, "frame does not fit\n");
        return 1;
    }
    /* A buffer too small must be refused, not overrun. */
    if (rmq_encode_frame(&command, body, body_size, frame, (size_t)size - 1) != -1) {
        fprintf(stderr, "short buffer accepted\n");
        return 1;
    }
    if (fwrite(frame, 1, (size_t)size, stdout) != (size_t)size) {
        return 1;
    }
    return 0;
}
