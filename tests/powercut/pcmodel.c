/*
 * pcmodel.c - the recorder and the image builder against a known script:
 * this program runs itself with libpcrec.so preloaded, makes writes and
 * flushes whose durability is known (two descriptors, one O_DSYNC, a
 * second thread, sync_file_range, a file not recorded), dies by SIGKILL,
 * and checks what pcimage.c builds from the log: the durable image holds
 * exactly the durable writes; the subset image holds each later write
 * whole or not at all; the torn images hold each 4 KiB or 512-byte piece
 * whole or not at all, and over some seeds do tear a write. A child that
 * maps the store shared and writable makes the builder refuse the log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pcimage.h"

static int s_failures, s_checks;

static bool
s_check(bool ok, const char *fmt, ...)
{
    va_list ap;

    s_checks++;
    printf("%s - ", ok ? "ok  " : "FAIL");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!ok)
        s_failures++;
    return ok;
}

/* The script's regions: offset, length, fill byte, durable or not. */
struct s_region {
    unsigned off, len;
    char fill;
    bool durable;
};

static const struct s_region s_regions[] = {
    {0, 4096, 'A', true},            /* pwrite, then fdatasync */
    {12288, 2048, 'D', true},        /* writev, then fsync on the O_DSYNC fd */
    {14336, 2048, 'E', true},        /* the same writev's second piece */
    {8192, 512, 'C', true},          /* pwrite through the O_DSYNC descriptor */
    {16384, 4096, 'F', false},       /* pwrite, then only sync_file_range */
    {20480, 8192, 'G', false},       /* pwrite from a second thread, no flush */
    {4096 + 1024, 3072, 'B', false}, /* pwrite, unaligned, no flush */
};
#define S_NREGIONS (sizeof(s_regions) / sizeof(s_regions[0]))

static void
s_fill(char *buf, const struct s_region *r)
{
    memset(buf, r->fill, r->len);
}

static int s_fd;

static void *
s_thread(void *arg)
{
    static char buf[8192];
    (void)arg;
    s_fill(buf, &s_regions[5]);
    if (pwrite(s_fd, buf, 8192, 20480) != 8192)
        _exit(3);
    return NULL;
}

/* The child: the script, then death without any cleanup. */
static int
s_child(const char *dir, bool map)
{
    char path[512], other[512], buf[8192];
    struct iovec iov[2];
    pthread_t th;

    snprintf(path, sizeof(path), "%s/store.dat", dir);
    snprintf(other, sizeof(other), "%s/other.dat", dir);
    s_fd = open(path, O_RDWR | O_CREAT, 0600);
    int dfd = open(path, O_WRONLY | O_DSYNC);
    int ofd = open(other, O_RDWR | O_CREAT, 0600);
    if (s_fd < 0 || dfd < 0 || ofd < 0)
        return 2;
    if (map) {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s_fd, 0);
        (void)p;
        raise(SIGKILL);
    }
    s_fill(buf, &s_regions[0]);
    if (pwrite(s_fd, buf, 4096, 0) != 4096 || fdatasync(s_fd) != 0)
        return 2;
    if (lseek(s_fd, 12288, SEEK_SET) != 12288)
        return 2;
    static char d[2048], e[2048];
    s_fill(d, &s_regions[1]);
    s_fill(e, &s_regions[2]);
    iov[0] = (struct iovec){d, sizeof(d)};
    iov[1] = (struct iovec){e, sizeof(e)};
    if (writev(s_fd, iov, 2) != 4096 || fsync(dfd) != 0)
        return 2;
    s_fill(buf, &s_regions[3]);
    if (pwrite(dfd, buf, 512, 8192) != 512)
        return 2;
    s_fill(buf, &s_regions[4]);
    if (pwrite(s_fd, buf, 4096, 16384) != 4096 ||
        sync_file_range(s_fd, 16384, 4096,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER) != 0)
        return 2;
    if (pthread_create(&th, NULL, s_thread, NULL) != 0 ||
        pthread_join(th, NULL) != 0)
        return 2;
    s_fill(buf, &s_regions[6]);
    if (pwrite(s_fd, buf, 3072, 5120) != 3072)
        return 2;
    /* Not recorded (PCREC_FILES names store.dat only), flushed: it must
     * not make anything of store.dat durable. */
    if (pwrite(ofd, buf, 512, 0) != 512 || fdatasync(ofd) != 0)
        return 2;
    raise(SIGKILL);
    return 2;
}

static int
s_run_child(const char *self, const char *dir, const char *log, bool map)
{
    pid_t pid = fork();
    int status = 0;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        setenv("LD_PRELOAD", PC_REC_LIB, 1);
        setenv("PCREC_DIR", dir, 1);
        setenv("PCREC_FILES", "store.dat", 1);
        setenv("PCREC_LOG", log, 1);
        execl(self, self, map ? "--child-map" : "--child", dir, (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : -1;
}

static char *
s_read(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    char *buf = NULL;

    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    *len = (size_t)st.st_size;
    buf = calloc(1, *len + 1);
    if (buf != NULL && read(fd, buf, *len) != (ssize_t)*len) {
        free(buf);
        buf = NULL;
    }
    close(fd);
    return buf;
}

/* Per region, in units of 'unit' bytes of the file's offset: how many
 * pieces hold the region's data and how many do not. */
static void
s_pieces(const char *img, size_t len, const struct s_region *r, unsigned unit,
         unsigned *in, unsigned *out, bool *mixed)
{
    *in = *out = 0;
    *mixed = false;
    for (unsigned at = r->off; at < r->off + r->len;) {
        unsigned end = (at / unit + 1) * unit;
        if (end > r->off + r->len)
            end = r->off + r->len;
        unsigned have = 0;
        for (unsigned b = at; b < end; b++)
            have += b < len && img[b] == r->fill;
        if (have == end - at)
            (*in)++;
        else if (have == 0)
            (*out)++;
        else
            *mixed = true;
        at = end;
    }
}

int
main(int argc, char **argv)
{
    char dir[] = "/tmp/kr-pcmodel.XXXXXX", log[256], img[256];
    char err[512];
    struct pc_log *l = NULL;
    struct pc_image_stats st;

    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return s_child(argv[2], false);
    if (argc == 3 && strcmp(argv[1], "--child-map") == 0)
        return s_child(argv[2], true);
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Under ASan the recorder comes ahead of ASan's runtime. */
    const char *ao = getenv("ASAN_OPTIONS");
    char asan[1024];
    snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", ao ? ao : "",
             ao && *ao ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(log, sizeof(log), "%s/rec.log", dir);
    snprintf(img, sizeof(img), "%s/image.dat", dir);

    if (!s_check(s_run_child(argv[0], dir, log, false) == 0,
                 "the script runs under the recorder and dies by SIGKILL"))
        return 1;
    err[0] = '\0';
    if (!s_check(pc_log_load(log, &l, err, sizeof(err)) == 0,
                 "the log loads%s%s", err[0] ? ": " : "", err))
        return 1;
    uint64_t recs, writes, flushes;
    pc_log_counts(l, &recs, &writes, &flushes);
    s_check(writes == 6 && flushes == 2,
            "the log holds the 6 writes and 2 completed flushes of "
            "store.dat, not other.dat's (got %llu writes, %llu flushes)",
            (unsigned long long)writes, (unsigned long long)flushes);
    int f = pc_log_file(l, "store.dat");
    s_check(f >= 0 && pc_log_file(l, "other.dat") < 0,
            "store.dat is recorded, other.dat is not");

    /* The durable image: exactly the durable regions. */
    uint64_t rng = 1;
    size_t len = 0;
    s_check(pc_image_build(l, f, NULL, img, PC_IMG_DURABLE, &rng, &st, err,
                           sizeof(err)) == 0,
            "the durable image builds");
    char *buf = s_read(img, &len);
    s_check(st.durable == 3 && st.later == 3,
            "3 durable writes (fdatasync, fsync through the O_DSYNC "
            "descriptor, an O_DSYNC write), 3 later (got %llu, %llu)",
            (unsigned long long)st.durable, (unsigned long long)st.later);
    for (size_t i = 0; buf != NULL && i < S_NREGIONS; i++) {
        unsigned in, out;
        bool mixed;
        s_pieces(buf, len, &s_regions[i], 1, &in, &out, &mixed);
        if (s_regions[i].durable)
            s_check(out == 0, "durable image: region %c is there",
                    s_regions[i].fill);
        else
            s_check(in == 0, "durable image: later region %c is not",
                    s_regions[i].fill);
    }
    s_check(len == 16384, "durable image: size 16384 (got %zu)", len);
    free(buf);

    /* Variants over many seeds: whole, or torn only at the unit. */
    const enum pc_variant vs[] = {PC_IMG_SUBSET, PC_IMG_TORN_4K,
                                  PC_IMG_TORN_512};
    const unsigned units[] = {0, 4096, 512};
    for (size_t k = 0; k < 3; k++) {
        bool durable_ok = true, unit_ok = true, torn = false, whole = false;
        for (uint64_t seed = 1; seed <= 64; seed++) {
            rng = seed;
            if (pc_image_build(l, f, NULL, img, vs[k], &rng, &st, err,
                               sizeof(err)) != 0 ||
                (buf = s_read(img, &len)) == NULL) {
                unit_ok = false;
                break;
            }
            for (size_t i = 0; i < S_NREGIONS; i++) {
                const struct s_region *r = &s_regions[i];
                unsigned in, out;
                bool mixed;
                s_pieces(buf, len, r, units[k] ? units[k] : r->len + r->off,
                         &in, &out, &mixed);
                if (r->durable && (out > 0 || mixed))
                    durable_ok = false;
                if (!r->durable && mixed)
                    unit_ok = false;
                if (!r->durable && in > 0 && out > 0)
                    torn = true;
                if (!r->durable && in > 0 && out == 0)
                    whole = true;
            }
            free(buf);
        }
        s_check(durable_ok, "%s images: every durable region whole",
                pc_variant_name(vs[k]));
        s_check(unit_ok, "%s images: later writes %s", pc_variant_name(vs[k]),
                units[k] ? "torn only at the unit" : "whole or absent");
        /* A 4 KiB write whole in 512-byte pieces is 1 in 256: not asked. */
        if (units[k] != 512)
            s_check(whole, "%s images: some take a later write whole",
                    pc_variant_name(vs[k]));
        if (units[k] != 0)
            s_check(torn, "%s images: some tear a later write",
                    pc_variant_name(vs[k]));
    }
    pc_log_free(&l);

    /* A shared writable mapping: writes the recorder cannot see. */
    unlink(log);
    char mapdir[300];
    snprintf(mapdir, sizeof(mapdir), "%s/map", dir);
    mkdir(mapdir, 0700);
    s_check(s_run_child(argv[0], mapdir, log, true) == 0,
            "a script that maps the store shared and writable runs");
    s_check(pc_log_load(log, &l, err, sizeof(err)) != 0 &&
                strstr(err, "shared and writable") != NULL,
            "its log is refused, naming the mapping (%s)", err);
    pc_log_free(&l);

    if (s_failures == 0) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            printf("# could not remove %s\n", dir);
        printf("PASS powercut_model: %d checks\n", s_checks);
        return 0;
    }
    printf("FAIL powercut_model: %d of %d checks failed; directory kept: "
           "%s\n",
           s_failures, s_checks, dir);
    return 1;
}
