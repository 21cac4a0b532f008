/*
 * outbox.c - krspool's outbox thread: files renamed into outbox/new are
 * sent (kr_send_json) and moved to outbox/cur/<msg_id>.json once the node
 * holds them, or to outbox/failed/ with a .error file; files moved into
 * inbox/cur are marked processed at the node; final outcomes of what was
 * sent become receipt files in inbox/new.
 *
 * inotify gives the latency (a file is sent as soon as it is renamed in);
 * the periodic scan is the fallback for what inotify cannot promise (an
 * overflowed queue, a file renamed in before the watch was set).
 *
 * Exactly once: a file's msg_id is derived from the organisation and its
 * bytes, and a file leaves new/ only after the node's answer, so a
 * krspool killed between the node's commit and the move sends the same
 * message again on restart, which the node answers with the same id.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"
#include "util.h"

/* Bounds on one pass, so that one pass never holds the thread long: the
 * rest waits for the next scan. */
#define S_SCAN_MAX 1024        /* files sent per scan */
#define S_PAGE 256             /* outbox items per listing */
#define S_RECEIPT_PAGES 64     /* listings per receipts pass */
#define S_FAILED_SUFFIXES 1000 /* name, name.1 ... in failed/ */
#define S_WATERMARK "receipts.seq"

struct s_out {
    struct spool *sp;
    kr_client_t *kc;
    int ino;              /* inotify instance */
    int wd_new, wd_cur;   /* its watches: outbox/new, inbox/cur */
    uint64_t receipt_seq; /* every outbox item <= it has its receipt */
    uint64_t next_scan;   /* monotonic ms */
    uint64_t next_receipts;
};

static int
s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Move a file that cannot be sent into failed/, with <name>.error saying
 * why. The .error is written first: a krspool killed in between finds the
 * file still in new/, fails it again and writes the same .error. */
static void
s_fail(struct s_out *o, const char *name, const char *why)
{
    const struct spool_dirs *d = &o->sp->d;
    char cand[SPOOL_NAME_MAX], ename[SPOOL_NAME_MAX + 8], *text;
    int rc = KR_EEXIST, n;

    /* A name too long to take ".error" is cut short in failed/ (the
     * .error names the file as it was). */
    int keep = spool_map_outbox_name_ok(name) ? SPOOL_NAME_MAX : 200;

    for (int k = 0; k < S_FAILED_SUFFIXES && rc == KR_EEXIST; k++) {
        if (k == 0)
            snprintf(cand, sizeof(cand), "%.*s", keep, name);
        else
            snprintf(cand, sizeof(cand), "%.*s.%d", keep, name, k);
        if (spool_exists(d->out_failed, cand) != 0)
            continue;
        snprintf(ename, sizeof(ename), "%s.error", cand);
        n = snprintf(NULL, 0, "%s: not sent: %s\n", name, why);
        text = xmalloc((size_t)n + 1);
        snprintf(text, (size_t)n + 1, "%s: not sent: %s\n", name, why);
        rc = spool_write(d->out_failed, d->out_failed, ename, text, (size_t)n,
                         o->sp->cfg->mode);
        free(text);
        if (rc != KR_OK) {
            log_warnx("outbox: file=%s: cannot write failed/%s: %s", name,
                      ename, kr_strerror(rc));
            return;
        }
        rc = spool_move(d->out_new, name, d->out_failed, cand);
    }
    if (rc == KR_OK)
        log_warnx("outbox: failed file=%s moved to failed/%s: %s", name, cand,
                  why);
    else if (rc != KR_ENOTFOUND)
        log_warnx("outbox: file=%s: cannot move to failed/: %s", name,
                  kr_strerror(rc));
}

/* The node holds the message: new/<name> becomes cur/<msg_id>.json. */
static void
s_done(struct s_out *o, const char *name, const char *hex)
{
    const struct spool_dirs *d = &o->sp->d;
    char target[SPOOL_NAME_MAX], why[2 * SPOOL_NAME_MAX];
    int rc;

    snprintf(target, sizeof(target), "%s.json", hex);
    rc = spool_move(d->out_new, name, d->out_cur, target);
    if (rc == KR_OK) {
        log_info("outbox: sent file=%s msg=%s", name, hex);
    } else if (rc == KR_EEXIST) {
        /* A second file with the same bytes (or the same msg_id) is the
         * same message: the node kept it once, and says so by answering
         * with the id of the first. */
        snprintf(why, sizeof(why),
                 "msg_id %s was sent already (outbox/cur/%s): a file with "
                 "the same bytes or the same msg_id is the same message, "
                 "sent once",
                 hex, target);
        s_fail(o, name, why);
    } else if (rc != KR_ENOTFOUND) {
        log_warnx("outbox: file=%s msg=%s: sent, but cannot move it to "
                  "cur/: %s (it is sent again, as the same message)",
                  name, hex, kr_strerror(rc));
    }
}

/* Send one file of new/. Returns 0, or -1 when the node cannot be reached
 * (the scan stops: the rest waits for the next one). */
static int
s_send_file(struct s_out *o, const char *name)
{
    const struct spool_dirs *d = &o->sp->d;
    char hex[KR_MSG_ID_HEX_LEN], err[512], *text = NULL;
    size_t len = 0;
    int rc;

    if (name[0] == '.')
        return 0; /* a temporary of someone who writes in new/ itself */
    if (!spool_map_outbox_name_ok(name)) {
        snprintf(err, sizeof(err), "file name longer than %d bytes",
                 SPOOL_NAME_MAX - 16);
        s_fail(o, name, err);
        return 0;
    }
    rc = spool_read(d->out_new, name, &text, &len);
    if (rc == KR_ENOTFOUND)
        return 0; /* moved away meanwhile */
    if (rc == KR_EINVAL) {
        s_fail(o, name, "larger than 1 MiB");
        return 0;
    }
    if (rc == KR_EPERM) {
        s_fail(o, name, "not a regular file");
        return 0;
    }
    if (rc != KR_OK) {
        log_warnx("outbox: file=%s: cannot read it: %s (tried again later)",
                  name, strerror(errno));
        return 0;
    }
    rc = kr_send_json(o->kc, text, len, hex, err, sizeof(err));
    /* The file may hold a BSN and care content. */
    explicit_bzero(text, len);
    free(text);
    if (rc == KR_OK) {
        s_done(o, name, hex);
        return 0;
    }
    if (spool_map_permanent(rc)) {
        s_fail(o, name, err);
        return 0;
    }
    log_warnx("outbox: file=%s msg=%s: not sent yet, kept in new/: %s", name,
              hex[0] != '\0' ? hex : "-", err);
    return -1;
}

/* Every file in new/, in name order (the order in which an adapter that
 * names its files by time wrote them). */
static void
s_scan(struct s_out *o)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    DIR *dir;
    int fd;

    if ((fd = dup(o->sp->d.out_new)) < 0 || (dir = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        log_warnx("outbox: cannot read new/: %s", strerror(errno));
        return;
    }
    rewinddir(dir);
    while (n < S_SCAN_MAX && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = xstrdup(e->d_name);
    }
    closedir(dir);
    if (n > 0)
        qsort(names, n, sizeof(*names), s_cmp);
    for (size_t i = 0; i < n; i++) {
        if (!atomic_load(&o->sp->stop) && s_send_file(o, names[i]) < 0)
            break;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* A file moved into inbox/cur: the adapter has taken it over. */
static void
s_processed(struct s_out *o, const char *name)
{
    char hex[KR_MSG_ID_HEX_LEN], err[512];
    enum spool_kind kind;
    int rc;

    if (spool_map_name(name, &kind, hex) != KR_OK || kind == SPOOL_RECEIPT)
        return;
    rc = kr_processed(o->kc, hex, err, sizeof(err));
    if (rc == KR_OK) {
        log_info("inbox: processed msg=%s", hex);
    } else {
        log_warnx("inbox: processed msg=%s: %s (tried again later)", hex, err);
        if (rc != KR_ENOTFOUND)
            atomic_store(&o->sp->relist, 1);
    }
}

static void
s_watermark_load(struct s_out *o)
{
    char *text = NULL, *end;
    size_t len;

    o->receipt_seq = 0;
    if (spool_read(o->sp->d.root, S_WATERMARK, &text, &len) != KR_OK)
        return;
    unsigned long long v = strtoull(text, &end, 10);
    if (end != text && (*end == '\n' || *end == '\0'))
        o->receipt_seq = v;
    else
        log_warnx("receipts: %s does not hold a number: starting from 0 "
                  "(receipts already in inbox/ are not written again)",
                  S_WATERMARK);
    free(text);
}

/* One receipts pass: final outcomes after the watermark become receipt
 * files; the watermark moves over the unbroken run of final items at its
 * front, and only after their files are on disk. */
static void
s_receipts(struct s_out *o)
{
    const struct spool_dirs *d = &o->sp->d;
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;
    uint64_t after = o->receipt_seq, mark = o->receipt_seq;
    int unbroken = 1;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_OUTBOX;
    req.outbox = &lr;
    lr.limit = S_PAGE;
    for (int page = 0; page < S_RECEIPT_PAGES; page++) {
        Kr__V1__LocalResponse *resp;
        uint8_t buf[64], *rb = NULL;
        size_t rlen = 0, n;
        int rc;

        lr.after_seq = after;
        if (kr__v1__local_request__get_packed_size(&req) > sizeof(buf))
            return;
        n = kr__v1__local_request__pack(&req, buf);
        if ((rc = kr_call(o->kc, buf, n, &rb, &rlen)) != KR_OK) {
            log_debug("receipts: outbox listing: %s", kr_strerror(rc));
            kr_buf_free(rb);
            break;
        }
        resp = kr__v1__local_response__unpack(NULL, rlen, rb);
        kr_buf_free(rb);
        if (resp == NULL)
            break;
        for (size_t i = 0; i < resp->n_outbox; i++) {
            const Kr__V1__OutboxItem *it = resp->outbox[i];
            char name[SPOOL_NAME_MAX], *text = NULL;
            size_t len = 0;

            after = it->seq;
            rc = spool_map_receipt(it, name, &text, &len);
            if (rc == KR_ENOTFOUND) {
                unbroken = 0; /* not final yet: the watermark waits */
                continue;
            }
            if (rc == KR_OK && spool_exists(d->in_new, name) == 0 &&
                spool_exists(d->in_cur, name) == 0) {
                rc = spool_write(d->in_tmp, d->in_new, name, text, len,
                                 o->sp->cfg->mode);
                if (rc == KR_OK)
                    log_info("receipts: wrote file=%s", name);
                else
                    log_warnx("receipts: file=%s: %s", name, kr_strerror(rc));
            }
            free(text);
            if (rc != KR_OK && rc != KR_EINVAL)
                unbroken = 0;
            if (unbroken)
                mark = it->seq;
        }
        n = resp->n_outbox;
        kr__v1__local_response__free_unpacked(resp, NULL);
        if (n < S_PAGE)
            break;
    }
    if (mark != o->receipt_seq) {
        char text[32];
        int len = snprintf(text, sizeof(text), "%" PRIu64 "\n", mark);
        if (spool_write(d->root, d->root, S_WATERMARK, text, (size_t)len,
                        o->sp->cfg->mode) == KR_OK)
            o->receipt_seq = mark;
    }
}

/* Read what inotify has; returns whether outbox/new saw something. */
static int
s_events(struct s_out *o)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    int dirty = 0;

    for (int round = 0; round < 64; round++) {
        ssize_t n = read(o->ino, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & IN_Q_OVERFLOW) {
                dirty = 1;
                atomic_store(&o->sp->relist, 1);
            } else if (ev->wd == o->wd_new) {
                dirty = 1;
            } else if (ev->wd == o->wd_cur && ev->len > 0) {
                s_processed(o, ev->name);
            }
            p += sizeof(*ev) + ev->len;
        }
    }
    return dirty;
}

static int
s_open(struct s_out *o)
{
    const char *root = o->sp->cfg->spool_dir;
    char path[4096];
    int rc;

    if ((rc = kr_client_connect(o->sp->cfg->node, (int)o->sp->cfg->timeout_ms,
                                &o->kc)) != KR_OK) {
        log_errorx("outbox: node %s: %s", o->sp->cfg->node, kr_strerror(rc));
        return rc;
    }
    if ((o->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
        log_errorx("outbox: inotify: %s", strerror(errno));
        return KR_ESYS;
    }
    snprintf(path, sizeof(path), "%s/outbox/new", root);
    o->wd_new = inotify_add_watch(o->ino, path, IN_MOVED_TO | IN_CLOSE_WRITE);
    snprintf(path, sizeof(path), "%s/inbox/cur", root);
    o->wd_cur = inotify_add_watch(o->ino, path, IN_MOVED_TO | IN_CLOSE_WRITE);
    if (o->wd_new < 0 || o->wd_cur < 0) {
        log_errorx("outbox: inotify watch: %s", strerror(errno));
        return KR_ESYS;
    }
    return KR_OK;
}

void *
spool_outbox_run(void *arg)
{
    struct s_out o = {.sp = arg, .ino = -1, .wd_new = -1, .wd_cur = -1};
    struct spool *sp = o.sp;

    if (s_open(&o) != KR_OK) {
        atomic_store(&sp->failed, 1);
        goto done;
    }
    s_watermark_load(&o);
    /* What was renamed in while krspool was down, or before the watch. */
    while (!atomic_load(&sp->stop)) {
        uint64_t now = util_mono_ms();
        int dirty = 0;

        if (now >= o.next_scan) {
            s_scan(&o);
            o.next_scan = util_mono_ms() + sp->cfg->scan_ms;
        }
        if (now >= o.next_receipts) {
            s_receipts(&o);
            o.next_receipts = util_mono_ms() + sp->cfg->receipts_ms;
        }
        now = util_mono_ms();
        uint64_t next =
            o.next_scan < o.next_receipts ? o.next_scan : o.next_receipts;
        struct pollfd pf[2] = {{.fd = o.ino, .events = POLLIN},
                               {.fd = sp->wake_fd, .events = POLLIN}};
        int timeout = next > now ? (int)(next - now) : 0;
        if (poll(pf, 2, timeout) < 0 && errno != EINTR) {
            log_errorx("outbox: poll: %s", strerror(errno));
            atomic_store(&sp->failed, 1);
            break;
        }
        if (pf[0].revents & POLLIN)
            dirty = s_events(&o);
        if (dirty)
            o.next_scan = 0;
    }
done:
    if (o.ino >= 0)
        close(o.ino);
    kr_client_destroy(&o.kc);
    if (atomic_load(&sp->failed))
        kill(getpid(), SIGTERM); /* wakes the main thread to exit 1 */
    return NULL;
}
