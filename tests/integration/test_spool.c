/*
 * test_spool.c - krspool, the spool-directory adapter, between a real
 * broker, two real krnodes and two krspool daemons (one per
 * organisation).
 *
 *   1. Round trip: a referral renamed into the practice's outbox/new is
 *      sent and moved to outbox/cur/<msg_id>.json; it appears in JGZ's
 *      inbox/new as msg-<msg_id>.json with its content; moving it to
 *      inbox/cur marks it processed at JGZ's node; the practice gets a
 *      receipt file saying delivered; JGZ answers through its own spool
 *      and the answer arrives at the practice. krctl send of the same
 *      bytes names the same msg_id (one message).
 *   2. Bad files: malformed JSON, an unknown key, a bad date, an unknown
 *      recipient, a file over 1 MiB: each in outbox/failed with a .error
 *      that names the problem, and nothing sent.
 *   3. Exactly once: files dropped while the practice's krspool is killed
 *      with kill -9 at random moments (at least 50 times, JGZ's krspool a
 *      few times too); afterwards every file was delivered exactly once
 *      (JGZ's node inbox and JGZ's spool inbox/new), none is left in
 *      outbox/new, and no partial file was ever seen in inbox/new.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "harness.h"
#include "util.h"

#define S_KRSPOOL KR_BIN_DIR "/clients/krspool/krspool"
#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_KILLS 60
#define S_FILES_PER_ROUND 2

struct s_spool {
    char dir[H_PATH];
    char log[H_PATH];
    char node[H_PATH];
    struct h_proc proc;
};

static void
s_spool_start(struct s_spool *s, const char *label)
{
    char name[64];
    char *argv[] = {S_KRSPOOL, "--node",      s->node, "--spool_dir",
                    s->dir,    "--scan_ms",   "500",   "--receipts_ms",
                    "100",     "--log_level", "debug", NULL};

    snprintf(name, sizeof(name), "krspool %s", label);
    H_ENSURE(h_proc_spawn(&s->proc, name, s->log, argv) == KR_OK, "start %s",
             name);
}

/* Start and wait until it says so (its signals are handled from then
 * on). */
static void
s_spool_start_wait(struct s_spool *s, const char *label)
{
    int before = h_log_count(s->log, "krspool: started");
    bool ok;

    s_spool_start(s, label);
    H_POLL(ok, H_START_MS, h_log_count(s->log, "krspool: started") > before);
    H_ENSURE(ok, "%s starts within %d ms", s->proc.name, H_START_MS);
}

static bool
s_spool_stop(struct s_spool *s)
{
    int st = 0;
    char buf[32];

    if (h_proc_stop(&s->proc, SIGTERM, H_STOP_MS, &st) != KR_OK)
        return H_CHECK(false, "%s stops after SIGTERM", s->proc.name);
    return H_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                   "%s exits 0 after SIGTERM (%s)", s->proc.name,
                   h_status_str(st, buf, sizeof(buf)));
}

static void
s_path(char *out, const struct s_spool *s, const char *sub, const char *name)
{
    int n = snprintf(out, H_PATH, "%s/%s/%s", s->dir, sub, name);

    H_ENSURE(n > 0 && n < H_PATH, "a path within %d bytes", H_PATH);
}

static bool
s_exists(const struct s_spool *s, const char *sub, const char *name)
{
    char p[H_PATH];
    struct stat st;

    s_path(p, s, sub, name);
    return stat(p, &st) == 0;
}

/* Drop a file as an adapter must: written in outbox/tmp, renamed into
 * outbox/new. */
static void
s_drop(const struct s_spool *s, const char *name, const char *text)
{
    char tmp[H_PATH], fin[H_PATH];

    s_path(tmp, s, "outbox/tmp", name);
    s_path(fin, s, "outbox/new", name);
    H_ENSURE(h_write_file(tmp, text, 0640) == KR_OK && rename(tmp, fin) == 0,
             "drop %s", name);
}

/* Names in a directory that start with 'prefix' (NULL: all but dot
 * files). */
static int
s_count(const struct s_spool *s, const char *sub, const char *prefix)
{
    char p[H_PATH];
    struct dirent *e;
    DIR *d;
    int n = 0;

    if (snprintf(p, sizeof(p), "%s/%s", s->dir, sub) >= (int)sizeof(p) ||
        (d = opendir(p)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' &&
            (prefix == NULL || strncmp(e->d_name, prefix, strlen(prefix)) == 0))
            n++;
    closedir(d);
    return n;
}

static json_object *
s_read_json(const struct s_spool *s, const char *sub, const char *name)
{
    char p[H_PATH], *text = NULL;
    size_t len;
    json_object *o;

    s_path(p, s, sub, name);
    if (util_read_file(p, 4 << 20, &text, &len) != KR_OK)
        return NULL;
    o = json_tokener_parse(text);
    free(text);
    return o;
}

static char *
s_read_text(const struct s_spool *s, const char *sub, const char *name)
{
    char p[H_PATH], *text = NULL;
    size_t len;

    s_path(p, s, sub, name);
    if (util_read_file(p, 4 << 20, &text, &len) != KR_OK)
        return NULL;
    return text;
}

/* A referral description, its reason text made unique by 'n'. */
static const char s_referral_fmt[] =
    "{\"type\": \"referral\", \"recipient\": \"%s\",\n"
    " \"purpose\": \"prenataal-huisbezoek\", \"data_category\": \"medisch\",\n"
    " \"legal_basis\": \"consent\",\n"
    " \"referral\": {\"mother\": {\"bsn\": \"111222333\", \"given_name\": "
    "\"Fatima\",\n"
    "   \"family_name\": \"Zwartkruis-Elbaz\", \"birth_date\": "
    "\"1994-03-17\"},\n"
    "   \"reason_codes\": [\"psychosociaal\"], \"reason_text\": \"spool %d\",\n"
    "   \"requested_service\": \"prenataal-huisbezoek\"}}\n";

static char *
s_referral(const char *recipient, int n)
{
    int len = snprintf(NULL, 0, s_referral_fmt, recipient, n);
    char *t = malloc((size_t)len + 1);

    H_ENSURE(t != NULL, "memory");
    snprintf(t, (size_t)len + 1, s_referral_fmt, recipient, n);
    return t;
}

struct s_count_arg {
    struct h_idset *ids;
    size_t from_vl;
    bool processed_seen;
    uint8_t want[16];
};

static int
s_inbox_cb(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_count_arg *a = arg;

    if (it->msg_id.len == 16 && strcmp(it->sender, S_VL_ORG) == 0 &&
        it->type == KR__V1__MESSAGE_TYPE__REFERRAL) {
        a->from_vl++;
        h_idset_add(a->ids, it->msg_id.data);
        if (memcmp(it->msg_id.data, a->want, 16) == 0)
            a->processed_seen = it->processed;
    }
    return 0;
}

static bool
s_jgz_processed(struct h_cluster *c, int jgz, const uint8_t id[16])
{
    struct h_idset ids;
    struct s_count_arg a = {.ids = &ids};

    h_idset_init(&ids);
    memcpy(a.want, id, 16);
    h_inbox_foreach_all(h_node_client(c, jgz), s_inbox_cb, &a);
    h_idset_free(&ids);
    return a.processed_seen;
}

/* A failed file: in failed/ with a .error that contains 'needle'. */
static bool
s_failed_with(const struct s_spool *s, const char *name, const char *needle)
{
    char ename[H_PATH];
    char *t;
    bool ok;

    if (snprintf(ename, sizeof(ename), "%s.error", name) >= (int)sizeof(ename))
        return false;
    if (!s_exists(s, "outbox/failed", name) ||
        (t = s_read_text(s, "outbox/failed", ename)) == NULL)
        return false;
    ok = strstr(t, needle) != NULL;
    if (!ok)
        h_note("%s: %s", ename, t);
    free(t);
    return ok;
}

static void
s_round_trip(struct h_cluster *c, int vl, int jgz, struct s_spool *sv,
             struct s_spool *sj)
{
    char *text = s_referral(S_JGZ_ORG, 0), hex[KR_MSG_ID_HEX_LEN];
    char cur[64], msg[64], rcpt[64], path[H_PATH];
    uint8_t id[16];
    json_object *o;
    bool ok;

    h_note("== round trip");
    H_REQUIRE(kr_json_msg_id(S_VL_ORG, text, strlen(text), hex) == KR_OK,
              "the file's msg_id, derived from organisation and bytes");
    snprintf(cur, sizeof(cur), "%s.json", hex);
    snprintf(msg, sizeof(msg), "msg-%s.json", hex);
    snprintf(rcpt, sizeof(rcpt), "receipt-%s.json", hex);
    util_unhex(hex, id, 16);
    uint64_t t0 = h_mono_ms();
    s_drop(sv, "0001-referral.json", text);
    H_POLL(ok, 20000, s_exists(sv, "outbox/cur", cur));
    uint64_t t_cur = h_mono_ms() - t0;
    H_CHECK(ok && !s_exists(sv, "outbox/new", "0001-referral.json"),
            "sent: outbox/new/0001-referral.json is now outbox/cur/%s", cur);
    H_POLL(ok, 20000, s_exists(sj, "inbox/new", msg));
    H_CHECK(ok, "JGZ's spool has inbox/new/%s", msg);
    /* Polled every H_POLL_MS: the figures are that coarse. */
    h_note("rename into the practice's outbox/new -> outbox/cur %llu ms, "
           "-> JGZ's inbox/new %llu ms",
           (unsigned long long)t_cur, (unsigned long long)(h_mono_ms() - t0));
    o = s_read_json(sj, "inbox/new", msg);
    H_CHECK(o != NULL && h_json_str(o, "sender") != NULL &&
                strcmp(h_json_str(o, "sender"), S_VL_ORG) == 0 &&
                h_json_str(o, "content.referral.mother.family_name") != NULL &&
                strcmp(h_json_str(o, "content.referral.mother.family_name"),
                       "Zwartkruis-Elbaz") == 0 &&
                strcmp(h_json_str(o, "msg_id"), hex) == 0,
            "its JSON: sender, msg_id and the opened content");
    const char *ref_id = o != NULL ? h_json_str(o, "referral_id") : NULL;
    char referral_id[64] = "";
    if (ref_id != NULL)
        snprintf(referral_id, sizeof(referral_id), "%s", ref_id);
    json_object_put(o);
    H_CHECK(s_count(sj, "inbox/tmp", NULL) == 0,
            "nothing left in JGZ's inbox/tmp");

    H_POLL(ok, 20000, s_exists(sv, "inbox/new", rcpt));
    o = s_read_json(sv, "inbox/new", rcpt);
    H_CHECK(ok && o != NULL && h_json_str(o, "outcome") != NULL &&
                strcmp(h_json_str(o, "outcome"), "delivered") == 0,
            "the practice's spool has inbox/new/%s: delivered", rcpt);
    json_object_put(o);

    /* The adapter takes the message over: the node hears of it. */
    char from[H_PATH], to[H_PATH];
    s_path(from, sj, "inbox/new", msg);
    s_path(to, sj, "inbox/cur", msg);
    H_REQUIRE(rename(from, to) == 0, "JGZ's adapter moves it to inbox/cur");
    H_POLL(ok, 20000, s_jgz_processed(c, jgz, id));
    H_CHECK(ok, "JGZ's node marks it processed");

    /* The same bytes through krctl: one message. */
    struct h_run r;
    snprintf(path, sizeof(path), "%s/again.json", c->tmp);
    H_ENSURE(h_write_file(path, text, 0600) == KR_OK, "write again.json");
    h_krctl(&r, "--node", c->nodes[vl].local, "send", path, NULL);
    H_CHECK(r.code == 0 && strncmp(r.out, hex, 32) == 0,
            "krctl send of the same bytes names the same msg_id (exit %d)",
            r.code);
    h_run_free(&r);

    /* JGZ answers through its spool. */
    char answer[1024];
    snprintf(answer, sizeof(answer),
             "{\"type\": \"referral-status\", \"recipient\": \"%s\",\n"
             " \"referral_id\": \"%s\", \"in_reply_to\": \"%s\",\n"
             " \"purpose\": \"prenataal-huisbezoek\", \"data_category\": "
             "\"medisch\",\n"
             " \"legal_basis\": \"consent\",\n"
             " \"referral_status\": {\"status\": \"accepted\"}}\n",
             S_VL_ORG, referral_id, hex);
    s_drop(sj, "answer.json", answer);
    H_POLL(ok, 20000, s_count(sj, "outbox/cur", NULL) == 1);
    H_CHECK(ok, "JGZ's answer is sent (outbox/cur)");
    H_POLL(ok, 20000, s_count(sv, "inbox/new", "msg-") == 1);
    H_CHECK(ok, "the answer arrives in the practice's inbox/new");
    (void)vl;
    free(text);
}

static void
s_bad_files(struct h_cluster *c, int vl, struct s_spool *sv)
{
    struct h_outbox_stats before, after;
    char *big, path_new[H_PATH];
    bool ok;

    h_note("== bad files go to outbox/failed with a reason");
    H_REQUIRE(h_outbox_stats(h_node_client(c, vl), &before) == KR_OK,
              "the practice's outbox before");
    s_drop(sv, "bad-syntax.json", "{\"type\": \"referral\",,}");
    s_drop(sv, "bad-key.json",
           "{\"type\": \"referral\", \"recipient\": \"ura:00005678\", "
           "\"colour\": \"blue\"}");
    char *t = s_referral(S_JGZ_ORG, 9999);
    char *d = strstr(t, "1994-03-17");
    memcpy(d, "1994-13-17", 10);
    s_drop(sv, "bad-date.json", t);
    free(t);
    t = s_referral("ura:99999999", 9998);
    s_drop(sv, "unknown-recipient.json", t);
    free(t);
    big = malloc(2 << 20);
    H_ENSURE(big != NULL, "memory");
    memset(big, ' ', 2 << 20);
    big[0] = '{';
    big[(2 << 20) - 2] = '}';
    big[(2 << 20) - 1] = '\0';
    s_drop(sv, "too-big.json", big);
    free(big);

    char dir[H_PATH], longname[251];
    s_path(dir, sv, "outbox/tmp", "a-directory");
    H_ENSURE(mkdir(dir, 0750) == 0, "mkdir %s", dir);
    s_path(path_new, sv, "outbox/new", "a-directory");
    H_ENSURE(rename(dir, path_new) == 0, "rename the directory into new/");
    memset(longname, 'x', 250);
    longname[250] = '\0';
    s_drop(sv, longname, "{}");

    H_POLL(ok, 30000, s_count(sv, "outbox/new", NULL) == 0);
    H_CHECK(ok, "outbox/new is empty again");
    H_CHECK(s_failed_with(sv, "a-directory", "not a regular file"),
            "a directory: failed/, its .error says it is not a regular file");
    longname[200] = '\0';
    H_CHECK(s_failed_with(sv, longname, "file name longer than"),
            "a file with a 250-byte name: failed/ under its first 200 bytes, "
            "its .error says the name is too long");
    H_CHECK(s_failed_with(sv, "bad-syntax.json", "line 1"),
            "malformed JSON: failed/, its .error names line and column");
    H_CHECK(s_failed_with(sv, "bad-key.json", "colour"),
            "an unknown key: failed/, its .error names the key");
    H_CHECK(s_failed_with(sv, "bad-date.json", "referral.mother.birth_date"),
            "a bad date: failed/, its .error names the path");
    H_CHECK(s_failed_with(sv, "unknown-recipient.json", "directory"),
            "an unknown recipient: failed/, its .error says it is not in "
            "the directory");
    H_CHECK(s_failed_with(sv, "too-big.json", "larger than 1 MiB"),
            "a file over 1 MiB: failed/, its .error says so");
    H_REQUIRE(h_outbox_stats(h_node_client(c, vl), &after) == KR_OK,
              "the practice's outbox after");
    H_CHECK(after.total == before.total,
            "nothing was sent (outbox %zu before, %zu after)", before.total,
            after.total);

    /* The same file twice: one message; the second says so. */
    t = s_referral(S_JGZ_ORG, 0);
    s_drop(sv, "same-again.json", t);
    free(t);
    /* The .error is written before the file moves: wait for both. */
    H_POLL(ok, 20000, s_failed_with(sv, "same-again.json", "sent already"));
    H_CHECK(ok, "a second file with the same bytes: failed/, \"sent already\"");
}

/* Every file in inbox/new parses: no partial file is ever visible. */
static bool
s_all_whole(const struct s_spool *s)
{
    char p[H_PATH];
    struct dirent *e;
    DIR *d;
    bool ok = true;

    if (snprintf(p, sizeof(p), "%s/inbox/new", s->dir) >= (int)sizeof(p) ||
        (d = opendir(p)) == NULL)
        return false;
    while ((e = readdir(d)) != NULL && ok) {
        if (e->d_name[0] == '.')
            continue;
        json_object *o = s_read_json(s, "inbox/new", e->d_name);
        /* A file the adapter moved on between readdir and the read is
         * not partial. */
        ok = o != NULL || !s_exists(s, "inbox/new", e->d_name);
        json_object_put(o);
    }
    closedir(d);
    return ok;
}

static void
s_kills(struct h_cluster *c, int vl, int jgz, struct s_spool *sv,
        struct s_spool *sj)
{
    struct h_idset want, got;
    int nfiles = 0, partial = 0;
    uint64_t seed = util_mono_ms();
    char(*hexes)[KR_MSG_ID_HEX_LEN] =
        calloc(S_KILLS * S_FILES_PER_ROUND, KR_MSG_ID_HEX_LEN);
    bool ok;

    h_note("== exactly once across %d kill -9 of the practice's krspool",
           S_KILLS);
    H_ENSURE(hexes != NULL, "memory");
    h_idset_init(&want);
    h_idset_init(&got);
    srandom((unsigned)seed);
    h_note("random seed %llu", (unsigned long long)seed);
    int base =
        s_count(sj, "inbox/new", "msg-") + s_count(sj, "inbox/cur", "msg-");
    for (int k = 0; k < S_KILLS; k++) {
        for (int f = 0; f < S_FILES_PER_ROUND; f++) {
            char name[64], *t = s_referral(S_JGZ_ORG, 1000 + nfiles);
            uint8_t id[16];
            kr_json_msg_id(S_VL_ORG, t, strlen(t), hexes[nfiles]);
            util_unhex(hexes[nfiles], id, 16);
            h_idset_add(&want, id);
            snprintf(name, sizeof(name), "k%03d-%d.json", k, f);
            s_drop(sv, name, t);
            free(t);
            nfiles++;
        }
        if (!sv->proc.running)
            s_spool_start(sv, "vl");
        /* A random moment: during its start, its scan, a send, a move. */
        h_sleep_ms((int)(random() % 250));
        h_proc_kill9(&sv->proc);
        if (k % 10 == 5) {
            h_proc_kill9(&sj->proc);
            s_spool_start_wait(sj, "jgz");
        }
        if (!s_all_whole(sj))
            partial++;
    }
    H_CHECK(partial == 0, "no partial file seen in JGZ's inbox/new");
    s_spool_start_wait(sv, "vl");
    if (!sj->proc.running)
        s_spool_start_wait(sj, "jgz");
    H_POLL(ok, 60000,
           s_count(sv, "outbox/new", NULL) == 0 &&
               s_count(sv, "outbox/cur", NULL) >= 1 + nfiles);
    H_CHECK(ok, "after the last restart outbox/new is empty (%d left)",
            s_count(sv, "outbox/new", NULL));
    int in_cur = 0;
    for (int i = 0; i < nfiles; i++) {
        char cur[64];
        snprintf(cur, sizeof(cur), "%s.json", hexes[i]);
        in_cur += s_exists(sv, "outbox/cur", cur);
    }
    H_CHECK(in_cur == nfiles,
            "every file is in outbox/cur under its msg_id "
            "(%d of %d)",
            in_cur, nfiles);
    H_CHECK(s_count(sv, "outbox/failed", NULL) == 16,
            "none failed (failed/ holds only the 8 bad files and their "
            ".error: %d entries)",
            s_count(sv, "outbox/failed", NULL));

    /* JGZ's node: each once, nothing else from the practice. */
    struct s_count_arg a = {.ids = &got};
    H_POLL(ok, 60000,
           (a.from_vl = 0, h_idset_free(&got), h_idset_init(&got),
            h_inbox_foreach_all(h_node_client(c, jgz), s_inbox_cb, &a),
            a.from_vl >= (size_t)nfiles + 1));
    int once = 0;
    for (int i = 0; i < nfiles; i++) {
        uint8_t id[16];
        util_unhex(hexes[i], id, 16);
        once += h_idset_count(&got, id) == 1;
    }
    H_CHECK(once == nfiles && a.from_vl == (size_t)nfiles + 1,
            "JGZ's node holds each of the %d files exactly once (%d once, "
            "%zu referrals from the practice, 1 from the round trip)",
            nfiles, once, a.from_vl);

    /* JGZ's spool: each once in inbox/new. */
    H_POLL(ok, 60000,
           s_count(sj, "inbox/new", "msg-") +
                   s_count(sj, "inbox/cur", "msg-") ==
               base + nfiles);
    int files = 0;
    for (int i = 0; i < nfiles; i++) {
        char msg[64];
        snprintf(msg, sizeof(msg), "msg-%s.json", hexes[i]);
        files += s_exists(sj, "inbox/new", msg);
    }
    H_CHECK(ok && files == nfiles,
            "JGZ's spool inbox/new holds each exactly once (%d of %d, %d "
            "msg- files in all, %d before)",
            files, nfiles,
            s_count(sj, "inbox/new", "msg-") + s_count(sj, "inbox/cur", "msg-"),
            base);
    H_CHECK(s_all_whole(sj) && s_count(sj, "inbox/tmp", NULL) == 0,
            "every file in JGZ's inbox/new is whole JSON; inbox/tmp empty");
    /* A kill between the node's commit and the move to cur/ leaves no
     * "sent" line: the file is sent again after the restart, and the
     * node answers with the same msg_id. */
    h_note("%d files, %d \"sent\" lines in the practice's krspool log, "
           "%d krspool starts",
           nfiles, h_log_count(sv->log, "outbox: sent file=k"),
           h_log_count(sv->log, "krspool: started"));
    h_idset_free(&want);
    h_idset_free(&got);
    free(hexes);
    (void)vl;
}

int
main(void)
{
    static struct h_cluster c;
    static struct s_spool sv, sj;
    struct h_run r;

    h_init("spool", 280);
    h_cluster_init(&c, "spool");

    /* The command line, as for the other daemons. */
    char *help[] = {S_KRSPOOL, "--help", NULL};
    h_run(&r, H_RUN_MS, help);
    H_CHECK(r.code == 0 && strstr(r.out, "--spool_dir") != NULL &&
                strstr(r.out, "Exit status") != NULL,
            "krspool --help lists its options and exit codes");
    h_run_free(&r);
    char *bad[] = {S_KRSPOOL, "--node",    "ipc:///x", "--spool_dir",
                   "/tmp/x",  "--scan_ms", "0",        NULL};
    h_run(&r, H_RUN_MS, bad);
    H_CHECK(r.code == 2, "a bad value: exit 2 (%d)", r.code);
    h_run_free(&r);

    h_broker_start(&c);
    int vl = h_org_add(&c, "vl", S_VL_ORG, "verloskunde",
                       "Verloskundigenpraktijk De Wieg");
    int jgz = h_org_add(&c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    h_node_start(&c, vl);
    h_node_start(&c, jgz);
    if (!h_node_wait_connected(&c, vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&c, jgz, H_CONNECT_MS))
        h_abort();
    H_REQUIRE(h_consent_default(&c, vl, jgz), "consent recorded");

    snprintf(sv.dir, sizeof(sv.dir), "%s/spool-vl", c.tmp);
    snprintf(sv.log, sizeof(sv.log), "%s/krspool-vl.log", c.tmp);
    snprintf(sv.node, sizeof(sv.node), "%s", c.nodes[vl].local);
    snprintf(sj.dir, sizeof(sj.dir), "%s/spool-jgz", c.tmp);
    snprintf(sj.log, sizeof(sj.log), "%s/krspool-jgz.log", c.tmp);
    snprintf(sj.node, sizeof(sj.node), "%s", c.nodes[jgz].local);
    s_spool_start_wait(&sv, "vl");
    s_spool_start_wait(&sj, "jgz");
    bool ok;
    H_POLL(ok, H_START_MS,
           s_exists(&sv, "outbox", "new") && s_exists(&sj, "inbox", "cur"));
    H_REQUIRE(ok, "both spools create their directories");

    s_round_trip(&c, vl, jgz, &sv, &sj);
    s_bad_files(&c, vl, &sv);
    s_kills(&c, vl, jgz, &sv, &sj);

    /* A stop while the node does not answer is prompt all the same. */
    H_CHECK(h_node_stop(&c, vl), "the practice's node stops");
    uint64_t t0 = h_mono_ms();
    s_spool_stop(&sv);
    H_CHECK(h_mono_ms() - t0 < (uint64_t)h_scale(5000),
            "krspool stops within 5 s while its node is down (%llu ms)",
            (unsigned long long)(h_mono_ms() - t0));
    s_spool_stop(&sj);
    return h_finish(&c);
}
