/* Randomness: unpredictable bytes for secrets, and a fast generator for unique ids. */
#ifndef MOHSTATS_RANDOM_H
#define MOHSTATS_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Bytes from the kernel's CSPRNG (getrandom). For tokens and anything an attacker must not guess.
 * Returns 0 or a negative errno. */
int random_secure(void *buf, size_t n);

/* Fast 64-bit generator (xoshiro256**), seeded from random_secure once per process. For ids that
 * must be unique, not secret. Not thread-safe: call from one thread. */
uint64_t random_u64(void);

/* A random (version 4) UUID, as 16 bytes, and its canonical 36-character text form. */
void uuid_v4(uint8_t out[16]);
void uuid_format(const uint8_t id[16], char out[37]);
/* The 16 bytes of a UUID in its canonical text form (either case); 0, or -1 when s is not one. */
int uuid_parse(const char *s, uint8_t out[16]);

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void hex_encode(const void *data, size_t n, char *out);



/* Crockford-style lowercase base32 (no padding) of n bytes into out (8n/5 + 2 bytes). Survives YAML
 * parsing when prefixed with letters, is case-insensitive and has no look-alike characters. */
void base32_encode(const void *data, size_t n, char *out);

#endif
