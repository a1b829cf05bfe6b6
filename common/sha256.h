/* SHA-256 (FIPS 180-4), for storing server and login tokens hashed, and HMAC-SHA256 for deriving login codes. */
#ifndef MOHSTATS_SHA256_H
#define MOHSTATS_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t total;
    uint8_t block[64];
    size_t used;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, uint8_t digest[32]);
/* Lowercase hex digest of data (65 bytes with the NUL). */
void sha256_hex(const void *data, size_t n, char out[65]);
/* HMAC-SHA256 (RFC 2104) of data under key. */
void hmac_sha256(const void *key, size_t keylen, const void *data, size_t n, uint8_t mac[32]);
/* Whether a and b (n bytes each) are equal, in time that does not depend on where they differ: for
 * comparing secrets. */
int secret_equal(const void *a, const void *b, size_t n);

#endif
