/* nstore_fixture.c - see nstore_fixture.h. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kr.h"
#include "log.h"
#include "nstore_fixture.h"

int
nf_setup(void **state)
{
    struct nf_ctx *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return -1;
    log_init("test_nstore", LOG_LEVEL_ERROR);
    snprintf(t->dir, sizeof(t->dir), "/tmp/kr_test_nstore.XXXXXX");
    if (mkdtemp(t->dir) == NULL) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof(t->path), "%s/node.mdb", t->dir);
    if (nstore_open(t->path, 8u << 20, &t->st) != KR_OK) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

int
nf_teardown(void **state)
{
    struct nf_ctx *t = *state;
    char lock[PATH_MAX + 8];

    nstore_close(&t->st);
    snprintf(lock, sizeof(lock), "%s-lock", t->path);
    unlink(t->path);
    unlink(lock);
    rmdir(t->dir);
    free(t);
    return 0;
}
