/* backup.c - a copy of the store while the broker serves; see backup.h.
 *
 * The copy runs on its own thread: with MDB_CP_COMPACT, LMDB walks the
 * tree in one read transaction (allowed from any thread: the store is
 * opened MDB_NOTLS) and writes only the pages in use. The loop goes on
 * committing meanwhile; the copy is the store as of the moment its read
 * transaction began. While it runs, LMDB cannot reuse the pages freed
 * after that moment, so a long backup under load grows the file a little.
 * The admin socket belongs to the loop: the helper only sets 'done', and
 * the loop's cron sends the answer. */
#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "admin.pb-c.h"
#include "backup.h"
#include "broker.h"
#include "bstore.h"
#include "bstore_internal.h"
#include "log.h"

struct s_job {
    pthread_t th;
    bool running; /* a thread to join */
    _Atomic bool done;
    char dir[4096];
    uint8_t rid[BROKER_ROUTING_ID_MAX];
    size_t rid_len;
    MDB_env *env;         /* the broker's: borrowed */
    uint64_t map_size_mb; /* to open the copy */
    uint64_t t0;
    /* The result, written by the helper before 'done'. */
    int rc;
    char detail[1400];
    uint64_t bytes, checked;
};

static struct s_job s_job;

/* The target: absent (made 0700) or an empty directory. */
static int
s_target(const char *dir, char *err, size_t errlen)
{
    DIR *d;
    struct dirent *e;

    if (dir[0] != '/') {
        snprintf(err, errlen, "%s: not an absolute path", dir);
        return KR_EINVAL;
    }
    if (mkdir(dir, 0700) == 0)
        return KR_OK;
    if (errno != EEXIST || (d = opendir(dir)) == NULL) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return KR_ESYS;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            /* The entry lives in the DIR: name it before closing. */
            snprintf(err, errlen,
                     "%s is not empty (it holds %s): a backup never "
                     "overwrites",
                     dir, e->d_name);
            closedir(d);
            return KR_EEXIST;
        }
    }
    closedir(d);
    return KR_OK;
}

/* Open the copy and walk its audit chain: a backup that does not verify
 * is no backup. */
static int
s_verify(struct s_job *j, const char *path)
{
    struct broker_store *st = NULL;
    MDB_txn *txn = NULL;
    uint64_t bad = 0;
    char why[256] = "";
    char lock[4200];
    int rc;

    if ((rc = bstore_open(j->dir, j->map_size_mb, true, &st)) != KR_OK) {
        snprintf(j->detail, sizeof(j->detail),
                 "the copy %.1000s does not open: %s", path, kr_strerror(rc));
        return rc;
    }
    if ((rc = bstore_begin(st, true, &txn)) == KR_OK) {
        rc = bstore_audit_verify(st, txn, &j->checked, &bad, why, sizeof(why));
        bstore_abort(txn);
    }
    bstore_close(&st);
    /* The copy is data.mdb alone: restoring is copying one file. */
    snprintf(lock, sizeof(lock), "%s/lock.mdb", j->dir);
    unlink(lock);
    if (rc != KR_OK)
        snprintf(j->detail, sizeof(j->detail),
                 "the copy's audit chain does not verify at record %llu: %s",
                 (unsigned long long)bad, why);
    return rc;
}

static void *
s_run(void *arg)
{
    struct s_job *j = arg;
    char path[4200];
    struct stat st;
    int rc;

    snprintf(path, sizeof(path), "%s/data.mdb", j->dir);
    rc = mdb_env_copy2(j->env, j->dir, MDB_CP_COMPACT);
    if (rc != 0) {
        snprintf(j->detail, sizeof(j->detail), "copy to %.1000s: %s", j->dir,
                 mdb_strerror(rc));
        j->rc = KR_ESTORE;
    } else if (chmod(path, 0600) != 0 || stat(path, &st) != 0) {
        snprintf(j->detail, sizeof(j->detail), "%.1000s: %s", path,
                 strerror(errno));
        j->rc = KR_ESYS;
    } else {
        j->bytes = (uint64_t)st.st_size;
        j->rc = s_verify(j, path);
    }
    atomic_store(&j->done, true);
    return NULL;
}

int
backup_start(struct broker *b, const char *dir, const uint8_t *rid,
             size_t rid_len, char *err, size_t errlen)
{
    struct s_job *j = &s_job;
    int rc;

    if (j->running) {
        snprintf(err, errlen, "a backup (to %s) is running", j->dir);
        return KR_EEXIST;
    }
    if (strlen(dir) >= sizeof(j->dir) - 16 || rid_len > sizeof(j->rid)) {
        snprintf(err, errlen, "path too long");
        return KR_EINVAL;
    }
    if ((rc = s_target(dir, err, errlen)) != KR_OK)
        return rc;
    memset(j, 0, sizeof(*j));
    snprintf(j->dir, sizeof(j->dir), "%s", dir);
    memcpy(j->rid, rid, rid_len);
    j->rid_len = rid_len;
    j->env = b->store->env;
    j->map_size_mb = b->cfg.map_size_mb;
    j->t0 = util_mono_ms();
    if (pthread_create(&j->th, NULL, s_run, j) != 0) {
        snprintf(err, errlen, "cannot start the backup thread");
        return KR_ESYS;
    }
    j->running = true;
    log_info("backup: started dir=%s", dir);
    return KR_OK;
}

static void
s_reply(struct broker *b, struct s_job *j)
{
    Kr__V1__AdminResponse resp = KR__V1__ADMIN_RESPONSE__INIT;
    Kr__V1__BackupResult res = KR__V1__BACKUP_RESULT__INIT;
    char path[4200];
    uint64_t ms = util_mono_ms() - j->t0;

    snprintf(path, sizeof(path), "%s/data.mdb", j->dir);
    if (j->rc != KR_OK) {
        resp.error = j->rc;
        resp.detail = j->detail;
        log_errorx("backup: failed dir=%s: %s", j->dir, j->detail);
    } else {
        res.path = path;
        res.bytes = j->bytes;
        res.audit_checked = j->checked;
        res.duration_ms = ms;
        resp.backup = &res;
        log_info("backup: done path=%s bytes=%llu audit_checked=%llu ms=%llu",
                 path, (unsigned long long)j->bytes,
                 (unsigned long long)j->checked, (unsigned long long)ms);
    }
    size_t len = protobuf_c_message_get_packed_size(&resp.base);
    uint8_t *out = xmalloc(len ? len : 1);
    protobuf_c_message_pack(&resp.base, out);
    /* krctl may have given up waiting: then the send finds no peer. */
    if (zmq_send(b->admin, j->rid, j->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(b->admin, out, len, ZMQ_DONTWAIT);
    free(out);
}

void
backup_cron(struct broker *b)
{
    struct s_job *j = &s_job;

    if (!j->running || !atomic_load(&j->done))
        return;
    pthread_join(j->th, NULL);
    j->running = false;
    s_reply(b, j);
}

void
backup_stop(struct broker *b)
{
    struct s_job *j = &s_job;

    if (!j->running)
        return;
    log_info("backup: waiting for the backup to %s to end", j->dir);
    pthread_join(j->th, NULL);
    j->running = false;
    s_reply(b, j);
}
