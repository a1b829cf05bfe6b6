/* The disk's own durable-write latency, the floor under ingestd's request latency: ingestd answers 202 only
 * after Redis has fsynced the batch into its append-only file, so no request can be faster than one
 * fdatasync of the disk under the same load. Run beside ingest_bench (the same file system as Redis's AOF),
 * it tells how much of the p99 is the disk's and how much is ours.
 *
 * Two kinds of write, alternating every 100 writes so that both see the same moments of the run:
 *   append     5.5 KB appended, then fdatasync: what Redis does for each XADD (appendfsync always). The file
 *              grows, so every fdatasync commits the file system's journal, shared with ClickHouse's writes.
 *   overwrite  5.5 KB written with O_DSYNC into a file allocated and zeroed beforehand: no size change and no
 *              new blocks, so no journal commit, only the device's flush. The floor of any write-ahead log
 *              that reuses its space (a design ingestd could take), for comparison.
 *
 * usage: fsync_probe DIR SECONDS [LABEL]   (DIR on the file system to measure; two files are created there
 *                                           and removed at the end)
 * prints {"phase":"fsync","label":L,"seconds":S,"append_us":{n,p50,p99,max},"overwrite_us":{...}} */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WRITE_BYTES 5500           /* one request's stream entry: 11.8 events of ~450 bytes */
#define PAUSE_US 2000              /* between writes: a steady trickle, not a write storm of our own */
#define ALTERNATE_EVERY 100        /* writes of one kind before switching to the other */
#define OVERWRITE_SPAN (64u << 20) /* the preallocated file, written round and round */
#define MAX_SAMPLES (1u << 20)

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* {"n":..,"p50":..,"p99":..,"max":..} of the samples, sorted in place. */
static void print_stats(const char *name, uint64_t *s, size_t n)
{
    qsort(s, n, sizeof *s, cmp_u64);
    if (n == 0) {
        printf("\"%s\":{\"n\":0}", name);
        return;
    }
    printf("\"%s\":{\"n\":%zu,\"p50\":%llu,\"p99\":%llu,\"max\":%llu}", name, n, (unsigned long long)s[n / 2],
           (unsigned long long)s[n * 99 / 100], (unsigned long long)s[n - 1]);
}

/* A file of OVERWRITE_SPAN zero bytes, written and fsynced so that its blocks are allocated and initialised:
 * later O_DSYNC writes into it change no metadata. Returns an O_DSYNC descriptor, or -1. */
static int preallocated(const char *path)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (fd < 0)
        return -1;
    static char zeros[1 << 20];
    for (size_t off = 0; off < OVERWRITE_SPAN; off += sizeof zeros)
        if (pwrite(fd, zeros, sizeof zeros, (off_t)off) != (ssize_t)sizeof zeros) {
            close(fd);
            return -1;
        }
    if (fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return open(path, O_WRONLY | O_DSYNC);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fsync_probe DIR SECONDS [LABEL]\n");
        return 2;
    }
    const char *dir = argv[1], *label = argc > 3 ? argv[3] : "";
    double seconds = atof(argv[2]);
    char append_path[4096], overwrite_path[4096];
    snprintf(append_path, sizeof append_path, "%s/fsync_probe.append", dir);
    snprintf(overwrite_path, sizeof overwrite_path, "%s/fsync_probe.overwrite", dir);

    int fa = open(append_path, O_CREAT | O_TRUNC | O_WRONLY | O_APPEND, 0600);
    int fo = preallocated(overwrite_path);
    uint64_t *append = malloc(MAX_SAMPLES * sizeof *append), *overwrite = malloc(MAX_SAMPLES * sizeof *overwrite);
    if (fa < 0 || fo < 0 || !append || !overwrite) {
        fprintf(stderr, "fsync_probe: cannot set up in %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char buf[WRITE_BYTES];
    memset(buf, 'x', sizeof buf);

    size_t na = 0, no = 0, off = 0;
    uint64_t end = now_us() + (uint64_t)(seconds * 1e6);
    for (unsigned i = 0; now_us() < end && na < MAX_SAMPLES && no < MAX_SAMPLES; i++) {
        uint64_t t0 = now_us();
        if ((i / ALTERNATE_EVERY) % 2 == 0) {
            if (write(fa, buf, sizeof buf) != (ssize_t)sizeof buf || fdatasync(fa) != 0)
                goto failed;
            append[na++] = now_us() - t0;
        } else {
            if (pwrite(fo, buf, sizeof buf, (off_t)off) != (ssize_t)sizeof buf)
                goto failed;
            off = (off + sizeof buf) % (OVERWRITE_SPAN - sizeof buf);
            overwrite[no++] = now_us() - t0;
        }
        usleep(PAUSE_US);
    }
    close(fa);
    close(fo);
    unlink(append_path);
    unlink(overwrite_path);

    printf("{\"phase\":\"fsync\",\"label\":\"%s\",\"seconds\":%.1f,", label, seconds);
    print_stats("append_us", append, na);
    printf(",");
    print_stats("overwrite_us", overwrite, no);
    printf("}\n");
    free(append);
    free(overwrite);
    return 0;

failed:
    fprintf(stderr, "fsync_probe: write in %s failed: %s\n", dir, strerror(errno));
    unlink(append_path);
    unlink(overwrite_path);
    return 1;
}
