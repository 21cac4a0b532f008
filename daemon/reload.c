/* reload.c - SIGHUP: read the configuration again (daemon.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "kr.h"
#include "log.h"

static int s_argc;
static char **s_argv;

void
daemon_args_keep(int argc, char **argv)
{
    s_argc = argc;
    s_argv = argv;
}

static bool
s_is_live(const char *const *live, const char *key)
{
    for (; live != NULL && *live != NULL; live++)
        if (strcmp(*live, key) == 0)
            return true;
    return false;
}

/* The value of option o in cfg as text, for the log. */
static const char *
s_text(const struct cfg_option *o, const void *cfg, char *buf, size_t len)
{
    const char *field = (const char *)cfg + o->offset;

    switch (o->type) {
    case CFG_STR:
        return *(char *const *)field ? *(char *const *)field : "";
    case CFG_U64:
        snprintf(buf, len, "%llu",
                 (unsigned long long)*(const uint64_t *)field);
        return buf;
    case CFG_BOOL:
        return *(const bool *)field ? "true" : "false";
    }
    return "?";
}

static bool
s_differs(const struct cfg_option *o, const void *a, const void *b)
{
    const char *fa = (const char *)a + o->offset;
    const char *fb = (const char *)b + o->offset;

    switch (o->type) {
    case CFG_STR: {
        const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
        return strcmp(sa ? sa : "", sb ? sb : "") != 0;
    }
    case CFG_U64:
        return *(const uint64_t *)fa != *(const uint64_t *)fb;
    case CFG_BOOL:
        return *(const bool *)fa != *(const bool *)fb;
    }
    return false;
}

/* Exchange the values of option o: the running config takes the new one,
 * and the old one is freed with the fresh struct. */
static void
s_swap(const struct cfg_option *o, void *cur, void *fresh)
{
    char *fa = (char *)cur + o->offset, *fb = (char *)fresh + o->offset;
    size_t n = o->type == CFG_STR   ? sizeof(char *)
               : o->type == CFG_U64 ? sizeof(uint64_t)
                                    : sizeof(bool);
    char tmp[sizeof(uint64_t) > sizeof(char *) ? sizeof(uint64_t)
                                               : sizeof(char *)];

    memcpy(tmp, fa, n);
    memcpy(fa, fb, n);
    memcpy(fb, tmp, n);
}

int
daemon_reload(const char *section, const struct cfg_option *opts, void *cur,
              size_t size, const char *const *live,
              int (*check)(const void *cfg, char *err, size_t errlen),
              const struct reload_hook *hooks, size_t nhooks, void *ctx)
{
    void *fresh = calloc(1, size);
    char err[512], b1[32], b2[32];
    int rc, changed = 0, later = 0;

    if (fresh == NULL)
        return KR_ENOMEM;
    err[0] = '\0';
    if ((rc = cfg_defaults(opts, fresh, err, sizeof(err))) != KR_OK ||
        (rc = cfg_parse_args(s_argc, s_argv, section, opts, fresh, err,
                             sizeof(err))) != KR_OK ||
        (check != NULL && (rc = check(fresh, err, sizeof(err))) != KR_OK)) {
        log_errorx("reload: configuration not taken, the running one is "
                   "kept: %s",
                   err[0] != '\0' ? err : kr_strerror(rc));
        cfg_free(opts, fresh);
        free(fresh);
        return KR_ECONFIG;
    }
    for (const struct cfg_option *o = opts; o->key != NULL; o++) {
        if (!s_differs(o, cur, fresh))
            continue;
        if (!s_is_live(live, o->key)) {
            log_warnx("reload: %s changed (%s -> %s): takes effect at the "
                      "next start",
                      o->key, s_text(o, cur, b1, sizeof(b1)),
                      s_text(o, fresh, b2, sizeof(b2)));
            later++;
            continue;
        }
        log_info("reload: %s: %s -> %s", o->key, s_text(o, cur, b1, sizeof(b1)),
                 s_text(o, fresh, b2, sizeof(b2)));
        s_swap(o, cur, fresh);
        changed++;
    }
    cfg_free(opts, fresh);
    free(fresh);
    for (size_t i = 0; i < nhooks; i++)
        if ((rc = hooks[i].apply(ctx)) != KR_OK)
            log_errorx("reload: %s: %s", hooks[i].name, kr_strerror(rc));
    log_info("reload: done changed=%d restart_needed=%d", changed, later);
    return changed;
}
