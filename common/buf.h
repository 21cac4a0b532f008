/*
 * buf.h - a growable byte buffer, reused across messages so that packing a
 * frame on the hot path does not allocate once the buffer has grown.
 */
#ifndef KR_BUF_H
#define KR_BUF_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

struct kr_buf {
    uint8_t *data;
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated */
};

/* Make room for n bytes in total (daemons: aborts on out of memory). */
void buf_reserve(struct kr_buf *b, size_t n);
/* Pack a protobuf message into b (replacing its contents). */
void buf_pack(struct kr_buf *b, const ProtobufCMessage *m);
void buf_free(struct kr_buf *b);

#endif
