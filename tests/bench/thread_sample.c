/* thread_sample: where a thread's wall-clock time goes, by sampling its state in /proc every few milliseconds
 * (tests/bench/achievd_bench.sh: achievd's pipeline thread and Redis's main thread during a catch-up).
 *
 * Usage: thread_sample --seconds S [--interval-ms MS] [--label TEXT] [--port NAME=PORT]... NAME:PID:TID...
 * Samples for S seconds at most; SIGTERM or SIGINT end it earlier (the figures are printed all the same).
 *
 * Each sample of a thread is one of:
 *   cpu            running or runnable (state R in /proc/PID/task/TID/stat): on a CPU or waiting for one;
 *   wait:NAME      blocked in a read/write/recv/send/poll on a TCP socket whose peer (or local) port is a
 *                  --port (e.g. wait:redis); the fd of poll/ppoll is read from the process's memory;
 *   wait:tcp:PORT  the same, on another TCP port;
 *   fsync          blocked in fsync/fdatasync (Redis's appendfsync always);
 *   sleep          nanosleep/clock_nanosleep;  lock: futex;  idle: epoll_wait;
 *   sys:NR         any other syscall; other: blocked outside a syscall (page fault, ...).
 * Prints one JSON line per thread on stdout: {"phase":"wait","label":...,"thread":NAME,"samples":N,
 * "interval_ms":MS,"shares":{STATE: fraction, ...}}, states with the largest share first. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 16
#define MAX_PORTS 16
#define MAX_STATES 64

typedef struct {
    char name[64];
    unsigned count;
} state_count;

typedef struct {
    char name[64];
    int pid, tid;
    unsigned samples;
    state_count states[MAX_STATES];
    unsigned nstates;
} thread;

typedef struct {
    char name[64];
    unsigned port;
} named_port;

static named_port ports[MAX_PORTS];
static unsigned nports;
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: thread_sample --seconds S [--interval-ms MS] [--label TEXT] [--port NAME=PORT]... "
                    "NAME:PID:TID...\n");
    exit(2);
}

static void count(thread *t, const char *state)
{
    t->samples++;
    for (unsigned i = 0; i < t->nstates; i++)
        if (strcmp(t->states[i].name, state) == 0) {
            t->states[i].count++;
            return;
        }
    if (t->nstates < MAX_STATES) {
        snprintf(t->states[t->nstates].name, sizeof t->states[t->nstates].name, "%s", state);
        t->states[t->nstates++].count = 1;
    }
}

/* The TCP ports of the socket with this inode (from /proc/PID/net/tcp and tcp6): 0 if not found. */
static bool socket_ports(int pid, unsigned long inode, unsigned *local, unsigned *remote)
{
    static const char *const files[] = {"tcp", "tcp6"};
    for (unsigned f = 0; f < 2; f++) {
        char path[64], line[512];
        snprintf(path, sizeof path, "/proc/%d/net/%s", pid, files[f]);
        FILE *fp = fopen(path, "r");
        if (!fp)
            continue;
        while (fgets(line, sizeof line, fp)) {
            char laddr[64], raddr[64];
            unsigned long ino;
            /* sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode */
            if (sscanf(line, " %*s %63s %63s %*s %*s %*s %*s %*s %*s %lu", laddr, raddr, &ino) != 3 || ino != inode)
                continue;
            const char *lc = strrchr(laddr, ':'), *rc = strrchr(raddr, ':');
            *local = lc ? (unsigned)strtoul(lc + 1, NULL, 16) : 0;
            *remote = rc ? (unsigned)strtoul(rc + 1, NULL, 16) : 0;
            fclose(fp);
            return true;
        }
        fclose(fp);
    }
    return false;
}

/* What the thread waits for on fd. Cached per (pid, fd) would be faster; sockets of a daemon are few and the
 * lookup costs well under a millisecond, so it is done each time (an fd may be reused for another peer). */
static void fd_state(int pid, long fd, char *out, size_t outlen)
{
    char path[64], link[128];
    snprintf(path, sizeof path, "/proc/%d/fd/%ld", pid, fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0) {
        snprintf(out, outlen, "wait:fd");
        return;
    }
    link[n] = '\0';
    unsigned long inode;
    unsigned lp = 0, rp = 0;
    if (sscanf(link, "socket:[%lu]", &inode) != 1 || !socket_ports(pid, inode, &lp, &rp)) {
        snprintf(out, outlen, "wait:%s", strncmp(link, "socket:", 7) == 0 ? "socket" : "file");
        return;
    }
    for (unsigned i = 0; i < nports; i++)
        if (ports[i].port == rp || ports[i].port == lp) {
            snprintf(out, outlen, "wait:%s", ports[i].name);
            return;
        }
    snprintf(out, outlen, "wait:tcp:%u", rp);
}

static void sample(thread *t)
{
    char path[96], buf[512];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", t->pid, t->tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')');
    char st = close_paren && close_paren[1] == ' ' ? close_paren[2] : '?';
    if (st == 'R') {
        count(t, "cpu");
        return;
    }
    snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", t->pid, t->tid);
    f = fopen(path, "r");
    if (!f)
        return;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (strncmp(buf, "running", 7) == 0) {
        count(t, "cpu");
        return;
    }
    long nr;
    unsigned long long a0 = 0;
    if (sscanf(buf, "%ld %llx", &nr, &a0) < 1 || nr < 0) {
        count(t, "other");
        return;
    }
    char state[64];
    switch (nr) {
    case 0:  /* read */
    case 1:  /* write */
    case 19: /* readv */
    case 20: /* writev */
    case 44: /* sendto */
    case 45: /* recvfrom */
    case 46: /* sendmsg */
    case 47: /* recvmsg */
        fd_state(t->pid, (long)a0, state, sizeof state);
        break;
    case 7:     /* poll */
    case 271: { /* ppoll: the first pollfd's fd, read from the process */
        struct pollfd pfd;
        struct iovec local = {&pfd, sizeof pfd}, remote = {(void *)(uintptr_t)a0, sizeof pfd};
        if (process_vm_readv(t->pid, &local, 1, &remote, 1, 0) == (ssize_t)sizeof pfd)
            fd_state(t->pid, pfd.fd, state, sizeof state);
        else
            snprintf(state, sizeof state, "wait:poll");
        break;
    }
    case 74: /* fsync */
    case 75: /* fdatasync */
        snprintf(state, sizeof state, "fsync");
        break;
    case 35:  /* nanosleep */
    case 230: /* clock_nanosleep */
        snprintf(state, sizeof state, "sleep");
        break;
    case 202: /* futex */
        snprintf(state, sizeof state, "lock");
        break;
    case 232: /* epoll_wait */
    case 281: /* epoll_pwait */
        snprintf(state, sizeof state, "idle");
        break;
    default:
        snprintf(state, sizeof state, "sys:%ld", nr);
    }
    count(t, state);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_count(const void *a, const void *b)
{
    const state_count *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"seconds", required_argument, NULL, 's'},
        {"interval-ms", required_argument, NULL, 'i'},
        {"label", required_argument, NULL, 'l'},
        {"port", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    double seconds = 0;
    unsigned interval_ms = 5;
    const char *label = "";
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 's':
            seconds = strtod(optarg, NULL);
            break;
        case 'i':
            interval_ms = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'l':
            label = optarg;
            break;
        case 'p': {
            const char *eq = strchr(optarg, '=');
            if (!eq || nports == MAX_PORTS)
                usage();
            snprintf(ports[nports].name, sizeof ports[nports].name, "%.*s", (int)(eq - optarg), optarg);
            ports[nports++].port = (unsigned)strtoul(eq + 1, NULL, 10);
            break;
        }
        default:
            usage();
        }
    }
    if (seconds <= 0 || interval_ms == 0 || optind == argc || argc - optind > MAX_THREADS)
        usage();
    thread threads[MAX_THREADS];
    unsigned n = 0;
    for (int i = optind; i < argc; i++) {
        thread *t = &threads[n];
        memset(t, 0, sizeof *t);
        char name[64];
        if (sscanf(argv[i], "%63[^:]:%d:%d", name, &t->pid, &t->tid) != 3)
            usage();
        snprintf(t->name, sizeof t->name, "%s", name);
        n++;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    double end = now_s() + seconds;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!stopping && now_s() < end) {
        for (unsigned i = 0; i < n; i++)
            sample(&threads[i]);
        next.tv_nsec += (long)interval_ms * 1000000L;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        while (!stopping && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
    }
    for (unsigned i = 0; i < n; i++) {
        thread *t = &threads[i];
        qsort(t->states, t->nstates, sizeof *t->states, by_count);
        printf("{\"phase\":\"wait\",\"label\":\"%s\",\"thread\":\"%s\",\"samples\":%u,\"interval_ms\":%u,\"shares\":{",
               label, t->name, t->samples, interval_ms);
        for (unsigned k = 0; k < t->nstates; k++)
            printf("%s\"%s\":%.3f", k ? "," : "", t->states[k].name,
                   t->samples ? (double)t->states[k].count / t->samples : 0);
        printf("}}\n");
    }
    return 0;
}
