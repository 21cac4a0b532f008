/* util.c - see util.h. */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <malloc.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* util_clock_advance(): how far the test moved both clocks. Only ever
 * grows, so that the monotonic clock stays monotonic. */
static uint64_t s_clock_skew_ms;

uint64_t
util_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u +
           s_clock_skew_ms;
}

uint64_t
util_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u +
           s_clock_skew_ms;
}

void
util_clock_advance(uint64_t ms)
{
    s_clock_skew_ms += ms;
}

char *
util_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

static int
s_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
util_unhex(const char *hex, uint8_t *out, size_t len)
{
    if (hex == NULL || strlen(hex) != 2 * len)
        return KR_EINVAL;
    for (size_t i = 0; i < len; i++) {
        int hi = s_nibble(hex[2 * i]), lo = s_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return KR_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return KR_OK;
}

void
util_random_id(uint8_t id[KR_ID_LEN])
{
    randombytes_buf(id, KR_ID_LEN);
}

void
util_time_ordered_id(uint8_t id[KR_ID_LEN])
{
    uint64_t ms = util_now_ms();

    for (int i = 5; i >= 0; i--, ms >>= 8)
        id[i] = (uint8_t)ms;
    randombytes_buf(id + 6, KR_ID_LEN - 6);
}

int
util_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    /* strtoull() skips any leading white space and accepts a sign (and
     * wraps "-1" to the largest value): only a digit may start a number. */
    if (s == NULL || *s < '0' || *s > '9')
        return KR_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return KR_EINVAL;
    *out = v;
    return KR_OK;
}

int
util_parse_bool(const char *s, bool *out)
{
    if (s == NULL)
        return KR_EINVAL;
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1") ||
        !strcasecmp(s, "on")) {
        *out = true;
        return KR_OK;
    }
    if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0") ||
        !strcasecmp(s, "off")) {
        *out = false;
        return KR_OK;
    }
    return KR_EINVAL;
}

bool
util_org_id_valid(const char *org_id)
{
    static const struct {
        const char *scheme;
        size_t max_digits;
    } schemes[] = {{"ura:", 8}, {"agb:", 8}, {"oin:", 20}, {"kvk:", 8}};

    if (org_id == NULL || strlen(org_id) >= KR_ORG_ID_MAX)
        return false;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t sl = strlen(schemes[i].scheme);
        if (strncmp(org_id, schemes[i].scheme, sl) != 0)
            continue;
        const char *v = org_id + sl;
        size_t n = strlen(v);
        if (n == 0 || n > schemes[i].max_digits)
            return false;
        for (size_t k = 0; k < n; k++)
            if (v[k] < '0' || v[k] > '9')
                return false;
        return true;
    }
    return false;
}

static const char *s_categories[] = {
    NULL,       "verloskunde", "kraamzorg",    "ziekenhuis",  "jgz",
    "wijkteam", "gemeente",    "veilig-thuis", "coordinator",
};
#define S_NCATEGORIES (sizeof(s_categories) / sizeof(s_categories[0]))

const char *
util_category_name(int cat)
{
    if (cat <= 0 || (size_t)cat >= S_NCATEGORIES)
        return "unknown";
    return s_categories[cat];
}

int
util_category_parse(const char *name)
{
    for (size_t i = 1; name != NULL && i < S_NCATEGORIES; i++)
        if (strcmp(name, s_categories[i]) == 0)
            return (int)i;
    return -1;
}

int
util_read_file(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f;
    char *buf = NULL;
    size_t n = 0, cap = 4096;
    int rc = KR_EIO;

    if ((f = fopen(path, "rb")) == NULL)
        return errno == ENOENT ? KR_ENOTFOUND : KR_EIO;
    if ((buf = malloc(cap + 1)) == NULL) {
        rc = KR_ENOMEM;
        goto fail;
    }
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > max) {
            rc = KR_EINVAL;
            goto fail;
        }
        if (got == 0)
            break;
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (nb == NULL) {
                rc = KR_ENOMEM;
                goto fail;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (ferror(f))
        goto fail;
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    if (len != NULL)
        *len = n;
    return KR_OK;
fail:
    free(buf);
    fclose(f);
    return rc;
}

int
util_write_file_atomic(const char *path, const void *data, size_t len,
                       unsigned mode)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    int fd = -1, dfd = -1;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
            (int)sizeof(tmp) ||
        snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
        return KR_EINVAL;
    /* O_EXCL: never write through a file or link someone else put there. */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return KR_EIO;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    /* The data must be on disk before the rename makes it visible. */
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return KR_OK;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return KR_EIO;
}

void
util_malloc_keep(void)
{
    /* Setting either value turns off glibc's own moving thresholds, so
     * both are set: a low mmap threshold alone would munmap (and shoot
     * down TLBs) for every large frame instead. */
    if (mallopt(M_MMAP_THRESHOLD, 8 << 20) != 1 ||
        mallopt(M_TRIM_THRESHOLD, 64 << 20) != 1)
        log_warnx("memory: mallopt refused: freed memory goes back to "
                  "the system at once");
}

static void
s_oom(size_t n)
{
    log_errorx("memory: out of memory allocating %zu bytes: aborting", n);
    abort();
}

void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        s_oom(n);
    return p;
}

void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        s_oom(n * size);
    return p;
}

void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        s_oom(n);
    return q;
}

char *
xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        s_oom(strlen(s));
    return p;
}
