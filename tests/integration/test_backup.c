/*
 * test_backup.c - `krctl backup` under load, and a restore from it: a
 * sender process hands 600 referrals to the midwife's node while the
 * broker copies its store; the copy is 0600 and its audit chain verified
 * by the broker; every referral still arrives exactly once; a second
 * broker started on the copy alone answers, knows the directory and
 * verifies the audit chain. And a directory that is not empty is
 * refused.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_COUNT 600

struct s_test {
    struct h_cluster c;
    int vl, jgz;
};

#include <sys/wait.h>

static int
s_sender(void *arg)
{
    struct s_test *t = arg;
    struct h_referral ref;
    kr_client_t *kc = NULL;
    uint8_t got[16];

    h_referral_default(&ref);
    if (kr_client_connect(t->c.nodes[t->vl].local, 10000, &kc) != KR_OK)
        return 1;
    for (int i = 0; i < S_COUNT; i++) {
        int rc = h_send_referral(kc, S_JGZ_ORG, &ref, NULL, got);
        if (rc != KR_OK) {
            printf("sender: send %d failed: %s\n", i, kr_strerror(rc));
            kr_client_destroy(&kc);
            return 1;
        }
    }
    kr_client_destroy(&kc);
    return 0;
}

static size_t
s_inbox(struct s_test *t)
{
    size_t n = 0;

    if (h_inbox_count(h_node_client(&t->c, t->jgz), &n) != KR_OK)
        return 0;
    return n;
}

/* `krctl org list` at 'admin' answers and names both organisations. */
static bool
s_knows_both(const char *admin)
{
    struct h_run r;
    bool up;

    h_krctl(&r, "--admin", admin, "--timeout", "500", "org", "list", NULL);
    up = r.code == 0 && strstr(r.out, S_VL_ORG) != NULL &&
         strstr(r.out, S_JGZ_ORG) != NULL;
    h_run_free(&r);
    return up;
}

/* A broker on the copy alone: its own directory and endpoints. */
static void
s_restore(struct s_test *t, const char *copy)
{
    char dir[H_PATH + 16], dst[H_PATH + 32], admin[H_PATH + 48];
    char secret[H_PATH + 16], log[H_PATH + 32];
    struct h_proc p = {0};
    struct h_run r;
    bool ok;
    int status;

    snprintf(dir, sizeof(dir), "%s/restored", t->c.tmp);
    snprintf(dst, sizeof(dst), "%s/data.mdb", dir);
    snprintf(admin, sizeof(admin), "ipc://%s/admin.sock", dir);
    snprintf(log, sizeof(log), "%s/restored.log", t->c.tmp);
    H_REQUIRE(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    char *cp[] = {"/bin/cp", (char *)copy, dst, NULL};
    h_run(&r, 60000, cp);
    H_REQUIRE(r.code == 0, "cp the copy into a new data_dir");
    h_run_free(&r);
    h_secret_path(t->c.broker_keys, secret, sizeof(secret));
    char *argv[] = {H_KRBROKER, "--data_dir",        dir, "--keys", secret,
                    "--listen", "tcp://127.0.0.1:0", NULL};
    H_REQUIRE(h_proc_spawn(&p, "krbroker (restored)", log, argv) == KR_OK,
              "start a broker on the copy");
    H_POLL(ok, 15000, s_knows_both(admin));
    H_CHECK(ok, "the restored broker answers and knows both organisations");
    h_krctl(&r, "--admin", admin, "audit", "verify", NULL);
    H_CHECK(r.code == 0,
            "the restored broker's audit chain verifies (%d: "
            "%s%s)",
            r.code, r.out, r.err);
    h_run_free(&r);
    H_CHECK(h_proc_stop(&p, SIGTERM, 10000, &status) == KR_OK &&
                WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "the restored broker stops cleanly");
}

int
main(void)
{
    static struct s_test t;
    struct h_proc sender = {0};
    char bdir[H_PATH + 16], copy[H_PATH + 32], log[H_PATH + 32];
    struct h_run r;
    struct stat st;
    bool ok;
    int status;

    h_init("test_backup", 280);
    h_cluster_init(&t.c, "test_backup");
    h_broker_start(&t.c);
    t.vl = h_org_add(&t.c, "vl", S_VL_ORG, "verloskunde", "De Wieg");
    t.jgz = h_org_add(&t.c, "jgz", S_JGZ_ORG, "jgz", "JGZ Noord");
    h_node_start(&t.c, t.vl);
    h_node_start(&t.c, t.jgz);
    H_REQUIRE(h_node_wait_connected(&t.c, t.vl, H_CONNECT_MS), "vl connected");
    H_REQUIRE(h_node_wait_connected(&t.c, t.jgz, H_CONNECT_MS),
              "jgz connected");
    H_REQUIRE(h_consent_default(&t.c, t.vl, t.jgz), "consent recorded");

    size_t before = s_inbox(&t); /* the consent, if listed */
    snprintf(log, sizeof(log), "%s/sender.log", t.c.tmp);
    /* No libkr client of ours lives across the fork (h_proc_fork). */
    h_clients_close(&t.c);
    H_REQUIRE(h_proc_fork(&sender, "sender", log, s_sender, &t) == KR_OK,
              "fork the sender");
    H_POLL(ok, 60000, s_inbox(&t) >= before + 100);
    H_REQUIRE(ok, "100 referrals through before the backup");

    snprintf(bdir, sizeof(bdir), "%s/backup", t.c.tmp);
    h_krctl(&r, "--admin", t.c.admin, "backup", bdir, NULL);
    H_CHECK(r.code == 0 && strstr(r.out, "audit_checked=") != NULL,
            "krctl backup under load: exit 0 (%d: %s%s)", r.code, r.out, r.err);
    size_t during = s_inbox(&t);
    h_note("backup: %s(inbox at %zu of %d)", r.out, during, S_COUNT);
    char *ac = strstr(r.out, "audit_checked=");
    H_CHECK(ac != NULL && strtoull(ac + 14, NULL, 10) > 100,
            "the copy's audit chain was verified (more than 100 records)");
    h_run_free(&r);
    snprintf(copy, sizeof(copy), "%s/data.mdb", bdir);
    H_CHECK(stat(copy, &st) == 0 && (st.st_mode & 0777) == 0600,
            "the copy is data.mdb, mode 0600 (%03o)",
            (unsigned)(st.st_mode & 0777));
    char lock[H_PATH + 32];
    snprintf(lock, sizeof(lock), "%s/lock.mdb", bdir);
    H_CHECK(access(lock, F_OK) != 0, "the copy is one file (no lock.mdb)");

    h_krctl(&r, "--admin", t.c.admin, "backup", bdir, NULL);
    H_CHECK(r.code == 1 && strstr(r.err, "is not empty") != NULL,
            "a backup into a directory that is not empty: exit 1 (%d: %s)",
            r.code, r.err);
    h_run_free(&r);

    H_CHECK(h_proc_wait(&sender, 120000, &status) == KR_OK &&
                WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "the sender handed over all %d", S_COUNT);
    H_POLL(ok, 60000, s_inbox(&t) >= before + S_COUNT);
    h_sleep_ms(200); /* a double would show up by now */
    H_CHECK(ok && s_inbox(&t) == before + S_COUNT,
            "all %d referrals arrived, once each (%zu)", S_COUNT,
            s_inbox(&t) - before);

    s_restore(&t, copy);
    return h_finish(&t.c);
}
