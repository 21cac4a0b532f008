/* nstore_fixture.h - a node store in a fresh temporary directory for each
 * test (nstore_fixture.c): test_nstore and test_nstore_referrals. */
#ifndef KR_NSTORE_FIXTURE_H
#define KR_NSTORE_FIXTURE_H

#include <limits.h>

#include "node.h"

struct nf_ctx {
    char dir[64];
    char path[PATH_MAX];
    nstore_t *st;
};

/* cmocka setup and teardown: *state is a struct nf_ctx. */
int nf_setup(void **state);
int nf_teardown(void **state);

#endif
