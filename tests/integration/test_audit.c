/*
 * test_audit.c - the broker's hash-chained audit trail (NEN 7513 style)
 * on a real history, checked three ways: the broker's own audit_verify,
 * `krctl audit verify`, and an independent walk of the LMDB file by this
 * test (key seq BE -> hash (32) || packed AuditRecord, hash =
 * BLAKE2b-256(prev_hash || packed bytes), prev_hash of the first record 32
 * zero bytes).
 *
 * 1. 1,500 referrals delivered plus consent grants and revokes: several
 *    thousand records; the chain verifies, seqs run 1..N without a gap,
 *    each record chains to the one before, and no record holds a BSN or
 *    a name.
 * 2. kill -9 of the broker while 600 more referrals flow, restart with the
 *    same directory: the chain still verifies and stays contiguous, and
 *    each of the 600 is audited accepted once and delivered once.
 * 3. One byte of one record changed in data.mdb (broker stopped): after
 *    the restart, verify fails and names exactly that record, through the
 *    admin socket and through krctl (exit 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_HISTORY 1500
#define S_CRASH 600
#define S_DAY_MS (24 * 3600 * 1000ull)

struct s_test {
    struct h_cluster c;
    int vl, jgz;
    uint8_t crash_ids[S_CRASH][16];
};

static struct s_test t;

/*
 * The sender's view.
 */

struct s_tally {
    const struct h_idset *set;
    size_t delivered, items;
};

static int
s_tally_one(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_tally *y = arg;

    if (it->msg_id.len != 16 || h_idset_count(y->set, it->msg_id.data) == 0)
        return 0;
    y->items++;
    if (it->outcome == KR__V1__OUTCOME__DELIVERED)
        y->delivered++;
    return 0;
}

static bool
s_all_delivered(const struct h_idset *set, struct s_tally *y)
{
    memset(y, 0, sizeof(*y));
    y->set = set;
    return h_outbox_foreach(h_node_client(&t.c, t.vl), s_tally_one, y) ==
               KR_OK &&
           y->delivered == set->n;
}

static int
s_outcome_wait(const uint8_t id[16], int want)
{
    bool ok;

    H_POLL(ok, 20000, h_outcome(h_node_client(&t.c, t.vl), id) == want);
    return ok ? want : h_outcome(h_node_client(&t.c, t.vl), id);
}

/*
 * The trail through the admin socket.
 */

struct s_trail {
    const struct h_idset *set; /* messages to count events for, or NULL */
    const char *const *secrets;
    size_t records;
    uint64_t first_seq, last_seq;
    size_t gaps;      /* seq not last + 1 */
    size_t unchained; /* prev_hash differs from the last record's hash */
    size_t no_hash;   /* hash not 32 bytes */
    size_t leaks;     /* a BSN or a name in a text field */
    size_t accepted, delivered, granted, revoked;
    struct h_idset set_accepted, set_delivered;
    uint8_t last_hash[32];
};

static bool
s_has_secret(const char *text, const char *const *secrets)
{
    for (size_t i = 0; text != NULL && secrets[i] != NULL; i++)
        if (strstr(text, secrets[i]) != NULL)
            return true;
    return false;
}

static int
s_trail_one(const Kr__V1__AuditRecord *r, void *arg)
{
    struct s_trail *a = arg;

    if (a->records == 0) {
        a->first_seq = r->seq;
        memset(a->last_hash, 0, 32);
    } else if (r->seq != a->last_seq + 1) {
        a->gaps++;
    }
    if (r->prev_hash.len != 32 || memcmp(r->prev_hash.data, a->last_hash, 32))
        a->unchained++;
    if (r->hash.len == 32)
        memcpy(a->last_hash, r->hash.data, 32);
    else
        a->no_hash++;
    a->last_seq = r->seq;
    a->records++;
    const char *texts[] = {r->event,   r->check,  r->org_id,   r->object,
                           r->purpose, r->detail, r->instance, r->action};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (s_has_secret(texts[i], a->secrets))
            a->leaks++;
    if (strcmp(r->event, "message.accepted") == 0)
        a->accepted++;
    else if (strcmp(r->event, "message.delivered") == 0)
        a->delivered++;
    else if (strcmp(r->event, "consent.granted") == 0)
        a->granted++;
    else if (strcmp(r->event, "consent.revoked") == 0)
        a->revoked++;
    if (a->set != NULL && r->msg_id.len == 16 &&
        h_idset_count(a->set, r->msg_id.data) > 0) {
        if (strcmp(r->event, "message.accepted") == 0)
            h_idset_add(&a->set_accepted, r->msg_id.data);
        else if (strcmp(r->event, "message.delivered") == 0)
            h_idset_add(&a->set_delivered, r->msg_id.data);
    }
    return 0;
}

static int
s_trail(struct s_trail *a, const struct h_idset *set,
        const char *const *secrets)
{
    memset(a, 0, sizeof(*a));
    a->set = set;
    a->secrets = secrets;
    h_idset_init(&a->set_accepted);
    h_idset_init(&a->set_delivered);
    return h_audit_foreach(&t.c, 0, s_trail_one, a);
}

static void
s_trail_free(struct s_trail *a)
{
    h_idset_free(&a->set_accepted);
    h_idset_free(&a->set_delivered);
}

/* The chain as the export shows it: from 1, no gap, each record chained
 * to the one before, no BSN or name in it. */
static void
s_check_trail(const struct s_trail *a, const char *what)
{
    H_CHECK(a->records > 0 && a->first_seq == 1 && a->last_seq == a->records &&
                a->gaps == 0,
            "%s: export: seqs 1..%llu without a gap (%zu records, %zu "
            "gaps)",
            what, (unsigned long long)a->last_seq, a->records, a->gaps);
    H_CHECK(a->unchained == 0 && a->no_hash == 0,
            "%s: export: each record's prev_hash is the hash of the one "
            "before (%zu do not chain, %zu without hash)",
            what, a->unchained, a->no_hash);
    H_CHECK(a->leaks == 0,
            "%s: no record holds a BSN or a name (%zu fields do)", what,
            a->leaks);
}

/* The broker's verdict, through the admin socket and through krctl. */
static void
s_check_verify_ok(uint64_t records, const char *what)
{
    struct h_audit_verify v;
    struct h_run r;
    char want[64];
    int rc = h_audit_verify(&t.c, &v);

    H_CHECK(rc == KR_OK && v.ok && v.checked == records && v.first_bad_seq == 0,
            "%s: audit_verify: intact, %llu records checked (%s; ok %d, "
            "checked %llu, first bad %llu: %s)",
            what, (unsigned long long)records, kr_strerror(rc), v.ok,
            (unsigned long long)v.checked, (unsigned long long)v.first_bad_seq,
            v.detail);
    h_krctl(&r, "--admin", t.c.admin, "audit", "verify", NULL);
    snprintf(want, sizeof(want), "intact: %llu records",
             (unsigned long long)records);
    H_CHECK(r.code == 0 && strstr(r.out, want) != NULL,
            "%s: krctl audit verify exits 0: \"%.*s\" (exit %d, %s)", what,
            (int)strcspn(r.out, "\n"), r.out, r.code, r.err);
    h_run_free(&r);
}

/*
 * The chain in the file, walked by this test.
 */

struct s_chain {
    uint64_t records;
    uint64_t first_bad;
    char why[160];
};

static void
s_chain_walk(struct s_chain *out)
{
    struct h_store st;
    MDB_dbi audit;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t prev[32] = {0}, h[32];
    uint64_t expect = 1;
    int rc;

    memset(out, 0, sizeof(*out));
    H_ENSURE(h_store_open(&t.c, &st) == KR_OK &&
                 h_store_dbi(&st, "audit", &audit) == KR_OK &&
                 mdb_cursor_open(st.txn, audit, &cur) == 0,
             "open the audit database read-only");
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
         rc == 0 && expect < 100000000u;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), expect++) {
        const uint8_t *p = v.mv_data, *key = k.mv_data;
        uint64_t seq = 0;
        const char *bad = NULL;
        for (size_t i = 0; k.mv_size == 8 && i < 8; i++)
            seq = seq << 8 | key[i];
        if (k.mv_size != 8 || seq != expect)
            bad = "key is not the next seq";
        else if (v.mv_size < 32)
            bad = "value shorter than its hash";
        if (bad == NULL) {
            crypto_generichash_state s;
            crypto_generichash_init(&s, NULL, 0, 32);
            crypto_generichash_update(&s, prev, 32);
            crypto_generichash_update(&s, p + 32, v.mv_size - 32);
            crypto_generichash_final(&s, h, 32);
            Kr__V1__AuditRecord *r =
                kr__v1__audit_record__unpack(NULL, v.mv_size - 32, p + 32);
            if (r == NULL)
                bad = "packed record does not parse";
            else if (r->seq != seq)
                bad = "record's seq is not its key";
            else if (r->prev_hash.len != 32 ||
                     memcmp(r->prev_hash.data, prev, 32) != 0)
                bad = "prev_hash is not the previous record's hash";
            else if (r->hash.len != 0)
                bad = "the packed record carries a hash";
            else if (memcmp(h, p, 32) != 0)
                bad = "hash is not BLAKE2b-256(prev_hash || packed)";
            if (r != NULL)
                kr__v1__audit_record__free_unpacked(r, NULL);
        }
        if (bad != NULL) {
            out->first_bad = expect;
            snprintf(out->why, sizeof(out->why), "record %llu: %s",
                     (unsigned long long)expect, bad);
            break;
        }
        memcpy(prev, p, 32);
        out->records++;
    }
    mdb_cursor_close(cur);
    h_store_close(&st);
}

static void
s_check_chain_file(uint64_t records, const char *what)
{
    struct s_chain ch;

    s_chain_walk(&ch);
    H_CHECK(ch.first_bad == 0 && ch.records == records,
            "%s: data.mdb walked by the test: %llu records, each hash = "
            "BLAKE2b-256(prev_hash || packed record) (%llu walked%s%s)",
            what, (unsigned long long)records, (unsigned long long)ch.records,
            ch.why[0] ? "; " : "", ch.why);
}

/*
 * Phase 2's sender: a process of its own, so that the broker dies while it
 * sends. Number i is repeated (same msg_id) until the node has it.
 */
static int
s_sender(void *arg)
{
    struct s_test *tt = arg;
    struct h_referral ref;
    kr_client_t *kc = NULL;
    char text[64];
    uint8_t got[16];

    h_referral_default(&ref);
    for (int i = 0; i < S_CRASH; i++) {
        uint64_t deadline = h_mono_ms() + (uint64_t)h_scale(30000);
        int rc = KR_EUNAVAIL;
        snprintf(text, sizeof(text), "audit crash seq=%04d", i);
        ref.reason_text = text;
        for (int attempt = 0; attempt < 10000; attempt++) {
            if (kc == NULL && kr_client_connect(tt->c.nodes[tt->vl].local, 2000,
                                                &kc) != KR_OK)
                kc = NULL;
            if (kc != NULL)
                rc =
                    h_send_referral(kc, S_JGZ_ORG, &ref, tt->crash_ids[i], got);
            if (rc == KR_OK)
                break;
            if (h_mono_ms() >= deadline)
                break;
            h_sleep_ms(H_POLL_MS);
        }
        if (rc != KR_OK || memcmp(got, tt->crash_ids[i], 16) != 0) {
            printf("sender: send %d failed: %s\n", i, kr_strerror(rc));
            kr_client_destroy(&kc);
            return 1;
        }
    }
    printf("sender: %d sent\n", S_CRASH);
    kr_client_destroy(&kc);
    return 0;
}

static uint64_t
s_jgz_received(void)
{
    struct h_status st;

    if (h_status(h_node_client(&t.c, t.jgz), &st) != KR_OK)
        return 0;
    return st.inbox_unprocessed;
}

static uint64_t
s_vl_pending(void)
{
    struct h_status st;

    if (h_status(h_node_client(&t.c, t.vl), &st) != KR_OK)
        return 0;
    return st.outbox_pending;
}

/*
 * Phase 3: one byte of record N.
 */

/* Where record N's value lies in data.mdb, and a copy of it. LMDB hands
 * out pointers into its map of the file; the map is made of pages of
 * ms_psize bytes, each starting with its own page number (MDB_page's
 * first field), so the offset in the file is that page's number times the
 * page size, plus the value's place in the page. The caller confirms the
 * bytes are there before it touches anything. */
static bool
s_locate(uint64_t n, off_t *off, uint8_t **copy, size_t *len)
{
    struct h_store st;
    MDB_dbi audit;
    MDB_stat ms;
    uint8_t key[8];
    MDB_val k = {8, key}, v;
    bool ok = false;

    for (int i = 7; i >= 0; i--, n >>= 8)
        key[i] = (uint8_t)(n & 0xff);
    if (h_store_open(&t.c, &st) != KR_OK)
        return false;
    if (h_store_dbi(&st, "audit", &audit) == KR_OK &&
        mdb_env_stat(st.env, &ms) == 0 && ms.ms_psize >= 512 &&
        mdb_get(st.txn, audit, &k, &v) == 0 && v.mv_size > 32) {
        uintptr_t p = (uintptr_t)v.mv_data;
        uintptr_t page = p & ~((uintptr_t)ms.ms_psize - 1);
        size_t pgno;
        memcpy(&pgno, (const void *)page, sizeof(pgno));
        *off = (off_t)(pgno * ms.ms_psize + (p - page));
        *len = v.mv_size;
        *copy = malloc(v.mv_size);
        if (*copy != NULL) {
            memcpy(*copy, v.mv_data, v.mv_size);
            ok = true;
        }
    }
    h_store_close(&st);
    return ok;
}

/* How often 'needle' occurs in the file (stale copies of a page may hold
 * the same bytes; only the live one counts for LMDB). */
static size_t
s_occurrences(const char *path, const uint8_t *needle, size_t nlen)
{
    char *buf = NULL;
    size_t len = 0, n = 0;

    if (util_read_file(path, 1u << 30, &buf, &len) != KR_OK)
        return 0;
    for (const char *p = buf; p != NULL && (size_t)(p - buf) < len;) {
        p = memmem(p, len - (size_t)(p - buf), needle, nlen);
        if (p != NULL) {
            n++;
            p++;
        }
    }
    free(buf);
    return n;
}

static void
s_phase_tamper(uint64_t last)
{
    char path[H_PATH + 32];
    uint8_t *rec = NULL, file_bytes[4096];
    size_t len = 0;
    off_t off = 0;
    struct h_audit_verify v;
    struct h_run r;
    char want[64];
    int fd, rc;

    h_note("== 3. one byte of one record changed in data.mdb");
    /* A record in the middle of the history. */
    uint64_t n = last / 2;
    H_REQUIRE(h_broker_stop(&t.c), "stop the broker before the file is "
                                   "touched");
    snprintf(path, sizeof(path), "%s/data.mdb", t.c.broker_dir);
    H_REQUIRE(s_locate(n, &off, &rec, &len) && len <= sizeof(file_bytes),
              "find audit record %llu's value in the map",
              (unsigned long long)n);
    Kr__V1__AuditRecord *ar =
        kr__v1__audit_record__unpack(NULL, len - 32, rec + 32);
    H_REQUIRE(ar != NULL && ar->seq == n && ar->event != NULL,
              "record %llu parses (event %s)", (unsigned long long)n,
              ar && ar->event ? ar->event : "?");
    /* The byte to change: the first letter of its event code, inside the
     * packed record, well clear of the 32-byte hash in front of it. */
    const uint8_t *ev =
        memmem(rec + 32, len - 32, ar->event, strlen(ar->event));
    H_REQUIRE(ev != NULL, "the event code lies in the packed bytes");
    off_t at = off + (ev - rec);
    h_note("record %llu (%s): %zu bytes at offset %lld of data.mdb; the "
           "same bytes occur %zu time(s) in the file; changing the byte at "
           "%lld",
           (unsigned long long)n, ar->event, len, (long long)off,
           s_occurrences(path, rec, len), (long long)at);
    kr__v1__audit_record__free_unpacked(ar, NULL);

    fd = open(path, O_RDWR | O_CLOEXEC);
    H_REQUIRE(fd >= 0, "open data.mdb for writing%s%s", fd < 0 ? ": " : "",
              fd < 0 ? strerror(errno) : "");
    H_REQUIRE(pread(fd, file_bytes, len, off) == (ssize_t)len &&
                  memcmp(file_bytes, rec, len) == 0,
              "data.mdb holds record %llu's bytes at offset %lld",
              (unsigned long long)n, (long long)off);
    uint8_t b = file_bytes[ev - rec] ^ 0x20; /* 'm' -> 'M' */
    rc = pwrite(fd, &b, 1, at) == 1 && fsync(fd) == 0;
    close(fd);
    H_REQUIRE(rc, "change one byte of record %llu", (unsigned long long)n);
    free(rec);

    h_broker_start(&t.c);
    rc = h_audit_verify(&t.c, &v);
    char name[32];
    snprintf(name, sizeof(name), "record %llu", (unsigned long long)n);
    H_CHECK(rc == KR_OK && !v.ok && v.first_bad_seq == n && v.checked == n - 1,
            "audit_verify: broken, first bad record %llu, %llu before it "
            "intact (%s; ok %d, first bad %llu, checked %llu)",
            (unsigned long long)n, (unsigned long long)(n - 1), kr_strerror(rc),
            v.ok, (unsigned long long)v.first_bad_seq,
            (unsigned long long)v.checked);
    H_CHECK(strstr(v.detail, name) != NULL,
            "audit_verify's detail names %s: \"%s\"", name, v.detail);
    h_krctl(&r, "--admin", t.c.admin, "audit", "verify", NULL);
    snprintf(want, sizeof(want),
             "broken at record %llu:", (unsigned long long)n);
    H_CHECK(r.code == 1 && strstr(r.out, want) != NULL,
            "krctl audit verify exits 1 and names %s: \"%.*s\" (exit %d, "
            "%s)",
            name, (int)strcspn(r.out, "\n"), r.out, r.code, r.err);
    h_run_free(&r);
    struct s_chain ch;
    s_chain_walk(&ch);
    H_CHECK(ch.first_bad == n,
            "the test's own walk of data.mdb also stops at %s (%s)", name,
            ch.why);
    /* The broker keeps serving; the broken link stays on record. */
    h_roundtrip(&t.c, t.vl, t.jgz, "after the tampering", 20000);
}

int
main(void)
{
    char bsn[4][10], text[64];
    const char *secrets[8];
    struct h_referral ref;
    struct h_idset hist, crash;
    struct s_tally y;
    struct s_trail a;
    bool ok;
    int rc;

    h_init("audit", 180);
    h_cluster_init(&t.c, "audit");
    /* Quick resends, so that what the crash swallowed comes again soon. */
    h_broker_set(&t.c, "resend_ms", "500");
    h_broker_start(&t.c);
    t.vl = h_org_add(&t.c, "vl", S_VL_ORG, "verloskunde",
                     "Verloskundigenpraktijk De Wieg");
    t.jgz = h_org_add(&t.c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    h_node_set(&t.c, t.vl, "resend_ms", "500");
    h_node_set(&t.c, t.jgz, "resend_ms", "500");
    h_node_start(&t.c, t.vl);
    h_node_start(&t.c, t.jgz);
    if (!h_node_wait_connected(&t.c, t.vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&t.c, t.jgz, H_CONNECT_MS))
        h_abort();
    H_REQUIRE(h_consent_default(&t.c, t.vl, t.jgz), "consent recorded");
    h_referral_default(&ref);
    int ns = 0;
    secrets[ns++] = ref.bsn;
    secrets[ns++] = ref.family_name;
    secrets[ns++] = ref.street;

    /*
     * 1. A history: consents granted and revoked, 1,500 referrals.
     */
    h_note("== 1. a history of thousands of events");
    uint64_t t0 = h_mono_ms(), now = util_now_ms();
    kr_client_t *kv = h_node_client(&t.c, t.vl);
    uint8_t cids[4][16], gid[16], rid[16];
    for (int i = 0; i < 4; i++) {
        struct h_consent g = {0};
        h_bsn(i, bsn[i]);
        secrets[ns++] = bsn[i];
        g.recipient = S_JGZ_ORG;
        g.bsn = bsn[i];
        g.from_org = S_VL_ORG;
        g.to_org = S_JGZ_ORG;
        g.from_ms = now - 3600 * 1000ull;
        g.until_ms = now + 365 * S_DAY_MS;
        rc = h_send_consent(kv, &g, cids[i], gid);
        H_REQUIRE(rc == KR_OK &&
                      s_outcome_wait(gid, KR__V1__OUTCOME__DELIVERED) ==
                          KR__V1__OUTCOME__DELIVERED,
                  "consent %d granted and delivered (%s)", i, kr_strerror(rc));
    }
    secrets[ns] = NULL;
    for (int i = 0; i < 2; i++) {
        rc = h_send_revoke(kv, S_JGZ_ORG, cids[i], rid);
        H_REQUIRE(rc == KR_OK &&
                      s_outcome_wait(rid, KR__V1__OUTCOME__DELIVERED) ==
                          KR__V1__OUTCOME__DELIVERED,
                  "consent %d revoked, the revoke delivered (%s)", i,
                  kr_strerror(rc));
    }
    h_idset_init(&hist);
    for (int i = 0; i < S_HISTORY; i++) {
        uint8_t id[16];
        snprintf(text, sizeof(text), "audit history seq=%04d", i);
        ref.reason_text = text;
        /* Mostly the default subject, some under the other consents. */
        ref.bsn = i % 5 == 4 ? bsn[2 + i % 2] : secrets[0];
        rc = h_send_referral(kv, S_JGZ_ORG, &ref, NULL, id);
        H_ENSURE(rc == KR_OK, "send %d (%s)", i, kr_strerror(rc));
        h_idset_add(&hist, id);
    }
    ref.bsn = secrets[0];
    H_POLL(ok, 60000, s_all_delivered(&hist, &y));
    H_CHECK(ok, "%d referrals delivered (%zu of %zu items; %llu ms)", S_HISTORY,
            y.delivered, y.items, (unsigned long long)(h_mono_ms() - t0));
    rc = s_trail(&a, NULL, secrets);
    H_CHECK(rc == KR_OK && a.records >= 3000 && a.accepted >= S_HISTORY &&
                a.delivered >= S_HISTORY && a.granted >= 5 && a.revoked >= 2,
            "the trail: %zu records: %zu message.accepted, %zu "
            "message.delivered, %zu consent.granted, %zu consent.revoked "
            "(%s)",
            a.records, a.accepted, a.delivered, a.granted, a.revoked,
            kr_strerror(rc));
    s_check_trail(&a, "history");
    s_check_verify_ok(a.records, "history");
    s_check_chain_file(a.records, "history");
    s_trail_free(&a);

    /*
     * 2. kill -9 while messages flow.
     */
    h_note("== 2. kill -9 of the broker while %d referrals flow", S_CRASH);
    h_idset_init(&crash);
    for (int i = 0; i < S_CRASH; i++) {
        util_random_id(t.crash_ids[i]);
        h_idset_add(&crash, t.crash_ids[i]);
    }
    char log[H_PATH + 32];
    struct h_proc sender;
    int status;
    snprintf(log, sizeof(log), "%s/sender.log", t.c.tmp);
    uint64_t base = s_jgz_received();
    t0 = h_mono_ms();
    /* No libkr client of ours lives across the fork (h_proc_fork). */
    h_clients_close(&t.c);
    H_ENSURE(h_proc_fork(&sender, "sender", log, s_sender, &t) == KR_OK,
             "fork the sender");
    H_POLL(ok, 30000, s_jgz_received() >= base + 150);
    if (!ok)
        h_note("the kill point (150 received) was not reached in time");
    h_note("kill -9 at %llu received",
           (unsigned long long)(s_jgz_received() - base));
    h_broker_kill9(&t.c);
    /* The sender's node keeps taking messages meanwhile. */
    uint64_t pending = s_vl_pending();
    H_POLL(ok, 5000, s_vl_pending() >= pending + 50);
    h_broker_start(&t.c);
    H_CHECK(h_proc_wait(&sender, 60000, &status) == KR_OK &&
                WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "the sender hands all %d to its node", S_CRASH);
    H_POLL(ok, 60000, s_all_delivered(&crash, &y));
    H_CHECK(ok,
            "all %d delivered after the restart (%zu of %zu items; "
            "%llu ms)",
            S_CRASH, y.delivered, y.items,
            (unsigned long long)(h_mono_ms() - t0));
    rc = s_trail(&a, &crash, secrets);
    H_CHECK(rc == KR_OK, "export the trail after the crash (%zu records, %s)",
            a.records, kr_strerror(rc));
    s_check_trail(&a, "after kill -9");
    s_check_verify_ok(a.records, "after kill -9");
    s_check_chain_file(a.records, "after kill -9");
    size_t twice = 0;
    for (int i = 0; i < S_CRASH; i++)
        if (h_idset_count(&a.set_accepted, t.crash_ids[i]) != 1 ||
            h_idset_count(&a.set_delivered, t.crash_ids[i]) != 1)
            twice++;
    H_CHECK(twice == 0 && a.set_accepted.n == S_CRASH &&
                a.set_delivered.n == S_CRASH,
            "each of the %d is audited accepted once and delivered once, "
            "resends and the crash notwithstanding (%zu accepted, %zu "
            "delivered, %zu not exactly once)",
            S_CRASH, a.set_accepted.n, a.set_delivered.n, twice);
    uint64_t last = a.last_seq;
    s_trail_free(&a);

    /*
     * 3. Tampering.
     */
    s_phase_tamper(last);

    h_idset_free(&hist);
    h_idset_free(&crash);
    return h_finish(&t.c);
}
