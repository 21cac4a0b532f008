/* crypto_internal.h - shared by crypto.c and keyfile.c only. */
#ifndef KR_CRYPTO_INTERNAL_H
#define KR_CRYPTO_INTERNAL_H

#include <stddef.h>

/* sodium_malloc() after making sure libsodium is initialised (it needs the
 * page size sodium_init() finds): guarded, wiped when freed. */
void *kcrypto_secure_alloc(size_t n);

#endif
