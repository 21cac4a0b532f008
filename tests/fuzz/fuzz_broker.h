/*
 * fuzz_broker.h - a krbroker for the fuzz targets: its real modules on a
 * real store, fresh for every input (so that an input found to crash does
 * so again on its own), with the directory of fuzz_common.h and a ROUTER
 * on inproc to which two peers are connected, so that what the broker
 * sends goes somewhere (and is thrown away).
 */
#ifndef KR_FUZZ_BROKER_H
#define KR_FUZZ_BROKER_H

#include "broker.h"

#define FZB_NPEERS 2
extern const char *const fzb_peer_ids[FZB_NPEERS];

/* The broker, opened on first use. */
struct broker *fzb_get(void);
/* A new store with the directory (FZ_NORGS organisations, the last one
 * suspended) and nobody connected; forgets every static of the broker's
 * modules. */
void fzb_reset(void);
/* Read and throw away what the broker sent to the peers. */
void fzb_drain(void);
/* A new pass: its clock read. */
void fzb_begin_pass(void);

#endif
