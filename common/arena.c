/*
 * arena.c - see arena.h. Chunks form a list from the first; a scope
 * remembers the chunk and offset it began at, and its release takes the
 * list back there, freeing the chunks added since.
 */
#include <stdint.h>
#include <stdlib.h>

#include "arena.h"
#include "util.h"

#define S_ALIGN 16

/* In the sanitizer build, memory of a released scope is poisoned: a
 * pointer kept past its scope is then caught where it is used. */
#if ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define S_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define S_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define S_POISON(p, n) ((void)(p), (void)(n))
#define S_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct arena_chunk {
    struct arena_chunk *next;
    size_t size, used;
    _Alignas(S_ALIGN) unsigned char data[];
};

static struct arena_chunk *
s_chunk_new(size_t size)
{
    struct arena_chunk *c = xmalloc(sizeof(*c) + size);

    c->next = NULL;
    c->size = size;
    c->used = 0;
    S_POISON(c->data, size);
    return c;
}

static void *
s_alloc(void *data, size_t size)
{
    struct arena *a = data;
    struct arena_chunk *c = a->head;
    size_t need = (size + S_ALIGN - 1) & ~(size_t)(S_ALIGN - 1);

    if (need < size)
        return NULL; /* overflow: protobuf-c reports it as out of memory */
    if (c->size - c->used < need) {
        /* A further chunk, at least as large as the request. */
        size_t sz = need > a->chunk_size ? need : a->chunk_size;
        struct arena_chunk *n = s_chunk_new(sz);
        c->next = n;
        a->head = c = n;
    }
    void *p = c->data + c->used;
    c->used += need;
    S_UNPOISON(p, size);
    return p;
}

static void
s_free(void *data, void *p)
{
    /* Released with the scope. */
    (void)data;
    (void)p;
}

void
arena_init(struct arena *a, size_t chunk_size)
{
    a->chunk_size = chunk_size > 0 ? chunk_size : 4096;
    a->first = a->head = s_chunk_new(a->chunk_size);
    a->pa.alloc = s_alloc;
    a->pa.free = s_free;
    a->pa.allocator_data = a;
}

void
arena_fini(struct arena *a)
{
    struct arena_chunk *c = a->first;

    while (c != NULL) {
        struct arena_chunk *next = c->next;
        S_UNPOISON(c->data, c->size);
        free(c);
        c = next;
    }
    a->first = a->head = NULL;
}

ProtobufCAllocator *
arena_allocator(struct arena *a)
{
    return &a->pa;
}

void *
arena_alloc(struct arena *a, size_t size)
{
    return s_alloc(a, size);
}

struct arena_mark
arena_mark(const struct arena *a)
{
    return (struct arena_mark){a->head, a->head->used};
}

void
arena_release(struct arena *a, struct arena_mark m)
{
    struct arena_chunk *c = m.chunk->next;

    while (c != NULL) {
        struct arena_chunk *next = c->next;
        S_UNPOISON(c->data, c->size);
        free(c);
        c = next;
    }
    m.chunk->next = NULL;
    S_POISON(m.chunk->data + m.used, m.chunk->used - m.used);
    m.chunk->used = m.used;
    a->head = m.chunk;
}

size_t
arena_extra(const struct arena *a)
{
    size_t n = 0;

    for (const struct arena_chunk *c = a->first->next; c != NULL; c = c->next)
        n += c->size;
    return n;
}
