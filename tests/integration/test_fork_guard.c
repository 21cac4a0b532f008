/*
 * test_fork_guard.c - h_proc_fork() refuses while a libkr client of the
 * test is open: that client's ZeroMQ I/O thread may hold a lock at the
 * fork (the sanitizer allocator's, under ASan) that the child then waits
 * for forever (seen once in CI). The refusal is a failed check naming the
 * cause; with the clients closed (h_clients_close) the fork goes ahead.
 *
 * The refusal fails the process that meets it, so it is met in a child
 * run of this program (--refuse DIR), whose exit and output the test
 * reads. No daemon is needed: a libkr client's context and I/O thread
 * exist from kr_client_connect on, whether or not a node answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "libkr_internal.h"

/* The child's exit when the fork was refused as it should be. */
#define S_REFUSED_EXIT 10

static int
s_child_fn(void *arg)
{
    (void)arg;
    return 7;
}

/* In the child run: one client open to a socket nobody serves, a fork
 * asked for. */
static int
s_refuse(const char *dir)
{
    char endpoint[H_PATH + 32], log[H_PATH + 32];
    struct h_proc p;
    kr_client_t *kc = NULL;

    h_init("fork_guard_child", 30);
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/nobody.sock", dir);
    snprintf(log, sizeof(log), "%s/probe.log", dir);
    if (kr_client_connect(endpoint, 1000, &kc) != KR_OK)
        return 2;
    int rc = h_proc_fork(&p, "probe", log, s_child_fn, NULL);
    printf("child: h_proc_fork returned %d (%s)\n", rc, kr_strerror(rc));
    fflush(stdout);
    kr_client_destroy(&kc);
    return rc == KR_EPERM ? S_REFUSED_EXIT : 3;
}

int
main(int argc, char **argv)
{
    static struct h_cluster c;
    char log[H_PATH + 32], st[32];
    struct h_proc p;
    struct h_run r;
    kr_client_t *a = NULL, *b = NULL;
    int status = 0;

    if (argc == 3 && strcmp(argv[1], "--refuse") == 0)
        return s_refuse(argv[2]);

    h_init("fork_guard", 60);
    h_cluster_init(&c, "fork_guard");
    snprintf(log, sizeof(log), "%s/child.log", c.tmp);

    /* The count the guard reads follows the clients. */
    char endpoint[H_PATH + 32];
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/nobody.sock", c.tmp);
    H_CHECK(libkr_ctx_users() == 0, "no libkr client: the count is 0 (%zu)",
            libkr_ctx_users());
    H_REQUIRE(kr_client_connect(endpoint, 1000, &a) == KR_OK &&
                  kr_client_connect(endpoint, 1000, &b) == KR_OK,
              "two libkr clients open");
    H_CHECK(libkr_ctx_users() == 2, "two clients: the count is 2 (%zu)",
            libkr_ctx_users());
    kr_client_destroy(&a);
    H_CHECK(libkr_ctx_users() == 1, "one closed: the count is 1 (%zu)",
            libkr_ctx_users());
    kr_client_destroy(&b);
    H_CHECK(libkr_ctx_users() == 0, "both closed: the count is 0 (%zu)",
            libkr_ctx_users());

    /* Refused, as a failed check naming the cause, in a child run. */
    char self[] = "/proc/self/exe";
    char *argv_child[] = {self, (char *)"--refuse", c.tmp, NULL};
    H_REQUIRE(h_run(&r, 20000, argv_child) == KR_OK, "run the child");
    H_CHECK(r.code == S_REFUSED_EXIT,
            "with a libkr client open, h_proc_fork returns KR_EPERM (child "
            "exit %d, want %d)",
            r.code, S_REFUSED_EXIT);
    bool named = r.out != NULL &&
                 strstr(r.out, "FAIL - fork of probe refused: 1 libkr "
                               "client(s) of this process are open") != NULL &&
                 strstr(r.out, "h_clients_close") != NULL;
    /* The child's output (with its FAIL line) only when it is wrong. */
    H_CHECK(named,
            "the refusal is a failed check that names the open client and "
            "the way out%s%.600s",
            named ? "" : ": ", named ? "" : (r.out ? r.out : "(none)"));
    h_run_free(&r);

    /* With every client closed, the fork goes ahead. */
    H_REQUIRE(h_proc_fork(&p, "child", log, s_child_fn, NULL) == KR_OK,
              "with no libkr client open, h_proc_fork forks");
    bool ended = h_proc_wait(&p, 10000, &status) == KR_OK;
    H_CHECK(ended && WIFEXITED(status) && WEXITSTATUS(status) == 7,
            "the child ran its function and exited with its value (%s)",
            ended ? h_status_str(status, st, sizeof(st)) : "still runs");
    return h_finish(&c);
}
