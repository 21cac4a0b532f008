/*
 * arena.h - a bump allocator for protobuf-c, so that unpacking on the hot
 * path does not call malloc and free for every field of every message.
 *
 * Unpack with arena_allocator(a) inside a scope opened by arena_mark and
 * closed by arena_release: what was unpacked in the scope is gone at its
 * end, all at once (free_unpacked need not be called; if it is, with the
 * same allocator, it does nothing). Nothing unpacked in a scope may be kept
 * past it. Scopes nest. Memory beyond the first chunk comes in further
 * chunks, returned when the outermost scope ends.
 */
#ifndef KR_ARENA_H
#define KR_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* 1 when this build runs under AddressSanitizer, which then catches a
 * pointer kept past its scope: released memory is poisoned. GCC says so
 * with __SANITIZE_ADDRESS__; clang 14 does not define that and answers
 * __has_feature(address_sanitizer) instead. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifndef ARENA_ASAN
#define ARENA_ASAN 0
#endif

struct arena_chunk;

struct arena {
    struct arena_chunk *head; /* the chunk allocations come from */
    struct arena_chunk *first;
    size_t chunk_size;
    ProtobufCAllocator pa;
};

/* Where a scope began. */
struct arena_mark {
    struct arena_chunk *chunk;
    size_t used;
};

/* chunk_size: bytes of the first chunk and the least of each further one. */
void arena_init(struct arena *a, size_t chunk_size);
void arena_fini(struct arena *a);
ProtobufCAllocator *arena_allocator(struct arena *a);
/* size bytes in the open scope, 16-byte aligned; NULL only on overflow. */
void *arena_alloc(struct arena *a, size_t size);
struct arena_mark arena_mark(const struct arena *a);
void arena_release(struct arena *a, struct arena_mark m);
/* Bytes held in chunks beyond the first (0 when no scope is open). */
size_t arena_extra(const struct arena *a);

#endif
