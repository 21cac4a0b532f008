/*
 * harness_internal.h - what the harness's own files share, not the tests.
 */
#ifndef KR_HARNESS_INTERNAL_H
#define KR_HARNESS_INTERNAL_H

#include "harness.h"
#include "util.h"

/* The cluster whose directory and logs h_abort() reports. */
void h_internal_set_cluster(struct h_cluster *c);
int h_internal_checks(void);
const char *h_internal_first_failure(void);
const char *h_internal_test_name(void);
/* Print the tail of every *.log file in dir. */
void h_internal_dump_logs(const char *dir);

#endif
