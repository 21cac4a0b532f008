/*
 * pcimage.c - the power-cut image builder (pcimage.h): replays a
 * recorder's log (pcrec.h) onto the file as it was when the recording
 * began.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcimage.h"
#include "pcrec.h"

#define S_MAX_FILES 64

struct s_rec {
    struct pc_rec h;     /* a copy: records in the log are not aligned */
    const uint8_t *data; /* payload, h->len bytes */
    uint64_t done;       /* PC_WRITE: index of its PC_DONE, or UINT64_MAX */
    int64_t res;         /* PC_WRITE: bytes written (if done) */
};

struct pc_log {
    uint8_t *buf; /* the whole log */
    size_t len;
    struct s_rec *recs;
    uint64_t n;
    char names[S_MAX_FILES][256]; /* base names by file id */
    uint32_t nfiles;
    /* Per file: the largest PC_FBEGIN index among flushes that returned
     * 0 (+1; 0: none). What was complete before it is durable. */
    uint64_t durable_before[S_MAX_FILES];
    uint64_t writes, flushes;
};

static int
s_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int
s_read_all(const char *path, uint8_t **buf, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len ? *len : 1);
    size_t at = 0;
    while (*buf != NULL && at < *len) {
        ssize_t r = read(fd, *buf + at, *len - at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        at += (size_t)r;
    }
    close(fd);
    if (*buf == NULL || at != *len) {
        free(*buf);
        *buf = NULL;
        return -1;
    }
    return 0;
}

int
pc_log_load(const char *path, struct pc_log **out, char *err, size_t errlen)
{
    struct pc_log *l = calloc(1, sizeof(*l));
    uint64_t cap = 0;

    if (l == NULL)
        return s_err(err, errlen, "out of memory");
    if (s_read_all(path, &l->buf, &l->len) != 0) {
        free(l);
        return s_err(err, errlen, "read %s: %s", path, strerror(errno));
    }
    size_t at = 0;
    while (at + sizeof(struct pc_rec) <= l->len) {
        struct pc_rec hv;
        memcpy(&hv, l->buf + at, sizeof(hv));
        const struct pc_rec *h = &hv;
        if (h->magic != PC_MAGIC) {
            pc_log_free(&l);
            return s_err(err, errlen, "%s: no record at byte %zu", path, at);
        }
        if (h->len > l->len - at - sizeof(*h))
            break; /* cut short by the kill */
        if (l->n == cap) {
            cap = cap ? 2 * cap : 4096;
            struct s_rec *r = realloc(l->recs, cap * sizeof(*r));
            if (r == NULL) {
                pc_log_free(&l);
                return s_err(err, errlen, "out of memory");
            }
            l->recs = r;
        }
        struct s_rec *r = &l->recs[l->n];
        r->h = hv;
        r->data = l->buf + at + sizeof(*h);
        r->done = UINT64_MAX;
        r->res = 0;
        if (h->type != PC_OPEN && h->type != PC_FBEGIN && h->type != PC_FEND &&
            h->file >= S_MAX_FILES && h->file != PC_ALL_FILES) {
            pc_log_free(&l);
            return s_err(err, errlen, "%s: record %llu names file %u", path,
                         (unsigned long long)l->n, h->file);
        }
        switch (h->type) {
        case PC_OPEN:
            if (h->file < S_MAX_FILES) {
                const char *p = (const char *)r->data;
                size_t n = (size_t)h->len;
                const char *base = memrchr(p, '/', n);
                base = base ? base + 1 : p;
                snprintf(l->names[h->file], sizeof(l->names[0]), "%.*s",
                         (int)(n - (size_t)(base - p)), base);
                if (h->file + 1 > l->nfiles)
                    l->nfiles = h->file + 1;
            }
            break;
        case PC_WRITE:
            l->writes++;
            break;
        case PC_DONE:
            if (h->ref < l->n && l->recs[h->ref].h.type == PC_WRITE) {
                l->recs[h->ref].done = l->n;
                l->recs[h->ref].res = h->res;
            }
            break;
        case PC_FEND: {
            if (h->ref >= l->n || l->recs[h->ref].h.type != PC_FBEGIN)
                break;
            const struct pc_rec *b = &l->recs[h->ref].h;
            if (h->res != 0 || b->aux == PC_FL_SYNC_RANGE)
                break;
            l->flushes++;
            for (uint32_t f = 0; f < S_MAX_FILES; f++)
                if (b->file == f || b->file == PC_ALL_FILES)
                    if (h->ref + 1 > l->durable_before[f])
                        l->durable_before[f] = h->ref + 1;
            break;
        }
        case PC_UNSUP: {
            const char *what = h->aux == PC_U_SHARED_WRITABLE_MAP
                                   ? "mapped it shared and writable (writes "
                                     "through memory are not seen)"
                               : h->aux == PC_U_DUP
                                   ? "duplicated a descriptor of it"
                                   : "called an unsupported function on it";
            int rc = s_err(err, errlen,
                           "%s: the daemon %s: file %u (%s): the recorder "
                           "cannot model this store",
                           path, what, h->file,
                           h->file < S_MAX_FILES ? l->names[h->file] : "?");
            pc_log_free(&l);
            return rc;
        }
        default:
            break;
        }
        l->n++;
        at += sizeof(*h) + (size_t)h->len;
    }
    *out = l;
    return 0;
}

void
pc_log_free(struct pc_log **lp)
{
    struct pc_log *l = *lp;

    if (l == NULL)
        return;
    free(l->recs);
    free(l->buf);
    free(l);
    *lp = NULL;
}

int
pc_log_file(const struct pc_log *l, const char *name)
{
    for (uint32_t i = 0; i < l->nfiles; i++)
        if (strcmp(l->names[i], name) == 0)
            return (int)i;
    return -1;
}

void
pc_log_counts(const struct pc_log *l, uint64_t *records, uint64_t *writes,
              uint64_t *flushes)
{
    *records = l->n;
    *writes = l->writes;
    *flushes = l->flushes;
}

const char *
pc_variant_name(enum pc_variant v)
{
    switch (v) {
    case PC_IMG_DURABLE:
        return "durable";
    case PC_IMG_SUBSET:
        return "subset";
    case PC_IMG_TORN_4K:
        return "torn-4k";
    case PC_IMG_TORN_512:
        return "torn-512";
    }
    return "?";
}

static int
s_pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int
s_zero(int fd, uint64_t off, uint64_t len)
{
    static const uint8_t zeros[65536];

    while (len > 0) {
        size_t k = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
        if (s_pwrite_all(fd, zeros, k, off) != 0)
            return -1;
        off += k;
        len -= k;
    }
    return 0;
}

/* Whether record i of file f is durable (see pcimage.h). */
static bool
s_durable(const struct pc_log *l, uint64_t i, uint32_t f)
{
    const struct s_rec *r = &l->recs[i];

    if (r->h.type == PC_WRITE) {
        if (r->done == UINT64_MAX)
            return false;
        if (r->h.flags & PC_F_DSYNC)
            return true;
        return r->done < l->durable_before[f];
    }
    return i < l->durable_before[f];
}

int
pc_image_build(const struct pc_log *l, int file, const char *base,
               const char *out, enum pc_variant v, uint64_t *rng,
               struct pc_image_stats *st, char *err, size_t errlen)
{
    uint8_t *bbuf = NULL;
    size_t blen = 0;
    uint64_t size = 0;
    int fd = -1;

    memset(st, 0, sizeof(*st));
    if (file < 0 || (uint32_t)file >= l->nfiles)
        return s_err(err, errlen, "no recorded file %d", file);
    uint32_t f = (uint32_t)file;
    if (base != NULL && access(base, F_OK) == 0 &&
        s_read_all(base, &bbuf, &blen) != 0)
        return s_err(err, errlen, "read %s: %s", base, strerror(errno));
    fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(bbuf);
        return s_err(err, errlen, "create %s: %s", out, strerror(errno));
    }
    if (blen > 0 && s_pwrite_all(fd, bbuf, blen, 0) != 0)
        goto fail_io;
    size = blen;
    free(bbuf);
    bbuf = NULL;

    uint64_t unit = v == PC_IMG_TORN_4K ? 4096 : v == PC_IMG_TORN_512 ? 512 : 0;
    for (uint64_t i = 0; i < l->n; i++) {
        const struct s_rec *r = &l->recs[i];
        const struct pc_rec *h = &r->h;
        if (h->file != f)
            continue;
        if (h->type == PC_TRUNC || h->type == PC_FALLOC) {
            /* Size changes count only once durable: a later one would at
             * most change the size, which LMDB does not rely on. */
            if (!s_durable(l, i, f))
                continue;
            if (h->type == PC_TRUNC) {
                if (ftruncate(fd, (off_t)h->off) != 0)
                    goto fail_io;
                size = h->off;
            } else {
                uint64_t end = h->off + (uint64_t)h->res;
                bool keep = (h->aux & 0x01) != 0; /* FALLOC_FL_KEEP_SIZE */
                bool zero = (h->aux & (0x02 | 0x10)) != 0; /* punch, zero */
                if (zero && s_zero(fd, h->off, (uint64_t)h->res) != 0)
                    goto fail_io;
                if (!keep && end > size) {
                    if (ftruncate(fd, (off_t)end) != 0)
                        goto fail_io;
                    size = end;
                }
            }
            continue;
        }
        if (h->type != PC_WRITE)
            continue;
        uint64_t n = h->len;
        if (r->done != UINT64_MAX) {
            if (r->res <= 0)
                continue; /* failed: wrote nothing */
            if ((uint64_t)r->res < n)
                n = (uint64_t)r->res;
        }
        bool durable = s_durable(l, i, f);
        if (durable) {
            st->durable++;
        } else {
            st->later++;
            if (v == PC_IMG_DURABLE)
                continue;
        }
        if (durable || unit == 0) {
            if (!durable) {
                if (pc_rand(rng) & 1)
                    continue;
                st->later_taken++;
            }
            if (s_pwrite_all(fd, r->data, (size_t)n, h->off) != 0)
                goto fail_io;
            if (h->off + n > size)
                size = h->off + n;
            continue;
        }
        /* Torn: the write in pieces cut at multiples of 'unit' of the
         * file's offset, each piece on the disk or not. */
        bool any = false;
        for (uint64_t at = 0; at < n;) {
            uint64_t end = (h->off + at) / unit * unit + unit - h->off;
            if (end > n)
                end = n;
            if (pc_rand(rng) & 1) {
                if (s_pwrite_all(fd, r->data + at, (size_t)(end - at),
                                 h->off + at) != 0)
                    goto fail_io;
                if (h->off + end > size)
                    size = h->off + end;
                any = true;
            } else {
                st->pieces_torn++;
            }
            at = end;
        }
        if (any)
            st->later_taken++;
    }
    st->size = size;
    if (close(fd) != 0)
        return s_err(err, errlen, "close %s: %s", out, strerror(errno));
    return 0;
fail_io:
    free(bbuf);
    close(fd);
    return s_err(err, errlen, "write %s: %s", out, strerror(errno));
}
