/*
 * test_keygen.c - `krctl keygen` names the real cause when it cannot write
 * its files, and never overwrites a key.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"

static void
s_expect(const char *what, int code, const char *needle, const char *arg0,
         const char *arg1, const char *arg2)
{
    struct h_run r;

    h_krctl(&r, arg0, arg1, arg2, NULL);
    bool ok = r.code == code && strstr(r.err, needle) != NULL;
    H_CHECK(ok, "%s: exit %d naming \"%s\" (got exit %d: %.300s)", what, code,
            needle, r.code, r.err);
    h_run_free(&r);
}

int
main(void)
{
    static struct h_cluster c;
    char prefix[H_PATH + 64], file[H_PATH + 64], path[H_PATH + 64];

    h_init("keygen", 60);
    h_cluster_init(&c, "keygen");

    snprintf(prefix, sizeof(prefix), "%s/missing/org", c.tmp);
    s_expect("keys into a directory that does not exist", 1,
             "missing: No such file or directory (create it first)", "keygen",
             "--out", prefix);
    snprintf(path, sizeof(path), "%s/missing/coalition.key", c.tmp);
    s_expect("a coalition key into a directory that does not exist", 1,
             "missing: No such file or directory (create it first)", "keygen",
             "--coalition", path);

    snprintf(file, sizeof(file), "%s/plain", c.tmp);
    H_ENSURE(h_write_file(file, "not a directory\n", 0600) == KR_OK, "write %s",
             file);
    snprintf(prefix, sizeof(prefix), "%s/plain/org", c.tmp);
    s_expect("keys below a file", 1, "plain is not a directory", "keygen",
             "--out", prefix);

    snprintf(prefix, sizeof(prefix), "%s/org", c.tmp);
    s_expect("keys into a directory that exists", 0, "", "keygen", "--out",
             prefix);
    s_expect("the same keys again", 1, "exists already: not overwritten",
             "keygen", "--out", prefix);
    return h_finish(&c);
}
