/* test_config.c - unit tests for common/config.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kr.h"
#include "log.h"
#include "util.h"

struct s_conf {
    char *name;
    uint64_t port;
    bool verbose;
    char *data_dir;
};

static const struct cfg_option s_opts[] = {
    {"name", CFG_STR, offsetof(struct s_conf, name), "broker", 0, 0, 0,
     "instance name"},
    {"port", CFG_U64, offsetof(struct s_conf, port), "7700", 1, 65535, 0,
     "TCP port"},
    {"verbose", CFG_BOOL, offsetof(struct s_conf, verbose), "false", 0, 0, 0,
     "log more"},
    {"data_dir", CFG_STR, offsetof(struct s_conf, data_dir), NULL, 0, 0, 1,
     "LMDB directory"},
    {NULL, 0, 0, NULL, 0, 0, 0, NULL},
};

struct s_ctx {
    char dir[64];
    char file[PATH_MAX]; /* dir/test.ini, written by s_ini() */
    struct s_conf conf;
    char err[256];
};

static int
s_setup(void **state)
{
    struct s_ctx *t = calloc(1, sizeof(*t));
    char why[256];

    if (t == NULL)
        return -1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/kr_test_config.XXXXXX");
    if (mkdtemp(t->dir) == NULL) {
        free(t);
        return -1;
    }
    snprintf(t->file, sizeof(t->file), "%s/test.ini", t->dir);
    if (cfg_defaults(s_opts, &t->conf, why, sizeof(why)) != KR_OK) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int
s_teardown(void **state)
{
    struct s_ctx *t = *state;

    cfg_free(s_opts, &t->conf);
    unlink(t->file);
    if (rmdir(t->dir) != 0)
        return -1;
    free(t);
    return 0;
}

static void
s_ini(struct s_ctx *t, const char *text)
{
    unlink(t->file);
    assert_int_equal(util_write_file_atomic(t->file, text, strlen(text), 0600),
                     KR_OK);
}

static int
s_load(struct s_ctx *t, const char *text)
{
    s_ini(t, text);
    t->err[0] = '\0';
    return cfg_load_file(t->file, "broker", s_opts, &t->conf, t->err,
                         sizeof(t->err));
}

/* Run cfg_parse_args on a NULL-terminated list of arguments. */
static int
s_args(struct s_ctx *t, const char **args)
{
    char *argv[32];
    int argc = 0;

    argv[argc++] = (char *)"krtest";
    for (; *args != NULL; args++) {
        assert_true(argc < 31);
        argv[argc++] = (char *)*args;
    }
    argv[argc] = NULL;
    t->err[0] = '\0';
    return cfg_parse_args(argc, argv, "broker", s_opts, &t->conf, t->err,
                          sizeof(t->err));
}

static void
test_defaults(void **state)
{
    struct s_ctx *t = *state;

    assert_string_equal(t->conf.name, "broker");
    assert_int_equal(t->conf.port, 7700);
    assert_false(t->conf.verbose);
    assert_null(t->conf.data_dir);
    assert_int_equal(
        cfg_check_required(s_opts, &t->conf, t->err, sizeof(t->err)),
        KR_ECONFIG);
    assert_non_null(strstr(t->err, "data_dir"));

    /* Defaults again do not leak the strings set before. */
    assert_int_equal(cfg_defaults(s_opts, &t->conf, t->err, sizeof(t->err)),
                     KR_OK);
    assert_string_equal(t->conf.name, "broker");
}

static void
test_set(void **state)
{
    struct s_ctx *t = *state;

    assert_int_equal(
        cfg_set(s_opts, &t->conf, "port", "1", t->err, sizeof(t->err)), KR_OK);
    assert_int_equal(t->conf.port, 1);
    assert_int_equal(
        cfg_set(s_opts, &t->conf, "name", "", t->err, sizeof(t->err)), KR_OK);
    assert_string_equal(t->conf.name, "");
    assert_int_equal(
        cfg_set(s_opts, &t->conf, "nmae", "x", t->err, sizeof(t->err)),
        KR_ECONFIG);
    assert_non_null(strstr(t->err, "nmae"));
    assert_int_equal(
        cfg_set(s_opts, &t->conf, "port", "0", t->err, sizeof(t->err)),
        KR_ECONFIG);
    assert_int_equal(t->conf.port, 1);
}

static void
test_load_file(void **state)
{
    struct s_ctx *t = *state;

    assert_int_equal(s_load(t, "# kansrijk broker\n"
                               "; another comment\n"
                               "[broker]\n"
                               "name = north\n"
                               "port=8000\n"
                               "verbose = yes\n"
                               "\n"
                               "data_dir = /var/lib/kr ; inline comment\n"),
                     KR_OK);
    assert_string_equal(t->conf.name, "north");
    assert_int_equal(t->conf.port, 8000);
    assert_true(t->conf.verbose);
    assert_string_equal(t->conf.data_dir, "/var/lib/kr");
    assert_int_equal(
        cfg_check_required(s_opts, &t->conf, t->err, sizeof(t->err)), KR_OK);

    /* Options not in the file keep their values. */
    assert_int_equal(s_load(t, "[broker]\nverbose = off\n"), KR_OK);
    assert_false(t->conf.verbose);
    assert_string_equal(t->conf.name, "north");
    assert_int_equal(t->conf.port, 8000);
}

static void
test_load_file_errors(void **state)
{
    struct s_ctx *t = *state;

    /* An unknown key is named, with file and line. */
    assert_int_equal(s_load(t, "[broker]\nname = x\ncolour = blue\n"),
                     KR_ECONFIG);
    assert_non_null(strstr(t->err, "colour"));
    assert_non_null(strstr(t->err, t->file));
    assert_non_null(strstr(t->err, ":3:"));

    assert_int_equal(s_load(t, "[broker]\nport = 70000\n"), KR_ECONFIG);
    assert_non_null(strstr(t->err, "port"));
    assert_non_null(strstr(t->err, "65535"));
    assert_int_equal(s_load(t, "[broker]\nport = 0\n"), KR_ECONFIG);
    assert_int_equal(s_load(t, "[broker]\nport = -1\n"), KR_ECONFIG);
    assert_int_equal(s_load(t, "[broker]\nport = 80x\n"), KR_ECONFIG);
    assert_int_equal(s_load(t, "[broker]\nport =\n"), KR_ECONFIG);
    assert_int_equal(t->conf.port, 7700);

    assert_int_equal(s_load(t, "[broker]\nverbose = maybe\n"), KR_ECONFIG);
    assert_non_null(strstr(t->err, "verbose"));
    assert_false(t->conf.verbose);

    /* Keys outside the section: before any section, or in another. */
    assert_int_equal(s_load(t, "name = x\n[broker]\nport = 1\n"), KR_ECONFIG);
    assert_non_null(strstr(t->err, "name"));
    assert_non_null(strstr(t->err, ":1:"));
    assert_int_equal(s_load(t, "[broker]\nport = 1\n[node]\nname = x\n"),
                     KR_ECONFIG);
    assert_non_null(strstr(t->err, ":4:"));
    assert_non_null(strstr(t->err, "name"));

    /* The first error is the one reported, with its own line. */
    assert_int_equal(s_load(t, "[broker]\nport = 0\ncolour = blue\n"),
                     KR_ECONFIG);
    assert_non_null(strstr(t->err, ":2:"));
    assert_non_null(strstr(t->err, "port"));
    assert_null(strstr(t->err, "colour"));

    /* Syntax, duplicates and continuation lines. */
    assert_int_equal(s_load(t, "[broker]\nname\n"), KR_ECONFIG);
    assert_non_null(strstr(t->err, ":2:"));
    assert_int_equal(s_load(t, "[broker\nname = x\n"), KR_ECONFIG);
    assert_int_equal(s_load(t, "[broker]\nport = 1\nport = 2\n"), KR_ECONFIG);
    assert_non_null(strstr(t->err, "port"));
    assert_int_equal(s_load(t, "[broker]\nname = a\n  port = 2\n"), KR_ECONFIG);
    assert_non_null(strstr(t->err, ":3:"));

    /* A line longer than the parser takes whole. */
    char text[400];
    snprintf(text, sizeof(text), "[broker]\ndata_dir = /%0250d\n", 0);
    assert_int_equal(s_load(t, text), KR_ECONFIG);
    assert_non_null(strstr(t->err, ":2:"));

    /* A missing file. */
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof(missing), "%s/missing.ini", t->dir);
    assert_int_equal(cfg_load_file(missing, "broker", s_opts, &t->conf, t->err,
                                   sizeof(t->err)),
                     KR_ECONFIG);
    assert_non_null(strstr(t->err, "missing.ini"));
}

static void
test_args(void **state)
{
    struct s_ctx *t = *state;

    assert_int_equal(
        s_args(t, (const char *[]){"--name", "a", "--port=99", "--verbose",
                                   "on", "--data_dir=/d", NULL}),
        0);
    assert_string_equal(t->conf.name, "a");
    assert_int_equal(t->conf.port, 99);
    assert_true(t->conf.verbose);
    assert_string_equal(t->conf.data_dir, "/d");

    /* An empty value, and a value with '=' in it. */
    assert_int_equal(
        s_args(t, (const char *[]){"--name=", "--data_dir=/a=b", NULL}), 0);
    assert_string_equal(t->conf.name, "");
    assert_string_equal(t->conf.data_dir, "/a=b");
    /* A value that looks like a flag is a value. */
    assert_int_equal(s_args(t, (const char *[]){"--name", "-c", NULL}), 0);
    assert_string_equal(t->conf.name, "-c");
    assert_int_equal(s_args(t, (const char *[]){"--name", "--help", NULL}), 0);
    assert_string_equal(t->conf.name, "--help");
}

static void
test_args_file(void **state)
{
    struct s_ctx *t = *state;

    s_ini(t, "[broker]\nname = fromfile\nport = 1000\ndata_dir = /f\n");
    assert_int_equal(s_args(t, (const char *[]){"-c", t->file, NULL}), 0);
    assert_string_equal(t->conf.name, "fromfile");
    assert_int_equal(t->conf.port, 1000);
    assert_string_equal(t->conf.data_dir, "/f");

    /* Flags override the file, before or after it on the line. */
    assert_int_equal(s_args(t, (const char *[]){"--port", "2000", "-c", t->file,
                                                "--name=flag", NULL}),
                     0);
    assert_int_equal(t->conf.port, 2000);
    assert_string_equal(t->conf.name, "flag");
    assert_string_equal(t->conf.data_dir, "/f");

    char opt[PATH_MAX + 16];
    snprintf(opt, sizeof(opt), "--config=%s", t->file);
    assert_int_equal(s_args(t, (const char *[]){"--port=3000", opt, NULL}), 0);
    assert_int_equal(t->conf.port, 3000);
    assert_string_equal(t->conf.name, "fromfile");

    assert_int_equal(s_args(t, (const char *[]){"--config", t->file, "--port",
                                                "4000", NULL}),
                     0);
    assert_int_equal(t->conf.port, 4000);

    /* A bad file fails the whole command line. */
    s_ini(t, "[broker]\nport = 0\n");
    assert_int_equal(s_args(t, (const char *[]){"-c", t->file, NULL}),
                     KR_ECONFIG);
    assert_non_null(strstr(t->err, "port"));
}

static void
test_args_errors(void **state)
{
    struct s_ctx *t = *state;

    assert_int_equal(
        s_args(t, (const char *[]){"--data_dir", "/d", "--bogus", "1", NULL}),
        KR_ECONFIG);
    assert_non_null(strstr(t->err, "bogus"));
    assert_int_equal(
        s_args(t, (const char *[]){"--data_dir", "/d", "--bogus=1", NULL}),
        KR_ECONFIG);
    assert_non_null(strstr(t->err, "bogus"));
    assert_int_equal(
        s_args(t, (const char *[]){"--data_dir", "/d", "-x", NULL}),
        KR_ECONFIG);
    assert_int_equal(
        s_args(t, (const char *[]){"--data_dir", "/d", "extra", NULL}),
        KR_ECONFIG);
    assert_non_null(strstr(t->err, "extra"));
    assert_int_equal(s_args(t, (const char *[]){"--", NULL}), KR_ECONFIG);
    assert_int_equal(s_args(t, (const char *[]){"--=x", NULL}), KR_ECONFIG);

    /* Missing values. */
    assert_int_equal(
        s_args(t, (const char *[]){"--data_dir", "/d", "--port", NULL}),
        KR_ECONFIG);
    assert_non_null(strstr(t->err, "port"));
    assert_int_equal(
        s_args(t, (const char *[]){"--data_dir", "/d", "-c", NULL}),
        KR_ECONFIG);

    /* Bad values. */
    assert_int_equal(s_args(t, (const char *[]){"--data_dir", "/d", "--port",
                                                "65536", NULL}),
                     KR_ECONFIG);
    assert_int_equal(s_args(t, (const char *[]){"--data_dir", "/d",
                                                "--verbose=perhaps", NULL}),
                     KR_ECONFIG);

    /* The required option is missing (from fresh defaults: the failed
     * calls above may have set it before they failed). */
    cfg_free(s_opts, &t->conf);
    assert_int_equal(cfg_defaults(s_opts, &t->conf, t->err, sizeof(t->err)),
                     KR_OK);
    assert_int_equal(s_args(t, (const char *[]){"--port", "1", NULL}),
                     KR_ECONFIG);
    assert_non_null(strstr(t->err, "data_dir"));

    /* A key longer than any option. */
    char longkey[200];
    memset(longkey, 'a', sizeof(longkey) - 1);
    longkey[0] = longkey[1] = '-';
    longkey[sizeof(longkey) - 1] = '\0';
    assert_int_equal(s_args(t, (const char *[]){longkey, "1", NULL}),
                     KR_ECONFIG);

    /* A missing configuration file. */
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof(missing), "%s/missing.ini", t->dir);
    assert_int_equal(s_args(t, (const char *[]){"-c", missing, NULL}),
                     KR_ECONFIG);
}

static void
test_args_help(void **state)
{
    struct s_ctx *t = *state;
    char missing[PATH_MAX + 16];

    assert_int_equal(s_args(t, (const char *[]){"--help", NULL}), 1);
    assert_int_equal(s_args(t, (const char *[]){"-h", NULL}), 1);
    assert_int_equal(s_args(t, (const char *[]){"--version", NULL}), 2);
    /* Help wins over a broken file or a missing required option. */
    snprintf(missing, sizeof(missing), "%s/missing.ini", t->dir);
    assert_int_equal(s_args(t, (const char *[]){"-c", missing, "-h", NULL}), 1);
    assert_int_equal(s_args(t, (const char *[]){"--port", "1", "--help", NULL}),
                     1);
}

static void
test_print_help(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    cfg_print_help(f, s_opts);
    fclose(f);
    assert_non_null(strstr(text, "--port"));
    assert_non_null(strstr(text, "TCP port (default: 7700)"));
    assert_non_null(strstr(text, "LMDB directory (required)"));
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_set, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_load_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_load_file_errors, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_args, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_args_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_args_errors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_args_help, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_print_help, s_setup, s_teardown),
    };

    log_init("test_config", LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
