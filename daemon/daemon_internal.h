/* daemon_internal.h - shared between daemon/'s own files. */
#ifndef KR_DAEMON_INTERNAL_H
#define KR_DAEMON_INTERNAL_H

#include <stddef.h>

#include "daemon.h"

/* socket_mode as a number, or -1 if it is not valid. */
long daemon_socket_mode(const struct daemon_ops *o);
/* Split "host:port" or "[v6]:port". KR_EINVAL if it is neither. */
int daemon_http_split(const char *listen, char *host, size_t hostlen,
                      unsigned *port);

#endif
