/* buf.c - see buf.h. */
#include "buf.h"

#include <stdlib.h>

#include "util.h"

void
buf_reserve(struct kr_buf *b, size_t n)
{
    if (n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < n)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void
buf_pack(struct kr_buf *b, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);

    buf_reserve(b, n);
    b->len = protobuf_c_message_pack(m, b->data);
}

void
buf_free(struct kr_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
