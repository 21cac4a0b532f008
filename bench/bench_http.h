/*
 * bench_http.h - krbench's HTTP/1.1 client and listener on loopback
 * (http.c), for the FHIR scenario.
 */
#ifndef KR_BENCH_HTTP_H
#define KR_BENCH_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* One exchange with 127.0.0.1:port on the calling thread's kept
 * connection: the HTTP status, or a negative KR_E*. The answer's body is
 * kept in *ans (NUL-terminated, to free) when ans is not NULL. A kept
 * connection that fails before answering (closed while idle) is replaced
 * once, so every request must be one that may be repeated. */
int bench_http(int port, const char *method, const char *path, const char *body,
               size_t len, char **ans);
/* Close the calling thread's connection (before the thread ends). */
void bench_http_close(void);
/* Serve the listening socket lfd until *quit: every request is answered
 * 200 when on(arg, body) says true, else 500, on connections kept open
 * (at most 8 at once). */
void bench_http_listen(int lfd, atomic_int *quit,
                       bool (*on)(void *arg, const char *body), void *arg);

#endif
