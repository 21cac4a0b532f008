/*
 * libkr_internal.h - what libkr's files share beyond kr.h: the JSON entry
 * points (kr_json.c) stretch a client's timeout around a long poll.
 */
#ifndef LIBKR_INTERNAL_H
#define LIBKR_INTERNAL_H

#include "kr.h"

/* Set the bound on c's calls to 'timeout_ms' (> 0); returns the old one. */
int libkr_timeout_set(kr_client_t *c, int timeout_ms);

#endif
