/* error.c - kr_strerror(): the one table of error names. */
#include "kr.h"

const char *
kr_strerror(int err)
{
    static const char *names[] = {
        "success",
        "invalid argument or input",
        "out of memory",
        "input/output error",
        "store full",
        "not found",
        "already exists",
        "signature or ciphertext does not verify",
        "not permitted",
        "timed out",
        "store error",
        "protocol error",
        "invalid configuration",
        "unavailable",
        "public key of the peer not known",
        "refused",
        "system error",
        "disk full at the node",
    };

    if (err > 0 || err <= KR_EMAX_)
        return "unknown error";
    return names[-err];
}
