/*
 * bproc.c - krbench's child processes: started with their output in a
 * log, looked at, stopped by PID (SIGTERM, then SIGKILL past a deadline);
 * and what the kernel tells of a process: its memory and its time on and
 * waiting for a CPU (cluster.c starts the daemons through these).
 *
 * Every child gets PR_SET_PDEATHSIG, so none outlives krbench, whatever
 * ends it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

int
bproc_spawn(struct bproc *p, const char *name, const char *log,
            char *const argv[])
{
    pid_t parent = getpid(), pid;
    int fd, null;

    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->log, sizeof(p->log), "%s", log);
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return KR_ESYS;
    null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    fflush(NULL);
    if ((pid = fork()) < 0) {
        close(fd);
        if (null >= 0)
            close(null);
        return KR_ESYS;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls until exec: krbench may have
         * threads. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd);
    if (null >= 0)
        close(null);
    p->pid = pid;
    p->running = true;
    return KR_OK;
}

bool
bproc_alive(struct bproc *p)
{
    int st;
    pid_t r;

    if (!p->running || p->pid <= 0)
        return false;
    r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid || (r < 0 && errno == ECHILD)) {
        p->status = r == p->pid ? st : 0;
        p->running = false;
        return false;
    }
    return true;
}

int
bproc_stop(struct bproc *p, int sig, int timeout_ms, int *status)
{
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;

    *status = 0;
    if (!bproc_alive(p)) {
        *status = p->status;
        return KR_OK;
    }
    kill(p->pid, sig);
    for (long i = 0; i < 10000000L; i++) {
        if (!bproc_alive(p)) {
            *status = p->status;
            return KR_OK;
        }
        if (bench_now_ns() >= deadline)
            break;
        bench_sleep_ns(2000000);
    }
    kill(p->pid, SIGKILL);
    for (int i = 0; i < 5000 && bproc_alive(p); i++)
        bench_sleep_ns(1000000);
    *status = p->status;
    return KR_ETIMEDOUT;
}

const char *
bproc_status_str(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "signal %d", WTERMSIG(status));
    else
        snprintf(buf, len, "status %d", status);
    return buf;
}

/*
 * What the kernel tells of a process.
 */

int
cluster_rss_kb(pid_t pid, uint64_t *anon_kb, uint64_t *file_kb)
{
    char path[64], line[256];
    FILE *f;
    int found = 0;

    *anon_kb = *file_kb = 0;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "re")) == NULL)
        return KR_ESYS;
    for (int i = 0; i < 200 && fgets(line, sizeof(line), f) != NULL; i++) {
        unsigned long long v;
        if (sscanf(line, "RssAnon: %llu kB", &v) == 1) {
            *anon_kb = v;
            found |= 1;
        } else if (sscanf(line, "RssFile: %llu kB", &v) == 1) {
            *file_kb = v;
            found |= 2;
        }
    }
    fclose(f);
    return found == 3 ? KR_OK : KR_ENOTFOUND;
}

/* The first two fields of a schedstat file: ns on a CPU, ns runnable but
 * waiting for one. */
static int
s_schedstat(const char *path, uint64_t *run, uint64_t *wait)
{
    unsigned long long r = 0, w = 0;
    FILE *f = fopen(path, "re");
    int n;

    if (f == NULL)
        return KR_ESYS;
    n = fscanf(f, "%llu %llu", &r, &w);
    fclose(f);
    if (n != 2)
        return KR_EPROTO;
    *run = r;
    *wait = w;
    return KR_OK;
}

int
cluster_sched(pid_t pid, const char *dir, struct sched_sample *out)
{
    char path[128];
    struct dirent *e;
    DIR *d;
    int rc;

    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)pid,
             (int)pid);
    if ((rc = s_schedstat(path, &out->main_run_ns, &out->main_wait_ns)) !=
        KR_OK)
        return rc;
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    if ((d = opendir(path)) == NULL)
        return KR_ESYS;
    for (int i = 0; i < 10000 && (e = readdir(d)) != NULL; i++) {
        uint64_t r, w;
        char p2[300];
        if (e->d_name[0] == '.')
            continue;
        snprintf(p2, sizeof(p2), "/proc/%d/task/%s/schedstat", (int)pid,
                 e->d_name);
        if (s_schedstat(p2, &r, &w) == KR_OK)
            out->all_run_ns += r;
    }
    closedir(d);
    /* Page writes are most of a commit's cost: bytes per message show the
     * store's write amplification. Counted where they land, on the device
     * (field 7 of its stat: 512-byte sectors written). */
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/stat",
                 major(sb.st_dev), minor(sb.st_dev));
        FILE *f = fopen(path, "r");
        unsigned long long v[7];
        if (f != NULL) {
            if (fscanf(f, "%llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                       &v[2], &v[3], &v[4], &v[5], &v[6]) == 7)
                out->disk_bytes = v[6] * 512;
            fclose(f);
        }
    }
    out->at_ns = bench_now_ns();
    return KR_OK;
}
