/* Runs a libFuzzer target without libFuzzer: every file of the corpus directories given, then a fixed
 * number of deterministic random mutations of them (byte flips, inserts of JSON punctuation, splices).
 * This keeps fuzz targets exercised by `make test` under ASan/UBSan; tests/fuzz/run.sh runs real
 * coverage-guided libFuzzer with clang for longer campaigns. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    uint8_t *data;
    size_t len;
} input;

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Read a whole file. */
static int read_file(const char *path, input *in)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    in->data = malloc((size_t)n + 1);
    in->len = in->data ? fread(in->data, 1, (size_t)n, f) : 0;
    fclose(f);
    return in->data ? 0 : -1;
}

int main(int argc, char **argv)
{
    input corpus[512];
    size_t n = 0;
    long iterations = 20000;
    for (int a = 1; a < argc; a++) {
        if (strncmp(argv[a], "-runs=", 6) == 0) {
            iterations = atol(argv[a] + 6);
            continue;
        }
        DIR *d = opendir(argv[a]);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) && n < 512) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            if (read_file(path, &corpus[n]) == 0)
                n++;
        }
        closedir(d);
    }
    for (size_t i = 0; i < n; i++)
        LLVMFuzzerTestOneInput(corpus[i].data, corpus[i].len);
    static const char tokens[] = "[]{}\",:\\ntuaef0-.e+\x00\xff\xe9\t\r\n&=%";
    uint8_t *buf = malloc(65536);
    for (long it = 0; n && it < iterations; it++) {
        input *src = &corpus[next() % n];
        size_t len = src->len < 60000 ? src->len : 60000;
        memcpy(buf, src->data, len);
        int edits = 1 + (int)(next() % 8);
        for (int k = 0; k < edits; k++) {
            size_t pos = len ? next() % len : 0;
            switch (next() % 5) {
            case 0: /* flip */
                if (len)
                    buf[pos] ^= (uint8_t)(1u << (next() % 8));
                break;
            case 1: /* insert a token byte */
                if (len < 65000) {
                    memmove(buf + pos + 1, buf + pos, len - pos);
                    buf[pos] = (uint8_t)tokens[next() % (sizeof tokens - 1)];
                    len++;
                }
                break;
            case 2: /* delete */
                if (len) {
                    memmove(buf + pos, buf + pos + 1, len - pos - 1);
                    len--;
                }
                break;
            case 3: /* truncate */
                len = pos;
                break;
            default: { /* splice another input's tail */
                input *o = &corpus[next() % n];
                size_t from = o->len ? next() % o->len : 0;
                size_t take = o->len - from;
                if (pos + take > 65000)
                    take = 65000 - pos;
                memcpy(buf + pos, o->data + from, take);
                len = pos + take;
            }
            }
        }
        LLVMFuzzerTestOneInput(buf, len);
    }
    free(buf);
    for (size_t i = 0; i < n; i++)
        free(corpus[i].data);
    printf("fuzz: %zu corpus inputs, %ld mutations, no failure\n", n, iterations);
    return 0;
}
