/*
 * fuzz_node.h - a krnode for the fuzz targets: node_open() on files in the
 * temporary directory (the keys of fz_org_ids[FZ_NODE_ORG], the broker's
 * public key, a coalition key), with every organisation of fuzz_common.h
 * in its directory and its link taken as connected. No broker listens:
 * what the node sends is dropped by ZeroMQ. The node lives as long as the
 * process, as a daemon does: its store keeps what earlier inputs left.
 */
#ifndef KR_FUZZ_NODE_H
#define KR_FUZZ_NODE_H

#include "node.h"

/* The node, opened on first use, with a pass begun. */
struct node *fzn_get(void);
/* End the pass (commit, acks, replies, pump) and begin the next. */
void fzn_next_pass(void);
/* Move the clocks v*v*100 ms on and run the node's timers in a new pass
 * (held deliveries, parked sends, inbox waits, resends). */
void fzn_advance(uint8_t v);

#endif
