/*
 * inbox.c - krspool's inbox thread: what the node has received (messages
 * and the broker's notices: revocations, escalations) is written into
 * inbox/new, Maildir-style, named by its msg_id.
 *
 * The node keeps an item unprocessed until the adapter moves its file to
 * inbox/cur (the outbox thread sees the move and tells the node), so the
 * node, not krspool, remembers what is still to be handed over: after a
 * restart krspool lists every unprocessed item and writes the ones that
 * neither new/ nor cur/ holds. Checked in that order, new/ then cur/, so
 * that an adapter moving a file between the two checks is seen in cur/.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"
#include "util.h"

#define S_PAGE 256     /* items per listing */
#define S_WAIT_MS 1000 /* the long poll: also how soon a stop is seen */
#define S_RETRY_MS 500 /* after the node did not answer */

struct s_in {
    struct spool *sp;
    kr_client_t *kc;
    uint64_t after;       /* every item up to this arrival number has been
                             handled by this process */
    uint64_t next_relist; /* monotonic ms */
};

void
spool_nap(struct spool *sp, int ms)
{
    struct pollfd pf = {.fd = sp->wake_fd, .events = POLLIN};

    if (!atomic_load(&sp->stop))
        poll(&pf, 1, ms);
}

/* krspool is the only writer of inbox/tmp: what is there is left from a
 * krspool killed mid-write, and is written again from the node's copy. */
static void
s_clean_tmp(struct spool *sp)
{
    struct dirent *e;
    DIR *dir;
    int fd;

    if ((fd = dup(sp->d.in_tmp)) < 0 || (dir = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    for (int i = 0; i < 100000 && (e = readdir(dir)) != NULL; i++)
        if (e->d_name[0] != '.')
            unlinkat(sp->d.in_tmp, e->d_name, 0);
    closedir(dir);
}

/* One item: written if new, or marked processed if the adapter moved it
 * to cur/ while krspool was not looking. 'seen': this process has handled
 * it before (a relist): then only the second. */
static int
s_item(struct s_in *in, const Kr__V1__InboxItem *it, int seen)
{
    const struct spool_dirs *d = &in->sp->d;
    char name[SPOOL_NAME_MAX], hex[KR_MSG_ID_HEX_LEN], err[512];
    enum spool_kind kind;
    char *text = NULL;
    size_t len = 0;
    int rc = KR_OK;

    if (spool_map_inbox(it, name, &text, &len) != KR_OK) {
        log_warnx("inbox: seq=%llu: an item without a msg_id, skipped",
                  (unsigned long long)it->seq);
        return KR_OK;
    }
    if (!seen) {
        if (spool_exists(d->in_new, name) != 0)
            goto done; /* written before, not yet taken over */
        if (spool_exists(d->in_cur, name) == 0) {
            rc = spool_write(d->in_tmp, d->in_new, name, text, len,
                             in->sp->cfg->mode);
            if (rc == KR_OK) {
                log_info("inbox: wrote file=%s seq=%llu", name,
                         (unsigned long long)it->seq);
            } else {
                log_warnx("inbox: file=%s: %s (tried again later)", name,
                          kr_strerror(rc));
                atomic_store(&in->sp->relist, 1);
            }
            goto done;
        }
    } else if (spool_exists(d->in_cur, name) != 1) {
        goto done;
    }
    /* In cur/ and still unprocessed at the node. */
    if (spool_map_name(name, &kind, hex) == KR_OK &&
        kr_processed(in->kc, hex, err, sizeof(err)) == KR_OK)
        log_info("inbox: processed msg=%s", hex);
done:
    /* Person data. */
    explicit_bzero(text, len);
    free(text);
    return rc;
}

/* One listing: new arrivals after in->after with a long poll, or, for a
 * relist, every unprocessed item page by page. */
static int
s_list(struct s_in *in, int relist)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;
    uint64_t page_after = relist ? 0 : in->after;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX;
    req.inbox = &lr;
    lr.unprocessed_only = 1;
    lr.limit = S_PAGE;
    for (int page = 0; page < 100000 && !atomic_load(&in->sp->stop); page++) {
        Kr__V1__LocalResponse *resp;
        uint8_t buf[64], *rb = NULL;
        size_t rlen = 0, n;
        int rc;

        lr.after_seq = page_after;
        lr.wait_ms = relist ? 0 : S_WAIT_MS;
        n = kr__v1__local_request__pack(&req, buf);
        if ((rc = kr_call(in->kc, buf, n, &rb, &rlen)) != KR_OK) {
            log_debug("inbox: listing: %s", kr_strerror(rc));
            kr_buf_free(rb);
            return rc;
        }
        resp = kr__v1__local_response__unpack(NULL, rlen, rb);
        kr_buf_free(rb);
        if (resp == NULL)
            return KR_EPROTO;
        uint64_t failed = 0, high = in->after;
        for (size_t i = 0; i < resp->n_inbox; i++) {
            const Kr__V1__InboxItem *it = resp->inbox[i];
            if (s_item(in, it, it->seq <= in->after) != KR_OK && failed == 0)
                failed = it->seq;
            page_after = it->seq;
            if (it->seq > high)
                high = it->seq;
        }
        n = resp->n_inbox;
        kr__v1__local_response__free_unpacked(resp, NULL);
        /* An item not written is not handled: the relist that follows
         * must treat it, and what came after it, as new. */
        in->after = failed != 0 ? failed - 1 : high;
        if (failed != 0)
            return KR_EIO;
        if (!relist || n < S_PAGE)
            break;
    }
    return KR_OK;
}

void *
spool_inbox_run(void *arg)
{
    struct s_in in = {.sp = arg};
    struct spool *sp = in.sp;
    int rc;

    /* The long poll adds its wait on top of the call's bound. */
    rc = kr_client_connect(sp->cfg->node, (int)sp->cfg->timeout_ms + S_WAIT_MS,
                           &in.kc);
    if (rc != KR_OK) {
        log_errorx("inbox: node %s: %s", sp->cfg->node, kr_strerror(rc));
        atomic_store(&sp->failed, 1);
        kill(getpid(), SIGTERM);
        return NULL;
    }
    s_clean_tmp(sp);
    atomic_store(&sp->relist, 1);
    while (!atomic_load(&sp->stop)) {
        uint64_t now = util_mono_ms();
        int relist = atomic_exchange(&sp->relist, 0) || now >= in.next_relist;

        rc = s_list(&in, relist);
        if (rc != KR_OK) {
            if (relist)
                atomic_store(&sp->relist, 1);
            spool_nap(sp, S_RETRY_MS);
        } else if (relist) {
            in.next_relist = util_mono_ms() + sp->cfg->relist_ms;
        }
    }
    kr_client_destroy(&in.kc);
    return NULL;
}
