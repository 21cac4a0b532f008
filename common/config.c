/* config.c - see config.h. */
#include "config.h"

#include <ini.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kr.h"
#include "util.h"

static const struct cfg_option *
s_find(const struct cfg_option *opts, const char *key)
{
    for (; opts->key != NULL; opts++)
        if (strcmp(opts->key, key) == 0)
            return opts;
    return NULL;
}

static int
s_assign(const struct cfg_option *o, void *base, const char *value,
         char *err, size_t errlen)
{
    char *field = (char *)base + o->offset;

    switch (o->type) {
    case CFG_STR: {
        char **sp = (char **)field;
        free(*sp);
        *sp = xstrdup(value);
        return KR_OK;
    }
    case CFG_U64: {
        uint64_t v;
        if (util_parse_u64(value, o->min, o->max, &v) != KR_OK) {
            snprintf(err, errlen,
                     "%s: '%s' is not a whole number from %llu to %llu",
                     o->key, value, (unsigned long long)o->min,
                     (unsigned long long)o->max);
            return KR_ECONFIG;
        }
        *(uint64_t *)field = v;
        return KR_OK;
    }
    case CFG_BOOL: {
        bool b;
        if (util_parse_bool(value, &b) != KR_OK) {
            snprintf(err, errlen, "%s: '%s' is not true or false", o->key,
                     value);
            return KR_ECONFIG;
        }
        *(bool *)field = b;
        return KR_OK;
    }
    }
    return KR_EINVAL;
}

int
cfg_defaults(const struct cfg_option *opts, void *base, char *err,
             size_t errlen)
{
    for (; opts->key != NULL; opts++) {
        if (opts->def == NULL)
            continue;
        int rc = s_assign(opts, base, opts->def, err, errlen);
        if (rc != KR_OK)
            return rc;
    }
    return KR_OK;
}

int
cfg_set(const struct cfg_option *opts, void *base, const char *key,
        const char *value, char *err, size_t errlen)
{
    const struct cfg_option *o = s_find(opts, key);

    if (o == NULL) {
        snprintf(err, errlen, "unknown option '%s'", key);
        return KR_ECONFIG;
    }
    return s_assign(o, base, value, err, errlen);
}

struct s_ini_ctx {
    const char *section;
    const struct cfg_option *opts;
    void *base;
    char *err;
    size_t errlen;
    int rc;
};

static int
s_ini_handler(void *user, const char *section, const char *name,
              const char *value)
{
    struct s_ini_ctx *ctx = user;
    char why[256];

    if (strcmp(section, ctx->section) != 0) {
        snprintf(ctx->err, ctx->errlen, "option '%s' outside section [%s]",
                 name, ctx->section);
        ctx->rc = KR_ECONFIG;
        return 0;
    }
    if (cfg_set(ctx->opts, ctx->base, name, value, why, sizeof(why)) != 0) {
        snprintf(ctx->err, ctx->errlen, "%s", why);
        ctx->rc = KR_ECONFIG;
        return 0;
    }
    return 1;
}

int
cfg_load_file(const char *path, const char *section,
              const struct cfg_option *opts, void *base, char *err,
              size_t errlen)
{
    struct s_ini_ctx ctx = {section, opts, base, err, errlen, KR_OK};
    char why[256] = "";

    ctx.err = why;
    ctx.errlen = sizeof(why);
    int line = ini_parse(path, s_ini_handler, &ctx);
    if (line == -1) {
        snprintf(err, errlen, "%s: cannot open", path);
        return KR_ECONFIG;
    }
    if (line != 0) {
        snprintf(err, errlen, "%s:%d: %s", path, line,
                 why[0] ? why : "syntax error");
        return KR_ECONFIG;
    }
    return KR_OK;
}

int
cfg_check_required(const struct cfg_option *opts, const void *base, char *err,
                   size_t errlen)
{
    for (; opts->key != NULL; opts++) {
        if (!opts->required || opts->type != CFG_STR)
            continue;
        char *const *sp = (char *const *)((const char *)base + opts->offset);
        if (*sp == NULL || **sp == '\0') {
            snprintf(err, errlen, "option '%s' is required (%s)", opts->key,
                     opts->help);
            return KR_ECONFIG;
        }
    }
    return KR_OK;
}

void
cfg_free(const struct cfg_option *opts, void *base)
{
    for (; opts->key != NULL; opts++) {
        if (opts->type != CFG_STR)
            continue;
        char **sp = (char **)((char *)base + opts->offset);
        free(*sp);
        *sp = NULL;
    }
}

void
cfg_print_help(FILE *f, const struct cfg_option *opts)
{
    for (; opts->key != NULL; opts++) {
        fprintf(f, "  --%-22s %s", opts->key, opts->help);
        if (opts->def != NULL && opts->def[0] != '\0')
            fprintf(f, " (default: %s)", opts->def);
        else if (opts->required)
            fprintf(f, " (required)");
        fputc('\n', f);
    }
}

int
cfg_parse_args(int argc, char **argv, const char *section,
               const struct cfg_option *opts, void *base, char *err,
               size_t errlen)
{
    int rc;

    /* The file first, so that flags override it wherever they stand. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return 1;
        if (strcmp(a, "--version") == 0)
            return 2;
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "%s needs a file name", a);
                return KR_ECONFIG;
            }
            rc = cfg_load_file(argv[i + 1], section, opts, base, err, errlen);
            if (rc != KR_OK)
                return rc;
        } else if (strncmp(a, "--config=", 9) == 0) {
            rc = cfg_load_file(a + 9, section, opts, base, err, errlen);
            if (rc != KR_OK)
                return rc;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            snprintf(err, errlen, "unexpected argument '%s'", a);
            return KR_ECONFIG;
        }
        char key[64];
        const char *value;
        const char *eq = strchr(a + 2, '=');
        if (eq != NULL) {
            size_t kl = (size_t)(eq - (a + 2));
            if (kl >= sizeof(key))
                kl = sizeof(key) - 1;
            memcpy(key, a + 2, kl);
            key[kl] = '\0';
            value = eq + 1;
        } else {
            snprintf(key, sizeof(key), "%s", a + 2);
            if (s_find(opts, key) == NULL) {
                snprintf(err, errlen, "unknown option '--%s'", key);
                return KR_ECONFIG;
            }
            if (i + 1 >= argc) {
                snprintf(err, errlen, "--%s needs a value", key);
                return KR_ECONFIG;
            }
            value = argv[++i];
        }
        rc = cfg_set(opts, base, key, value, err, errlen);
        if (rc != KR_OK)
            return rc;
    }
    return cfg_check_required(opts, base, err, errlen);
}
