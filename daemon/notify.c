/* notify.c - sd_notify(3) for Type=notify units; see daemon.h. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "log.h"

/* Half of WatchdogSec in ms (0: no watchdog), and the last WATCHDOG=1. */
static uint64_t s_wd_half_ms;
static uint64_t s_wd_last_ms;
static bool s_wd_checked;

void
daemon_notify_ready(const char *status)
{
    char msg[512];

    snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
    /* 0 without NOTIFY_SOCKET: not under systemd, nothing to tell. */
    if (sd_notify(0, msg) < 0)
        log_warnx("notify: READY=1 not sent to systemd");
}

void
daemon_notify_stopping(const char *why)
{
    char msg[512];

    snprintf(msg, sizeof(msg), "STOPPING=1\nSTATUS=stopping: %s", why);
    sd_notify(0, msg);
}

void
daemon_watchdog(uint64_t now_mono_ms)
{
    uint64_t usec = 0;

    if (!s_wd_checked) {
        /* WATCHDOG_USEC (and WATCHDOG_PID) come from systemd when the unit
         * has WatchdogSec=; read once, they do not change. */
        s_wd_checked = true;
        if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000) {
            s_wd_half_ms = usec / 2000;
            log_info("notify: watchdog every %llu ms",
                     (unsigned long long)s_wd_half_ms);
        }
    }
    if (s_wd_half_ms == 0 || now_mono_ms - s_wd_last_ms < s_wd_half_ms)
        return;
    s_wd_last_ms = now_mono_ms;
    sd_notify(0, "WATCHDOG=1");
}

const char *
daemon_signal_name(int sig, char *buf, size_t len)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {{SIGTERM, "SIGTERM"},
                 {SIGINT, "SIGINT"},
                 {SIGHUP, "SIGHUP"},
                 {SIGQUIT, "SIGQUIT"},
                 {SIGUSR1, "SIGUSR1"}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].sig == sig)
            return names[i].name;
    snprintf(buf, len, "signal %d", sig);
    return buf;
}
