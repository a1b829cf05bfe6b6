/* Kernel randomness for secrets; xoshiro256** for fast unique ids. */
#include "random.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int random_secure(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

static uint64_t xs[4];
static int seeded;

/* Rotate left. */
static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t random_u64(void)
{
    if (!seeded) {
        if (random_secure(xs, sizeof xs) != 0) {
            fprintf(stderr, "no kernel randomness: cannot generate unique ids\n");
            abort();
        }
        seeded = 1;
    }
    uint64_t result = rotl(xs[1] * 5, 7) * 9;
    uint64_t t = xs[1] << 17;
    xs[2] ^= xs[0];
    xs[3] ^= xs[1];
    xs[1] ^= xs[2];
    xs[0] ^= xs[3];
    xs[2] ^= t;
    xs[3] = rotl(xs[3], 45);
    return result;
}

void uuid_v4(uint8_t out[16])
{
    uint64_t a = random_u64(), b = random_u64();
    memcpy(out, &a, 8);
    memcpy(out + 8, &b, 8);
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x40);
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);
}

void hex_encode(const void *data, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void uuid_format(const uint8_t id[16], char out[37])
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = digits[id[i] >> 4];
        out[o++] = digits[id[i] & 15];
    }
    out[o] = '\0';
}

int uuid_parse(const char *s, uint8_t out[16])
{
    int n = 0;
    for (size_t i = 0; s[i] && n < 32; i++) {
        if (s[i] == '-' && (i == 8 || i == 13 || i == 18 || i == 23))
            continue;
        int v = s[i] >= '0' && s[i] <= '9' ? s[i] - '0'
                : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                : s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 10
                                               : -1;
        if (v < 0)
            return -1;
        out[n / 2] = (uint8_t)(n % 2 ? (out[n / 2] | v) : v << 4);
        n++;
    }
    return n == 32 && strlen(s) == 36 ? 0 : -1;
}

void base32_encode(const void *data, size_t n, char *out)
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    const unsigned char *p = data;
    size_t o = 0;
    unsigned buffer = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        buffer = (buffer << 8) | p[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alphabet[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = alphabet[(buffer << (5 - bits)) & 31];
    out[o] = '\0';
}
