/*
 * harness_proc.c - checks, the watchdog, child processes, commands and
 * files for the integration tests (see harness.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_internal.h"
#include "libkr_internal.h"

#define S_LOG_TAIL_LINES 40
#define S_RUN_MAX_OUTPUT (64u << 20)

static char s_test[64] = "test";
static int s_failures;
static int s_checks;
static char s_first_failure[512];
static struct h_proc *s_procs[H_MAX_PROCS];
static struct h_cluster *s_cluster;
static int s_time_scale = 1;
/* The directory, as plain bytes for the watchdog's signal handler. */
static char s_tmp[PATH_MAX];

/*
 * Time.
 */

uint64_t
h_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
h_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    /* An interrupted sleep is only a shorter poll interval. */
    nanosleep(&ts, NULL);
}

int
h_scale(int ms)
{
    long v = (long)ms * s_time_scale;

    return v > INT_MAX ? INT_MAX : (int)v;
}

int
h_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    uint64_t deadline = h_mono_ms() + (uint64_t)h_scale(timeout_ms);

    /* Bounded by the deadline and, should the clock stall, by count. */
    for (long i = 0; i < 10000000L; i++) {
        if (cond(arg))
            return KR_OK;
        if (h_mono_ms() >= deadline)
            break;
        h_sleep_ms(H_POLL_MS);
    }
    return cond(arg) ? KR_OK : KR_ETIMEDOUT;
}

/*
 * Checks and the test's life.
 */

/* The watchdog: a test that overruns its budget is a failure, and its
 * daemons must not outlive it. Only async-signal-safe calls here. */
static void
s_on_alarm(int sig)
{
    static const char msg[] = "FAIL - watchdog: the test overran its time "
                              "budget; daemons killed; directory kept: ";
    (void)sig;
    for (int i = 0; i < H_MAX_PROCS; i++)
        if (s_procs[i] != NULL && s_procs[i]->running && s_procs[i]->pid > 0)
            kill(s_procs[i]->pid, SIGKILL);
    if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0 ||
        write(STDOUT_FILENO, s_tmp, strlen(s_tmp)) < 0 ||
        write(STDOUT_FILENO, "\n", 1) < 0) {
        /* Nothing left to report it with. */
    }
    _exit(3);
}

void
h_init(const char *test_name, int budget_s)
{
    const char *scale = getenv("KR_IT_TIME_SCALE");
    struct sigaction sa;

    snprintf(s_test, sizeof(s_test), "%s", test_name);
    if (scale != NULL) {
        long v = strtol(scale, NULL, 10);
        if (v >= 1 && v <= 1000)
            s_time_scale = (int)v;
    }
    if (getenv("KR_IT_VALGRIND") != NULL && s_time_scale < 10)
        s_time_scale = 10;
    /* Lines must appear in order with the daemons' logs shown on failure. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = s_on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)h_scale(budget_s));
    if (kcrypto_init() != KR_OK) {
        printf("FAIL - libsodium does not start\n");
        exit(1);
    }
    printf("# %s: start (time scale %d)\n", s_test, s_time_scale);
}

bool
h_check(bool cond, const char *file, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    s_checks++;
    if (cond) {
        printf("ok   - %s\n", msg);
        return true;
    }
    printf("FAIL - %s (%s:%d)\n", msg, file, line);
    if (s_failures++ == 0)
        snprintf(s_first_failure, sizeof(s_first_failure), "%s", msg);
    return false;
}

void
h_note(const char *fmt, ...)
{
    va_list ap;

    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

int
h_failures(void)
{
    return s_failures;
}

void
h_internal_set_cluster(struct h_cluster *c)
{
    s_cluster = c;
    snprintf(s_tmp, sizeof(s_tmp), "%s", c != NULL ? c->tmp : "");
}

int
h_internal_checks(void)
{
    return s_checks;
}

const char *
h_internal_first_failure(void)
{
    return s_first_failure;
}

const char *
h_internal_test_name(void)
{
    return s_test;
}

/* The last lines of one log file. */
static void
s_tail(const char *path, int lines)
{
    char *buf = NULL;
    size_t len = 0;

    if (util_read_file(path, 256u << 20, &buf, &len) != KR_OK) {
        printf("---- %s: cannot read ----\n", path);
        return;
    }
    size_t start = len;
    int seen = 0;
    while (start > 0) {
        if (buf[start - 1] == '\n' && start != len && ++seen >= lines)
            break;
        start--;
    }
    printf("---- last %d lines of %s ----\n", lines, path);
    fwrite(buf + start, 1, len - start, stdout);
    if (len > 0 && buf[len - 1] != '\n')
        fputc('\n', stdout);
    printf("---- end of %s ----\n", path);
    free(buf);
}

void
h_internal_dump_logs(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];

    if (d == NULL)
        return;
    for (int n = 0; n < 1000 && (e = readdir(d)) != NULL; n++) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".log") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        s_tail(path, S_LOG_TAIL_LINES);
    }
    closedir(d);
}

void
h_abort(void)
{
    printf("# %s: aborting after a failed requirement\n", s_test);
    /* Stop what still runs: politely first, so that the logs end with what
     * the daemons had to say, then by force. */
    for (int i = 0; i < H_MAX_PROCS; i++) {
        struct h_proc *p = s_procs[i];
        int st;
        if (p == NULL || !h_proc_alive(p))
            continue;
        if (h_proc_stop(p, SIGTERM, 3000, &st) != KR_OK)
            h_proc_kill9(p);
    }
    if (s_cluster != NULL && s_cluster->tmp[0] != '\0') {
        h_internal_dump_logs(s_cluster->tmp);
        printf("# directory kept: %s\n", s_cluster->tmp);
    }
    printf("FAIL %s: %d of %d checks failed; first: %s\n", s_test, s_failures,
           s_checks, s_first_failure);
    exit(1);
}

/*
 * Processes.
 */

static void
s_register(struct h_proc *p)
{
    for (int i = 0; i < H_MAX_PROCS; i++)
        if (s_procs[i] == p)
            return;
    for (int i = 0; i < H_MAX_PROCS; i++)
        if (s_procs[i] == NULL) {
            s_procs[i] = p;
            return;
        }
}

int
h_proc_spawn(struct h_proc *p, const char *name, const char *log,
             char *const argv[])
{
    char marker[1024];
    int fd, n;
    pid_t pid;

    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->log, sizeof(p->log), "%s", log);
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        printf("# spawn %s: %s: %s\n", name, log, strerror(errno));
        return KR_ESYS;
    }
    n = snprintf(marker, sizeof(marker), "==== harness: start %s:", name);
    for (int i = 0; argv[i] != NULL && n > 0 && (size_t)n < sizeof(marker); i++)
        n += snprintf(marker + n, sizeof(marker) - (size_t)n, " %s", argv[i]);
    if (n > 0 && (size_t)n < sizeof(marker) - 1) {
        marker[n++] = '\n';
        if (write(fd, marker, (size_t)n) < 0) {
            /* The marker is a convenience; the daemon's lines matter. */
        }
    }
    pid_t parent = getpid();
    pid = fork();
    if (pid < 0) {
        close(fd);
        return KR_ESYS;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        /* The daemon must not outlive a test that is killed. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGALRM, SIG_DFL);
        execv(argv[0], argv);
        dprintf(STDERR_FILENO, "harness: exec %s: %s\n", argv[0],
                strerror(errno));
        _exit(127);
    }
    close(fd);
    p->pid = pid;
    p->running = true;
    p->expected = true;
    p->status = 0;
    s_register(p);
    return KR_OK;
}

int
h_proc_fork(struct h_proc *p, const char *name, const char *log,
            int (*fn)(void *arg), void *arg)
{
    pid_t parent = getpid(), pid;
    size_t users;
    int fd;

    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->log, sizeof(p->log), "%s", log);
    /* Not while a libkr client of ours lives: its context's ZeroMQ I/O
     * thread may hold a lock at the fork (the sanitizer allocator's, under
     * ASan) that the child then waits for forever (seen once in CI). Close
     * them first (h_clients_close); the parent opens them again on use. */
    if ((users = libkr_ctx_users()) > 0) {
        h_check(false, __FILE__, __LINE__,
                "fork of %s refused: %zu libkr client(s) of this process are "
                "open, and their ZeroMQ I/O thread must not run across a "
                "fork (close them first: h_clients_close)",
                name, users);
        return KR_EPERM;
    }
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return KR_ESYS;
    fflush(stdout);
    if ((pid = fork()) < 0) {
        close(fd);
        return KR_ESYS;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        signal(SIGALRM, SIG_DFL);
        alarm(0);
        /* _exit: the parent's atexit work and buffers are not ours. */
        int rc = fn(arg);
        fflush(stdout);
        _exit(rc);
    }
    close(fd);
    p->pid = pid;
    p->running = true;
    p->status = 0;
    s_register(p);
    return KR_OK;
}

int
h_proc_wait(struct h_proc *p, int timeout_ms, int *status)
{
    uint64_t deadline = h_mono_ms() + (uint64_t)h_scale(timeout_ms);

    for (long i = 0; i < 10000000L; i++) {
        if (!h_proc_alive(p)) {
            *status = p->status;
            return KR_OK;
        }
        if (h_mono_ms() >= deadline)
            break;
        h_sleep_ms(10);
    }
    return KR_ETIMEDOUT;
}

bool
h_proc_alive(struct h_proc *p)
{
    int st;
    pid_t r;

    if (!p->running || p->pid <= 0)
        return false;
    r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid || (r < 0 && errno == ECHILD)) {
        p->status = r == p->pid ? st : 0;
        p->running = false;
        p->pid = 0;
        return false;
    }
    return true;
}

int
h_proc_stop(struct h_proc *p, int sig, int timeout_ms, int *status)
{
    uint64_t deadline;

    p->expected = false;
    if (!h_proc_alive(p)) {
        *status = p->status;
        return KR_OK;
    }
    kill(p->pid, sig);
    deadline = h_mono_ms() + (uint64_t)h_scale(timeout_ms);
    for (long i = 0; i < 10000000L; i++) {
        if (!h_proc_alive(p)) {
            *status = p->status;
            return KR_OK;
        }
        if (h_mono_ms() >= deadline)
            break;
        h_sleep_ms(10);
    }
    return KR_ETIMEDOUT;
}

void
h_proc_kill9(struct h_proc *p)
{
    p->expected = false;
    if (!h_proc_alive(p))
        return;
    kill(p->pid, SIGKILL);
    /* SIGKILL cannot be caught; the bound only guards against a process
     * stuck in the kernel. */
    for (int i = 0; i < 1000 && h_proc_alive(p); i++)
        h_sleep_ms(10);
}

const char *
h_status_str(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "signal %d", WTERMSIG(status));
    else
        snprintf(buf, len, "status 0x%x", (unsigned)status);
    return buf;
}

bool
h_log_contains(const char *log, const char *needle)
{
    return h_log_count(log, needle) > 0;
}

int
h_log_count(const char *log, const char *needle)
{
    char *buf = NULL;
    size_t len = 0;
    int n = 0;

    if (util_read_file(log, 256u << 20, &buf, &len) != KR_OK)
        return 0;
    for (char *line = buf; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (strstr(line, needle) != NULL)
            n++;
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(buf);
    return n;
}

/*
 * Commands.
 */

struct s_sink {
    char *data;
    size_t len, cap;
    bool open;
};

static void
s_sink_read(struct s_sink *s, int fd)
{
    char tmp[65536];
    ssize_t n = read(fd, tmp, sizeof(tmp));

    if (n <= 0) {
        if (n == 0 || (errno != EINTR && errno != EAGAIN))
            s->open = false;
        return;
    }
    if (s->len + (size_t)n + 1 > s->cap && s->len < S_RUN_MAX_OUTPUT) {
        size_t cap = s->cap ? s->cap : 65536;
        while (cap < s->len + (size_t)n + 1)
            cap *= 2;
        char *nd = realloc(s->data, cap);
        if (nd == NULL)
            return;
        s->data = nd;
        s->cap = cap;
    }
    if (s->len + (size_t)n + 1 <= s->cap) {
        memcpy(s->data + s->len, tmp, (size_t)n);
        s->len += (size_t)n;
        s->data[s->len] = '\0';
    }
}

int
h_run(struct h_run *r, int timeout_ms, char *const argv[])
{
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    struct s_sink so = {NULL, 0, 0, true}, se = {NULL, 0, 0, true};
    uint64_t deadline;
    int rc = KR_OK, st = 0;
    pid_t pid;

    memset(r, 0, sizeof(*r));
    r->code = -1;
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        rc = KR_ESYS;
        goto done;
    }
    pid_t parent = getpid();
    if ((pid = fork()) < 0) {
        rc = KR_ESYS;
        goto done;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGALRM, SIG_DFL);
        execv(argv[0], argv);
        dprintf(STDERR_FILENO, "harness: exec %s: %s\n", argv[0],
                strerror(errno));
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    out[1] = err[1] = -1;
    deadline = h_mono_ms() + (uint64_t)h_scale(timeout_ms);
    /* Read both pipes until both close, then reap; kill at the deadline. */
    for (long i = 0; i < 100000000L && (so.open || se.open); i++) {
        struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
        uint64_t now = h_mono_ms();
        if (now >= deadline) {
            kill(pid, SIGKILL);
            rc = KR_ETIMEDOUT;
            break;
        }
        if (!so.open)
            fds[0].fd = -1;
        if (!se.open)
            fds[1].fd = -1;
        int n = poll(fds, 2, (int)(deadline - now));
        if (n < 0 && errno != EINTR)
            break;
        if (fds[0].revents)
            s_sink_read(&so, out[0]);
        if (fds[1].revents)
            s_sink_read(&se, err[0]);
    }
    /* Its output is closed; reap it by the same deadline (a command that
     * closed its output may still run), then by force. */
    for (int i = 0; i < 1000000; i++) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            break;
        if (w == 0 && h_mono_ms() >= deadline) {
            kill(pid, SIGKILL);
            rc = KR_ETIMEDOUT;
        }
        h_sleep_ms(2);
    }
    r->status = st;
    if (rc == KR_OK && WIFEXITED(st))
        r->code = WEXITSTATUS(st);
done:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
    }
    r->out = so.data != NULL ? so.data : strdup("");
    r->err = se.data != NULL ? se.data : strdup("");
    return rc;
}

void
h_run_free(struct h_run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/*
 * Files.
 */

int
h_write_file(const char *path, const char *text, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t len = strlen(text), off = 0;

    if (fd < 0)
        return KR_ESYS;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return KR_EIO;
        }
        off += (size_t)n;
    }
    /* open() applies the umask; the tests rely on the exact mode. */
    if (fchmod(fd, mode) != 0) {
        close(fd);
        return KR_ESYS;
    }
    return close(fd) == 0 ? KR_OK : KR_EIO;
}

static int
s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        return rmdir(path) == 0 ? 0 : -1;
    return unlink(path) == 0 ? 0 : -1;
}

int
h_rm_rf(const char *path)
{
    /* Only ever our own mkdtemp() directory under /tmp. */
    if (strncmp(path, "/tmp/kr-it-", 11) != 0)
        return KR_EINVAL;
    return nftw(path, s_rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? KR_OK : KR_EIO;
}
