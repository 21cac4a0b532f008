/*
 * test_libkr.c - libkr's request/reply against a scripted ROUTER in a
 * thread: replies and error codes, a reply that comes too late (it must
 * never be taken for the next call's), no peer at all, and replies that
 * are not one LocalResponse frame.
 *
 * The first byte of each request tells the fake node what to do:
 *   'O' answer with msg_id 16 x 0x42     'E' answer error KR_EREFUSED
 *   'S' keep silent, remember the peer   'L' first answer the remembered
 *   'M' answer with two frames               peer ("late"), then this one
 *   'G' answer with bytes that do not parse  'N' answer ok without msg_id
 *   'Q' answer and stop
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "kr.h"
#include "local.pb-c.h"

static char s_endpoint[128];
static void *s_zctx;

/*
 * The watchdog. CI once saw this program stop inside the fork test until
 * ctest's timeout, with nothing to say where it waited (thousands of runs
 * here did not repeat it). Should the whole run outlast S_WATCHDOG_S, the
 * watchdog prints the stack of every thread of this process and of the
 * forked child (gdb, when the machine has it) and ends the run.
 */
#define S_WATCHDOG_S 60
#define S_CHILD_WAIT_MS 20000

static pthread_mutex_t s_wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_wd_cv = PTHREAD_COND_INITIALIZER;
static int s_wd_done;
static volatile pid_t s_child;

static void
s_stacks(pid_t pid)
{
    char cmd[160];

    fprintf(stderr, "test_libkr: the stacks of process %ld:\n", (long)pid);
    snprintf(cmd, sizeof(cmd),
             "gdb -p %ld -batch -ex 'thread apply all bt' </dev/null 1>&2",
             (long)pid);
    if (system(cmd) != 0)
        fprintf(stderr, "test_libkr: (gdb could not show them)\n");
}

static void *
s_watchdog(void *arg)
{
    struct timespec ts;
    int rc = 0;

    (void)arg;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += S_WATCHDOG_S;
    pthread_mutex_lock(&s_wd_mu);
    while (!s_wd_done && rc == 0)
        rc = pthread_cond_timedwait(&s_wd_cv, &s_wd_mu, &ts);
    pthread_mutex_unlock(&s_wd_mu);
    if (s_wd_done)
        return NULL;
    fprintf(stderr, "test_libkr: still running after %d s\n", S_WATCHDOG_S);
    s_stacks(getpid());
    if (s_child > 0) {
        s_stacks(s_child);
        kill(s_child, SIGKILL);
    }
    _exit(3);
}

/* Wait for 'pid' to end, for at most 'ms' (a pidfd becomes readable when
 * the process ends). Returns its status, or -1 (it is killed, after its
 * stacks are shown). */
static int
s_wait_child(pid_t pid, int ms)
{
    int status = 0, pfd = (int)syscall(SYS_pidfd_open, pid, 0);

    /* Without pidfds (a kernel before 5.3) the watchdog is the bound. */
    if (pfd < 0)
        return waitpid(pid, &status, 0) == pid ? status : -1;
    struct pollfd p = {pfd, POLLIN, 0};
    int n;
    while ((n = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    close(pfd);
    if (n > 0 && waitpid(pid, &status, 0) == pid)
        return status;
    fprintf(stderr, "test_libkr: the forked child did not end in %d ms\n", ms);
    s_stacks(pid);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void
s_reply(void *router, const uint8_t *rid, size_t rid_len, int error,
        const char *detail, int with_id)
{
    Kr__V1__LocalResponse r = KR__V1__LOCAL_RESPONSE__INIT;
    uint8_t id[16], buf[256];
    size_t n;

    memset(id, 0x42, sizeof(id));
    r.error = error;
    r.detail = (char *)detail;
    if (with_id)
        r.msg_id = (ProtobufCBinaryData){16, id};
    n = kr__v1__local_response__pack(&r, buf);
    zmq_send(router, rid, rid_len, ZMQ_SNDMORE);
    zmq_send(router, buf, n, 0);
}

static void *
s_node(void *arg)
{
    void *router = arg;
    uint8_t rid[256], held[256], req[64];
    int rid_len, held_len = 0, n;

    for (;;) {
        if ((rid_len = zmq_recv(router, rid, sizeof(rid), 0)) < 0)
            break;
        if ((n = zmq_recv(router, req, sizeof(req), 0)) < 1)
            continue;
        switch (req[0]) {
        case 'O':
            s_reply(router, rid, (size_t)rid_len, 0, "", 1);
            break;
        case 'N':
            s_reply(router, rid, (size_t)rid_len, 0, "", 0);
            break;
        case 'E':
            s_reply(router, rid, (size_t)rid_len, KR_EREFUSED,
                    "recipient not in directory", 0);
            break;
        case 'S':
            memcpy(held, rid, (size_t)rid_len);
            held_len = rid_len;
            break;
        case 'L':
            if (held_len > 0)
                s_reply(router, held, (size_t)held_len, 0, "late", 1);
            s_reply(router, rid, (size_t)rid_len, 0, "second", 1);
            break;
        case 'M':
            zmq_send(router, rid, (size_t)rid_len, ZMQ_SNDMORE);
            zmq_send(router, "a", 1, ZMQ_SNDMORE);
            zmq_send(router, "b", 1, 0);
            break;
        case 'G':
            zmq_send(router, rid, (size_t)rid_len, ZMQ_SNDMORE);
            zmq_send(router, "\xff\xff\xff", 3, 0);
            break;
        case 'Q':
            s_reply(router, rid, (size_t)rid_len, 0, "", 0);
            return NULL;
        }
    }
    return NULL;
}

static int
s_setup(void **state)
{
    static pthread_t thread;
    void *router;
    int linger = 0;

    snprintf(s_endpoint, sizeof(s_endpoint), "ipc:///tmp/test_libkr.%ld",
             (long)getpid());
    s_zctx = zmq_ctx_new();
    router = zmq_socket(s_zctx, ZMQ_ROUTER);
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_bind(router, s_endpoint) != 0)
        return -1;
    pthread_create(&thread, NULL, s_node, router);
    state[0] = &thread;
    state[1] = router;
    return 0;
}

static int
s_teardown(void **state)
{
    kr_client_t *c = NULL;
    uint8_t *resp = NULL;
    size_t len;

    /* Outside a test: no cmocka asserts, just stop the thread. */
    if (kr_client_connect(s_endpoint, 2000, &c) != KR_OK ||
        kr_call(c, (const uint8_t *)"Q", 1, &resp, &len) != KR_OK) {
        fprintf(stderr, "test_libkr: cannot stop the fake node\n");
        exit(1);
    }
    kr_buf_free(resp);
    kr_client_destroy(&c);
    pthread_join(*(pthread_t *)state[0], NULL);
    zmq_close(state[1]);
    zmq_ctx_term(s_zctx);
    unlink(s_endpoint + strlen("ipc://"));
    return 0;
}

static void
test_send_ok(void **state)
{
    kr_client_t *c = NULL;
    uint8_t id[16], want[16];

    (void)state;
    assert_int_equal(kr_client_connect(s_endpoint, 2000, &c), KR_OK);
    memset(want, 0x42, sizeof(want));
    for (int i = 0; i < 3; i++) {
        memset(id, 0, sizeof(id));
        assert_int_equal(kr_send(c, (const uint8_t *)"O", 1, id), KR_OK);
        assert_memory_equal(id, want, 16);
    }
    /* An answer without an id is not a successful send. */
    assert_int_equal(kr_send(c, (const uint8_t *)"N", 1, id), KR_EPROTO);
    kr_client_destroy(&c);
    assert_null(c);
    kr_client_destroy(&c);
}

static void
test_error_keeps_bytes(void **state)
{
    kr_client_t *c = NULL;
    Kr__V1__LocalResponse *r;
    uint8_t *resp = NULL, id[16];
    size_t len = 0;

    (void)state;
    assert_int_equal(kr_client_connect(s_endpoint, 2000, &c), KR_OK);
    assert_int_equal(kr_call(c, (const uint8_t *)"E", 1, &resp, &len),
                     KR_EREFUSED);
    assert_non_null(resp);
    r = kr__v1__local_response__unpack(NULL, len, resp);
    assert_non_null(r);
    assert_string_equal(r->detail, "recipient not in directory");
    kr__v1__local_response__free_unpacked(r, NULL);
    kr_buf_free(resp);
    assert_int_equal(kr_send(c, (const uint8_t *)"E", 1, id), KR_EREFUSED);
    kr_client_destroy(&c);
}

static void
test_late_reply_is_not_the_next_answer(void **state)
{
    kr_client_t *c = NULL;
    Kr__V1__LocalResponse *r;
    uint8_t *resp = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(kr_client_connect(s_endpoint, 300, &c), KR_OK);
    assert_int_equal(kr_call(c, (const uint8_t *)"S", 1, &resp, &len),
                     KR_ETIMEDOUT);
    assert_null(resp);
    /* The node now answers the first request, then the second: the
     * client must read "second", never "late". */
    assert_int_equal(kr_call(c, (const uint8_t *)"L", 1, &resp, &len), KR_OK);
    r = kr__v1__local_response__unpack(NULL, len, resp);
    assert_non_null(r);
    assert_string_equal(r->detail, "second");
    kr__v1__local_response__free_unpacked(r, NULL);
    kr_buf_free(resp);
    /* And the client goes on working. */
    assert_int_equal(kr_call(c, (const uint8_t *)"O", 1, &resp, &len), KR_OK);
    kr_buf_free(resp);
    kr_client_destroy(&c);
}

static void
test_bad_replies(void **state)
{
    kr_client_t *c = NULL;
    uint8_t *resp = (uint8_t *)"x";
    size_t len = 1;

    (void)state;
    assert_int_equal(kr_client_connect(s_endpoint, 2000, &c), KR_OK);
    assert_int_equal(kr_call_raw(c, (const uint8_t *)"M", 1, &resp, &len),
                     KR_EPROTO);
    assert_null(resp);
    resp = (uint8_t *)"x";
    assert_int_equal(kr_call(c, (const uint8_t *)"G", 1, &resp, &len),
                     KR_EPROTO);
    assert_null(resp);
    assert_int_equal(len, 0);
    /* kr_call_raw hands over whatever came, without judging it. */
    assert_int_equal(kr_call_raw(c, (const uint8_t *)"G", 1, &resp, &len),
                     KR_OK);
    assert_int_equal(len, 3);
    kr_buf_free(resp);
    /* The socket is clean after the two-frame reply. */
    assert_int_equal(kr_call(c, (const uint8_t *)"O", 1, &resp, &len), KR_OK);
    kr_buf_free(resp);
    kr_client_destroy(&c);
}

static void
test_no_peer(void **state)
{
    kr_client_t *c = NULL;
    uint8_t *resp = NULL, id[16];
    size_t len;

    (void)state;
    assert_int_equal(kr_client_connect("ipc:///tmp/test_libkr.nobody", 200, &c),
                     KR_OK);
    assert_int_equal(kr_call(c, (const uint8_t *)"O", 1, &resp, &len),
                     KR_EUNAVAIL);
    assert_int_equal(kr_send(c, (const uint8_t *)"O", 1, id), KR_EUNAVAIL);
    kr_client_destroy(&c);
}

static void
test_bad_arguments(void **state)
{
    kr_client_t *c = (kr_client_t *)0x1;

    (void)state;
    assert_int_equal(kr_client_connect(NULL, 0, &c), KR_EINVAL);
    assert_int_equal(kr_client_connect("", 0, &c), KR_EINVAL);
    assert_int_equal(kr_client_connect("ipc:///tmp/x", -1, &c), KR_EINVAL);
    assert_int_equal(kr_client_connect("nonsense", 0, &c), KR_EINVAL);
    assert_null(c);
    assert_string_equal(kr_strerror(KR_ETIMEDOUT), "timed out");
}

/* Threads of this process, from /proc/self/task. */
static int
s_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

#define S_SHARE 8

static void
test_clients_share_one_context(void **state)
{
    kr_client_t *c[S_SHARE] = {0};
    uint8_t id[16];

    (void)state;
    int before = s_threads();
    for (int i = 0; i < S_SHARE; i++)
        assert_int_equal(kr_client_connect(s_endpoint, 2000, &c[i]), KR_OK);
    int during = s_threads();
    /* A context brings an I/O thread and a reaper: one context, not
     * eight, so at most two threads more. */
    assert_true(before > 0 && during - before <= 2);
    for (int i = 0; i < S_SHARE; i++)
        assert_int_equal(kr_send(c[i], (const uint8_t *)"O", 1, id), KR_OK);
    for (int i = 0; i < S_SHARE; i++)
        kr_client_destroy(&c[i]);
    /* The last one out ended the context; the next client starts anew. */
    assert_int_equal(kr_client_connect(s_endpoint, 2000, &c[0]), KR_OK);
    assert_int_equal(kr_send(c[0], (const uint8_t *)"O", 1, id), KR_OK);
    kr_client_destroy(&c[0]);
}

static void *
s_sender(void *arg)
{
    kr_client_t *c = NULL;
    uint8_t id[16];
    intptr_t ok = 0;

    (void)arg;
    if (kr_client_connect(s_endpoint, 5000, &c) != KR_OK)
        return (void *)ok;
    for (int i = 0; i < 50; i++)
        if (kr_send(c, (const uint8_t *)"O", 1, id) == KR_OK && id[0] == 0x42)
            ok++;
    kr_client_destroy(&c);
    return (void *)ok;
}

static void
test_clients_in_threads(void **state)
{
    pthread_t th[S_SHARE];
    void *ok;

    (void)state;
    for (int i = 0; i < S_SHARE; i++)
        assert_int_equal(pthread_create(&th[i], NULL, s_sender, NULL), 0);
    for (int i = 0; i < S_SHARE; i++) {
        assert_int_equal(pthread_join(th[i], &ok), 0);
        assert_int_equal((intptr_t)ok, 50);
    }
}

static void
test_forked_child_has_its_own(void **state)
{
    kr_client_t *c = NULL, *cc = NULL;
    uint8_t id[16];
    int status = 0;

    (void)state;
    assert_int_equal(kr_client_connect(s_endpoint, 2000, &c), KR_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's handlers would take a crash here back into its test
         * loop, in this child: it would run the teardown, stop the fake
         * node and wait for the parent's thread forever. A crash must
         * end the child, for the parent to see. */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
            signal(sigs[k], SIG_DFL);
        /* The parent's context has no I/O thread here: a client must get
         * a new one, or it would never send. The parent's client is not
         * ours to close. */
        int rc = kr_client_connect(s_endpoint, 2000, &cc);
        if (rc == KR_OK)
            rc = kr_send(cc, (const uint8_t *)"O", 1, id);
        kr_client_destroy(&cc);
        _exit(rc == KR_OK ? 0 : 1);
    }
    s_child = pid;
    status = s_wait_child(pid, S_CHILD_WAIT_MS);
    s_child = 0;
    assert_true(status != -1);
    if (WIFSIGNALED(status))
        fprintf(stderr, "test_libkr: the forked child died of signal %d\n",
                WTERMSIG(status));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(kr_send(c, (const uint8_t *)"O", 1, id), KR_OK);
    kr_client_destroy(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_ok),
        cmocka_unit_test(test_error_keeps_bytes),
        cmocka_unit_test(test_late_reply_is_not_the_next_answer),
        cmocka_unit_test(test_bad_replies),
        cmocka_unit_test(test_no_peer),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_clients_share_one_context),
        cmocka_unit_test(test_clients_in_threads),
        cmocka_unit_test(test_forked_child_has_its_own),
    };
    void *state[2];
    pthread_t watchdog;

    pthread_create(&watchdog, NULL, s_watchdog, NULL);
    if (s_setup(state) != 0) {
        fprintf(stderr, "test_libkr: cannot bind %s\n", s_endpoint);
        return 1;
    }
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    s_teardown(state);
    pthread_mutex_lock(&s_wd_mu);
    s_wd_done = 1;
    pthread_cond_signal(&s_wd_cv);
    pthread_mutex_unlock(&s_wd_mu);
    pthread_join(watchdog, NULL);
    return rc;
}
