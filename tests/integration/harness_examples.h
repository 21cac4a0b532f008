/*
 * harness_examples.h - examples/ between the examples' two organisations
 * (harness_examples.c): test_examples and test_views.
 */
#ifndef KR_HARNESS_EXAMPLES_H
#define KR_HARNESS_EXAMPLES_H

#include <stdbool.h>

#include "harness.h"

#define HX_ADAPTER KR_BIN_DIR "/clients/libkr/kr_example_adapter"
#define HX_EXAMPLES KR_SOURCE_DIR "/examples"
#define HX_VL_ORG "ura:00001234"
#define HX_JGZ_ORG "ura:87654321"
/* The referral_id of examples/referral.json. */
#define HX_RID "b0e0a1e2c3d4e5f60718293a4b5c6d7e"

/* The broker; the practice (*vl, verloskunde) and JGZ (*jgz) with their
 * nodes connected; the woman's consent (examples/consent-grant.json,
 * krctl consent grant) accepted by the broker. */
void hx_setup(struct h_cluster *c, int *vl, int *jgz);
/* examples/adapter.c sends examples/'file' from 'node' (a check); its
 * msg_id in msg_id. */
bool hx_adapter_send(struct h_cluster *c, int node, const char *file,
                     char msg_id[KR_MSG_ID_HEX_LEN]);
/* The adapter's JSON listing ("inbox" or "receipts") at 'node' holds an
 * item with msg_id and, if 'key' is given, key == value. */
bool hx_listed(struct h_cluster *c, int node, const char *what,
               const char *msg_id, const char *key, const char *value);
/* examples/'file' from 'from' arrives at 'to' and is delivered (checks);
 * its msg_id in id. */
void hx_through(struct h_cluster *c, int from, int to, const char *file,
                char id[KR_MSG_ID_HEX_LEN]);

#endif
