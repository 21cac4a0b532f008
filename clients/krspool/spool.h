/*
 * spool.h - krspool, the spool-directory adapter of one organisation: a
 * daemon next to its krnode that turns files into messages and messages
 * into files, Maildir-style (README.md, "krspool"; docs/JSON.md for the
 * forms).
 *
 *   <spool_dir>/outbox/tmp/     the adapter writes a description here,
 *   <spool_dir>/outbox/new/     then renames it here: krspool sends it;
 *   <spool_dir>/outbox/cur/     once the node holds it: <msg_id>.json
 *   <spool_dir>/outbox/failed/  could not be sent: the file and
 *                               <file>.error saying why
 *   <spool_dir>/inbox/tmp/      krspool writes here, fsyncs,
 *   <spool_dir>/inbox/new/      and renames here: msg-<id>.json,
 *                               notice-<id>.json, receipt-<id>.json
 *   <spool_dir>/inbox/cur/      the adapter moves a file here once it has
 *                               taken it over: krspool marks it processed
 *
 * Exactly once, across a kill -9 at any point: a file's msg_id derives
 * from the organisation and its bytes (kr_json_msg_id), so a file sent
 * again after a crash is the same message, which the node keeps once; a
 * file leaves new/ only after the node answered. Received items are named
 * by their msg_id and written only when neither new/ nor cur/ holds that
 * name. Receipts follow a watermark (receipts.seq): every outbox item at
 * or below it is final and has its receipt file.
 *
 * Two threads, each with its own libkr client: the outbox thread (inotify
 * on outbox/new and inbox/cur, a periodic scan, receipts) and the inbox
 * thread (a long poll on the node's inbox). They share only the
 * configuration and the stop flag.
 */
#ifndef KRSPOOL_SPOOL_H
#define KRSPOOL_SPOOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "kr.h"
#include "local.pb-c.h"

/* A spool file's name: "receipt-" + 32 hex digits + ".json" and more
 * room for the names adapters give their outbox files. */
#define SPOOL_NAME_MAX 256
/* A description is a few kilobytes; this bound only stops a wrong file
 * (an image, a database) from being read into memory whole. */
#define SPOOL_FILE_MAX (1024 * 1024)

struct spool_config {
    char *node;           /* the krnode's local endpoint */
    char *spool_dir;      /* the root of outbox/ and inbox/ */
    uint64_t scan_ms;     /* the periodic scan, inotify's fallback */
    uint64_t receipts_ms; /* how often the outbox is read for receipts */
    uint64_t timeout_ms;  /* bound on each call to the node */
    uint64_t relist_ms;   /* how often every unprocessed item is listed
                             again (moves into inbox/cur/ that were
                             missed) */
    char *file_mode;      /* mode of the files krspool writes, octal */
    char *log_level;
    unsigned mode; /* file_mode, parsed by spool_config_check */
};

extern const struct cfg_option spool_config_options[];
int spool_config_check(struct spool_config *cfg, char *err, size_t errlen);

/* The directories, opened once (O_PATH-free: read with *at() calls). */
struct spool_dirs {
    int out_new, out_cur, out_failed;
    int in_tmp, in_new, in_cur;
    int root;
};

struct spool {
    const struct spool_config *cfg;
    struct spool_dirs d;
    atomic_int stop;   /* set by the main thread on SIGTERM / SIGINT */
    atomic_int failed; /* a thread could not go on: exit 1 */
    atomic_int relist; /* the inbox thread should list every unprocessed
                          item again (an inotify overflow, a processed
                          that did not reach the node) */
    int wake_fd;       /* read end of the stop pipe: readable (EOF) once
                          the main thread closes the write end */
};

/*
 * The file mapper (spool_map.c): pure functions, no files, no node.
 */

/* What an inbox/ file holds. */
enum spool_kind {
    SPOOL_MSG,     /* msg-<id>.json: a message from an organisation */
    SPOOL_NOTICE,  /* notice-<id>.json: a notice from the broker */
    SPOOL_RECEIPT, /* receipt-<id>.json: the fate of a message sent */
};

/* An inbox item as its file: name and JSON text (*text, malloc'd,
 * *len bytes, ending in a newline). KR_EINVAL if the item has no valid
 * msg_id. */
int spool_map_inbox(const Kr__V1__InboxItem *it, char name[SPOOL_NAME_MAX],
                    char **text, size_t *len);
/* An outbox item's receipt file, once its outcome is final; KR_ENOTFOUND
 * while it is not (pending, accepted), KR_EINVAL without a valid msg_id. */
int spool_map_receipt(const Kr__V1__OutboxItem *it, char name[SPOOL_NAME_MAX],
                      char **text, size_t *len);
/* Whether an outbox item's outcome is final. */
int spool_map_final(const Kr__V1__OutboxItem *it);
/* The kind and msg_id (32 hex digits) a file name in inbox/ stands for;
 * KR_EINVAL for any other name (the adapter's own files, temporaries). */
int spool_map_name(const char *name, enum spool_kind *kind,
                   char msg_id_hex[KR_MSG_ID_HEX_LEN]);
/* Whether a name in outbox/new is one to send: not hidden (a leading '.'),
 * not empty, at most SPOOL_NAME_MAX - 16 bytes (room for ".error" and a
 * suffix), no '/'. */
int spool_map_outbox_name_ok(const char *name);
/* A send's error code: 1 if the file can never be sent as it is (it goes
 * to failed/), 0 if a later try may succeed (the node is down, busy or
 * its disk is full: the file stays in new/). */
int spool_map_permanent(int err);

/*
 * Files (spool_fs.c).
 */

/* Create the tree under cfg->spool_dir (0750 directories) and open its
 * directories. KR_ESYS with the path in the log. */
int spool_dirs_open(const char *root, struct spool_dirs *d);
void spool_dirs_close(struct spool_dirs *d);
/* Write 'text' as 'name' into dir 'fin' through dir 'tmp': a temporary
 * file written, fsync'd and renamed, then 'fin' fsync'd; no partial file
 * is ever visible in 'fin'. tmp == fin is allowed (the temporary is then
 * a hidden ".name.tmp"). */
int spool_write(int tmp, int fin, const char *name, const char *text,
                size_t len, unsigned mode);
/* 1 if dir holds 'name', 0 if not, negative on an error other than
 * ENOENT. */
int spool_exists(int dir, const char *name);
/* Read a file of dir into memory (at most SPOOL_FILE_MAX bytes):
 * KR_EINVAL if larger, KR_ENOTFOUND if gone, KR_EPERM if it is not a
 * regular file (a directory, a symbolic link, a FIFO), KR_ESYS
 * otherwise. */
int spool_read(int dir, const char *name, char **text, size_t *len);
/* Rename from/name to to/newname without replacing: KR_EEXIST if the
 * target exists. Then to is fsync'd. */
int spool_move(int from, const char *name, int to, const char *newname);
/* fsync a directory. */
int spool_sync_dir(int dir);

/*
 * The two threads (outbox.c, inbox.c). Each returns when sp->stop is set.
 */
void *spool_outbox_run(void *sp);
void *spool_inbox_run(void *sp);

/* Sleep up to ms or until the stop flag is set (polls sp->wake_fd). */
void spool_nap(struct spool *sp, int ms);

#endif
