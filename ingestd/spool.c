/* The local spool: group-committed, fsync'd appends of batches Redis could not take, and their replay into the
 * stream once Redis is back. File I/O runs on libuv's thread pool; the loop only schedules it. The records' format
 * is spool_record.c. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "metrics.h"

unsigned spool_lock_wait_ms = 5000;

const config_var spool_config_vars[] = {
    {"SPOOL_DIR", "./spool",
     "where ingestd keeps accepted batches (fsync'd) while Redis is unreachable; a local, persistent directory "
     "used by one ingestd only"},
    {"SPOOL_MAX_BYTES", "8589934592",
     "the most the spool may hold (bytes, 0: no limit); past it a batch Redis cannot take is refused with 503 "
     "(over MQTT: left with the broker), so that an outage of Redis cannot fill the disk the databases share"},
    {NULL, NULL, NULL},
};

/* XADDs in flight during a replay: enough to hide the round trip, few enough not to flood Redis's input
 * buffer with a 64 MiB file at once. */
#define REPLAY_WINDOW 32

typedef struct {
    void (*done)(int err, void *arg);
    void *arg;
} append_cb;

typedef enum { OP_WRITE, OP_READ, OP_REMOVE, OP_CLOSE } file_op_kind;

/* One good record of the file being replayed; b points into the file's contents. */
typedef struct {
    stream_batch b;
    size_t end;
} replay_rec;

/* One piece of file work for the thread pool. The worker touches nothing but the file op. */
typedef struct {
    uv_work_t req;
    spool *s;
    file_op_kind op;
    int fd;       /* WRITE: the active file, or -1 to create path; CLOSE: the descriptor to close */
    char *path;   /* WRITE (create), READ, REMOVE */
    char *dir;    /* WRITE (create): fsync'd so the new file's name is durable */
    bool corrupt; /* REMOVE: keep the file, renamed *.corrupt, for a person to look at */
    bytebuf data; /* WRITE: the records; READ: the file's contents */
    uint64_t start_size;
    append_cb *cbs;
    size_t ncbs;
    size_t skip_until; /* READ: records ending at or before this offset are already in Redis */
    replay_rec *recs;  /* READ: the good records after skip_until */
    size_t nrecs;
    spool_scan_result scan; /* READ */
    int err;
} file_op;

struct spool {
    uv_loop_t *loop;
    char *dir;
    int lock_fd;

    /* Sealed files waiting for replay, oldest first (by sequence number). */
    uint64_t *sealed;
    size_t nsealed, capsealed;

    /* The file appends go to. Its sequence number is above every sealed file's. */
    uint64_t active_seq;
    int active_fd; /* -1 until the first append creates the file */
    uint64_t active_size;

    /* Group commit: appends that arrive while a write is in flight wait here and go out together. */
    bytebuf queued;
    append_cb *queued_cbs;
    size_t nqueued, capqueued;
    bool writing;
    unsigned file_ops; /* file ops in the thread pool; s is freed only when none is left */

    /* Replay. */
    bool drain_wanted;
    redis_client *redis;
    char *stream_key;
    bool draining;     /* a sealed file is being read, replayed or removed */
    bytebuf file;      /* contents of sealed[0] */
    replay_rec *recs;  /* its good records */
    size_t nrecs;      /* ... how many */
    size_t next_send;  /* next record to XADD */
    size_t replies;    /* XADD replies received (they come back in order on one connection) */
    size_t acked;      /* leading records acknowledged */
    unsigned inflight; /* XADDs sent and not answered */
    bool replay_failed;
    bool file_corrupt;
    uint64_t resume_seq; /* a replay that failed part-way: skip what Redis already has on the next try */
    size_t resume_offset;
    size_t resume_sent;     /* ... and records ending at or before this were sent: they may be in Redis too */
    uint64_t first_own_seq; /* files numbered below were left by an earlier run, which may have replayed some */

    uint64_t bytes;
    uint64_t max_bytes;     /* SPOOL_MAX_BYTES; 0: no limit */
    uint64_t writing_bytes; /* of the group write in the thread pool, not yet in bytes */
    bool full;              /* the last append was refused for max_bytes: logged once per episode */
    bool closing;
    void (*close_done)(void *arg);
    void *close_arg;

    metric *m_bytes, *m_spooled, *m_replayed, *m_replayed_dup, *m_already_stored, *m_torn, *m_errors, *m_refused_full;
};

static void drain_kick(spool *s);
static void write_start(spool *s);
static void close_maybe_finish(spool *s);

/* ---- files ---- */

/* The path of spool file seq, malloc'd. */
static char *file_path(const spool *s, uint64_t seq, const char *suffix)
{
    size_t n = strlen(s->dir) + 64;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/spool-%020" PRIu64 ".log%s", s->dir, seq, suffix);
    return p;
}

/* The sequence number in a spool file name, or false if name is not one. */
static bool parse_file_name(const char *name, uint64_t *seq)
{
    if (strlen(name) != 30 || strncmp(name, "spool-", 6) != 0 || strcmp(name + 26, ".log") != 0)
        return false;
    uint64_t v = 0;
    for (int i = 6; i < 26; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *seq = v;
    return true;
}

/* Add seq to the sealed list, keeping it sorted. */
static int sealed_add(spool *s, uint64_t seq)
{
    if (s->nsealed == s->capsealed) {
        size_t cap = s->capsealed ? s->capsealed * 2 : 16;
        uint64_t *n = realloc(s->sealed, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        s->sealed = n;
        s->capsealed = cap;
    }
    size_t i = s->nsealed;
    while (i > 0 && s->sealed[i - 1] > seq) {
        s->sealed[i] = s->sealed[i - 1];
        i--;
    }
    s->sealed[i] = seq;
    s->nsealed++;
    return 0;
}

/* Drop the oldest sealed file from the list (it was replayed and removed). */
static void sealed_pop(spool *s)
{
    memmove(s->sealed, s->sealed + 1, (s->nsealed - 1) * sizeof *s->sealed);
    s->nsealed--;
}

/* Update the byte count and its gauge. */
static void bytes_add(spool *s, int64_t delta)
{
    s->bytes = (uint64_t)((int64_t)s->bytes + delta);
    metric_set(s->m_bytes, (double)s->bytes);
}

/* fsync a directory so that a file created in it survives a crash. */
static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

/* ---- the thread pool side ---- */

/* Worker: create the file if needed, write the group, fdatasync; on failure cut the file back. */
static void work_write(file_op *fo)
{
    spool_records_fill_crc(fo->data.data, fo->data.len);
    if (fo->fd < 0) {
        fo->fd = open(fo->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fo->fd < 0) {
            fo->err = -errno;
            return;
        }
        if ((fo->err = fsync_dir(fo->dir)) != 0)
            return;
    }
    size_t off = 0;
    while (off < fo->data.len) {
        ssize_t n = write(fo->fd, fo->data.data + off, fo->data.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fo->err = n < 0 ? -errno : -EIO;
            break;
        }
        off += (size_t)n;
    }
    if (!fo->err && fdatasync(fo->fd) != 0)
        fo->err = -errno;
    if (fo->err) {
        /* A partial record would end the file for the reader; the file is sealed after this anyway, but its
         * earlier records must stay readable and the failed ones must not be replayed: their clients were told
         * the batch was not stored. Best effort: the disk is failing. */
        if (ftruncate(fo->fd, (off_t)fo->start_size) == 0)
            (void)fdatasync(fo->fd);
    }
}

/* spool_scan callback (worker): collect the records after the part Redis already acknowledged. */
static int collect_record(const stream_batch *b, uint64_t at, size_t end, void *arg)
{
    file_op *fo = arg;
    if (end <= fo->skip_until)
        return 0;
    if ((fo->nrecs & (fo->nrecs - 1)) == 0) { /* grow at powers of two */
        replay_rec *n = realloc(fo->recs, (fo->nrecs ? fo->nrecs * 2 : 1) * sizeof *n);
        if (!n)
            return -ENOMEM;
        fo->recs = n;
    }
    fo->recs[fo->nrecs++] = (replay_rec){*b, end};
    return 0;
}

/* Worker: read a whole sealed file and find its records (CRC checks of up to 64 MiB stay off the loop). */
static void work_read(file_op *fo)
{
    int fd = open(fo->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fo->err = -errno;
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        fo->err = -errno;
    } else if (st.st_size > 0) {
        size_t size = (size_t)st.st_size;
        fo->data.data = malloc(size + 1);
        if (!fo->data.data) {
            fo->err = -ENOMEM;
        } else {
            fo->data.cap = size + 1;
            while (fo->data.len < size) {
                ssize_t n = read(fd, fo->data.data + fo->data.len, size - fo->data.len);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0) {
                    fo->err = -errno;
                    break;
                }
                if (n == 0)
                    break; /* shorter than fstat said: scan what is there */
                fo->data.len += (size_t)n;
            }
        }
    }
    close(fd);
    if (!fo->err && spool_scan(fo->data.data, fo->data.len, collect_record, fo, &fo->scan) != 0)
        fo->err = -ENOMEM;
}

/* Worker: delete a replayed file, or set a damaged one aside. */
static void work_remove(file_op *fo)
{
    if (fo->corrupt) {
        size_t n = strlen(fo->path) + 16;
        char *to = malloc(n);
        if (!to) {
            fo->err = -ENOMEM;
            return;
        }
        snprintf(to, n, "%s.corrupt", fo->path);
        if (rename(fo->path, to) != 0)
            fo->err = -errno;
        free(to);
    } else if (unlink(fo->path) != 0 && errno != ENOENT) {
        fo->err = -errno;
    }
}

/* uv_work_cb: run the file op's blocking part. */
static void file_op_work(uv_work_t *req)
{
    file_op *fo = req->data;
    switch (fo->op) {
    case OP_WRITE:
        work_write(fo);
        break;
    case OP_READ:
        work_read(fo);
        break;
    case OP_REMOVE:
        work_remove(fo);
        break;
    case OP_CLOSE:
        if (close(fo->fd) != 0)
            fo->err = -errno;
        break;
    }
}

static void file_op_done(uv_work_t *req, int status);

/* Queue a file op on the thread pool (counted in s->file_ops until its after-work callback ends). */
static int file_op_submit(spool *s, file_op *fo)
{
    fo->s = s;
    fo->req.data = fo;
    int rc = uv_queue_work(s->loop, &fo->req, file_op_work, file_op_done);
    if (rc == 0)
        s->file_ops++;
    return rc;
}

/* A new file op, or NULL. */
static file_op *file_op_new(file_op_kind op)
{
    file_op *fo = calloc(1, sizeof *fo);
    if (fo) {
        fo->op = op;
        fo->fd = -1;
    }
    return fo;
}

/* Free a file op and what it owns (not its descriptor). */
static void file_op_free(file_op *fo)
{
    free(fo->path);
    free(fo->dir);
    bytebuf_free(&fo->data);
    free(fo->cbs);
    free(fo->recs);
    free(fo);
}

/* ---- appends ---- */

/* Seal the active file: no more appends go to it; it waits for replay with the older ones. */
static void seal_active(spool *s)
{
    if (s->active_fd >= 0) {
        file_op *fo = file_op_new(OP_CLOSE);
        if (fo) {
            fo->fd = s->active_fd;
            if (file_op_submit(s, fo) != 0) {
                close(fo->fd); /* cannot happen with a live loop; do not leak the descriptor */
                file_op_free(fo);
            }
        } else {
            close(s->active_fd);
        }
        if (sealed_add(s, s->active_seq) != 0)
            log_error("spool: out of memory: spool-%020" PRIu64 ".log will be replayed after a restart", s->active_seq);
    }
    s->active_fd = -1;
    s->active_seq++;
    s->active_size = 0;
}

/* A group write finished: tell its appenders, then start the next group. */
static void write_done(spool *s, file_op *fo)
{
    s->writing = false;
    s->writing_bytes = 0;
    if (fo->fd >= 0)
        s->active_fd = fo->fd;
    if (fo->err) {
        metric_inc(s->m_errors);
        log_error("spool: cannot write %zu batches to %s/spool-%020" PRIu64 ".log: %s; they were refused", fo->ncbs,
                  s->dir, s->active_seq, strerror(-fo->err));
        /* After a failed write or fsync the file's state is uncertain: start a fresh one. */
        seal_active(s);
    } else {
        s->active_size += fo->data.len;
        bytes_add(s, (int64_t)fo->data.len);
        metric_add(s->m_spooled, (double)fo->ncbs);
        if (s->active_size >= SPOOL_FILE_MAX_BYTES)
            seal_active(s);
    }
    for (size_t i = 0; i < fo->ncbs; i++)
        fo->cbs[i].done(fo->err, fo->cbs[i].arg);
    if (s->drain_wanted)
        drain_kick(s);
    if (s->nqueued)
        write_start(s);
}

/* Hand the queued records to the thread pool as one write + fdatasync. */
static void write_start(spool *s)
{
    if (s->writing || !s->nqueued)
        return;
    file_op *fo = file_op_new(OP_WRITE);
    if (fo && s->active_fd < 0) {
        fo->path = file_path(s, s->active_seq, "");
        fo->dir = strdup(s->dir);
        if (!fo->path || !fo->dir) {
            file_op_free(fo);
            fo = NULL;
        }
    }
    int rc = -ENOMEM;
    if (fo) {
        fo->fd = s->active_fd;
        fo->start_size = s->active_size;
        fo->data = s->queued;
        fo->cbs = s->queued_cbs;
        fo->ncbs = s->nqueued;
        rc = file_op_submit(s, fo);
    }
    if (rc != 0) {
        /* Leave the queue as it was and fail it as a whole. */
        if (fo) {
            fo->data = (bytebuf){0};
            fo->cbs = NULL;
            file_op_free(fo);
        }
        append_cb *cbs = s->queued_cbs;
        size_t n = s->nqueued;
        bytebuf_free(&s->queued);
        s->queued_cbs = NULL;
        s->nqueued = s->capqueued = 0;
        log_error("spool: cannot start a write: %s", rc == -ENOMEM ? "out of memory" : uv_strerror(rc));
        for (size_t i = 0; i < n; i++)
            cbs[i].done(rc == -ENOMEM ? -ENOMEM : -EIO, cbs[i].arg);
        free(cbs);
        return;
    }
    s->writing = true;
    s->writing_bytes = fo->data.len;
    s->queued = (bytebuf){0};
    s->queued_cbs = NULL;
    s->nqueued = s->capqueued = 0;
}

int spool_append(spool *s, const stream_batch *b, void (*done)(int err, void *arg), void *arg)
{
    if (s->closing)
        return -ECANCELED;
    if (s->nqueued == s->capqueued) {
        size_t cap = s->capqueued ? s->capqueued * 2 : 16;
        append_cb *n = realloc(s->queued_cbs, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        s->queued_cbs = n;
        s->capqueued = cap;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    /* The CRC is computed by the writing thread (spool_records_fill_crc): a 1 MiB batch costs milliseconds. */
    size_t before = s->queued.len;
    int rc = spool_record_encode_deferred(b, now_ms, &s->queued);
    if (rc)
        return rc;
    /* Counted with what is queued and being written: appends that arrive together must not pass the limit together. */
    if (s->max_bytes && s->bytes + s->writing_bytes + s->queued.len > s->max_bytes) {
        s->queued.len = before;
        if (!s->full)
            log_error("spool: full (%" PRIu64 " bytes written, SPOOL_MAX_BYTES %" PRIu64 "): batches Redis cannot "
                      "take are refused until the spool is replayed",
                      s->bytes + s->writing_bytes, s->max_bytes);
        s->full = true;
        metric_inc(s->m_refused_full);
        return -ENOSPC;
    }
    if (s->full)
        log_info("spool: room again (%" PRIu64 " bytes): batches are spooled again", s->bytes + s->writing_bytes);
    s->full = false;
    s->queued_cbs[s->nqueued++] = (append_cb){done, arg};
    write_start(s);
    return 0;
}

/* ---- replay ---- */

/* Forget the file being replayed. */
static void replay_reset(spool *s)
{
    bytebuf_free(&s->file);
    free(s->recs);
    s->recs = NULL;
    s->nrecs = s->next_send = s->replies = s->acked = 0;
    s->replay_failed = s->file_corrupt = false;
    s->draining = false;
}

/* The replay stopped at a failure: remember how far Redis got for certain (the next spool_drain goes on from
 * there) and how far it may have got (what was sent, answered or not). */
static void replay_abort(spool *s)
{
    if (s->next_send > 0) {
        if (s->resume_seq != s->sealed[0]) {
            s->resume_seq = s->sealed[0];
            s->resume_offset = s->resume_sent = 0;
        }
        if (s->acked > 0)
            s->resume_offset = s->recs[s->acked - 1].end;
        if (s->recs[s->next_send - 1].end > s->resume_sent)
            s->resume_sent = s->recs[s->next_send - 1].end;
    }
    replay_reset(s);
    s->drain_wanted = false;
}

/* Every record of sealed[0] is in Redis: delete the file. */
static void replay_remove(spool *s)
{
    file_op *fo = file_op_new(OP_REMOVE);
    if (fo && (fo->path = file_path(s, s->sealed[0], "")) != NULL) {
        fo->corrupt = s->file_corrupt;
        fo->start_size = s->file.len;
        if (file_op_submit(s, fo) == 0)
            return;
    }
    if (fo)
        file_op_free(fo);
    log_error("spool: cannot remove replayed spool-%020" PRIu64 ".log (out of memory); retrying later", s->sealed[0]);
    replay_abort(s);
}

static void on_replayed(redis_client *c, redisReply *reply, const char *err, void *arg);

/* Keep up to REPLAY_WINDOW XADDs in flight; when all records are acknowledged, remove the file. */
static void replay_pump(spool *s)
{
    while (!s->replay_failed && !s->closing && s->next_send < s->nrecs && s->inflight < REPLAY_WINDOW) {
        replay_rec *r = &s->recs[s->next_send];
        /* A copy may already be in the stream, and is flagged so that the writer checks ClickHouse for it (I4 c in
         * stream_writer.c), when the batch was spooled after an XADD whose outcome is unknown (stored with the
         * flag), when an earlier replay of this file sent it, or when an earlier run of ingestd may have. Only
         * those: a flagged entry waits until no other writer holds an older one, so flagging every batch of an
         * outage made the writers wait on each other for minutes after Redis came back. */
        r->b.maybe_duplicate = r->b.maybe_duplicate || s->sealed[0] < s->first_own_seq ||
                               (s->resume_seq == s->sealed[0] && r->end <= s->resume_sent);
        if (stream_append(s->redis, s->stream_key, &r->b, on_replayed, s) != 0) {
            s->replay_failed = true;
            break;
        }
        if (r->b.maybe_duplicate)
            metric_inc(s->m_replayed_dup);
        s->next_send++;
        s->inflight++;
    }
    if (s->inflight)
        return;
    if (s->closing || s->replay_failed) {
        if (s->replay_failed)
            log_warn("spool: replay of spool-%020" PRIu64 ".log interrupted after %zu of %zu batches; "
                     "it resumes when Redis is reachable again",
                     s->sealed[0], s->acked, s->nrecs);
        replay_abort(s);
        return;
    }
    replay_remove(s);
}

/* Redis answered one replayed XADD. */
static void on_replayed(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    spool *s = arg;
    s->replies++;
    stream_append_outcome outcome = stream_append_result(reply);
    if (outcome != STREAM_NOT_APPENDED) {
        metric_inc(outcome == STREAM_WAS_STORED ? s->m_already_stored : s->m_replayed);
        if (!s->replay_failed)
            s->acked = s->replies;
    } else {
        if (!s->replay_failed)
            log_warn("spool: replaying a batch into the stream failed: %s", reply && reply->type == REDIS_REPLY_ERROR
                                                                                ? reply->str
                                                                            : err ? err
                                                                                  : "unexpected reply");
        s->replay_failed = true;
    }
    s->inflight--;
    replay_pump(s);
    close_maybe_finish(s);
}

/* The file to replay was read: find its records and start sending them. */
static void read_done(spool *s, file_op *fo)
{
    uint64_t seq = s->sealed[0];
    if (fo->err == -ENOENT) {
        log_warn("spool: spool-%020" PRIu64 ".log disappeared before it was replayed", seq);
        sealed_pop(s);
        s->draining = false;
        drain_kick(s);
        return;
    }
    if (fo->err || s->closing) {
        if (fo->err)
            log_error("spool: cannot read %s: %s; retrying later", fo->path,
                      fo->err == -ENOMEM ? "out of memory" : strerror(-fo->err));
        replay_abort(s);
        return;
    }
    s->file = fo->data;
    fo->data = (bytebuf){0};
    s->recs = fo->recs;
    s->nrecs = fo->nrecs;
    fo->recs = NULL;
    spool_scan_result res = fo->scan;
    if (res.torn_bytes) {
        metric_inc(s->m_torn);
        log_warn("spool: %s ends with %zu bytes of an incomplete record (cut short by a crash or a failed write, "
                 "never acknowledged to its client); ignoring them",
                 fo->path, res.torn_bytes);
    }
    if (res.corrupt_bytes) {
        s->file_corrupt = true;
        log_error("spool: %s has %zu damaged bytes between good records (disk corruption?); the good records "
                  "are replayed and the file is kept as %s.corrupt",
                  fo->path, res.corrupt_bytes, fo->path);
    }
    log_info("spool: replaying %zu batches from %s into %s", s->nrecs, fo->path, s->stream_key);
    replay_pump(s);
}

/* A replayed file is gone: account for it and go on with the next one. */
static void remove_done(spool *s, file_op *fo)
{
    if (fo->err) {
        log_error("spool: cannot remove replayed %s: %s; its batches will be replayed again (flagged as possible "
                  "duplicates)",
                  fo->path, strerror(-fo->err));
        replay_abort(s);
        return;
    }
    bytes_add(s, -(int64_t)fo->start_size);
    if (s->resume_seq == s->sealed[0])
        s->resume_seq = 0, s->resume_offset = s->resume_sent = 0;
    sealed_pop(s);
    replay_reset(s);
    drain_kick(s);
}

/* Start replaying the oldest sealed file if a replay is wanted and possible. */
static void drain_kick(spool *s)
{
    if (s->closing || s->draining || !s->drain_wanted)
        return;
    if (!s->redis || !redis_client_connected(s->redis)) {
        s->drain_wanted = false;
        return;
    }
    /* The active file is sealed only between writes: a record being written must not be read half-done. */
    if (!s->writing && s->active_fd >= 0)
        seal_active(s);
    if (s->nsealed == 0) {
        /* Nothing sealed; a write in flight calls us again when it ends. */
        if (!s->writing)
            s->drain_wanted = false;
        return;
    }
    file_op *fo = file_op_new(OP_READ);
    if (fo)
        fo->skip_until = s->resume_seq == s->sealed[0] ? s->resume_offset : 0;
    if (!fo || !(fo->path = file_path(s, s->sealed[0], "")) || file_op_submit(s, fo) != 0) {
        if (fo)
            file_op_free(fo);
        log_error("spool: cannot start reading spool-%020" PRIu64 ".log; retrying later", s->sealed[0]);
        s->drain_wanted = false;
        return;
    }
    s->draining = true;
}

int spool_drain(spool *s, redis_client *r, const char *stream_key)
{
    if (s->closing)
        return -ECANCELED;
    if (!redis_client_connected(r))
        return -ENOTCONN;
    if (!s->draining) {
        if (!s->stream_key || strcmp(s->stream_key, stream_key) != 0) {
            char *k = strdup(stream_key);
            if (!k)
                return -ENOMEM;
            free(s->stream_key);
            s->stream_key = k;
        }
        s->redis = r;
    }
    s->drain_wanted = true;
    drain_kick(s);
    return s->draining || s->drain_wanted ? 0 : 1;
}

/* uv_after_work_cb: back on the loop with a file op's outcome. */
static void file_op_done(uv_work_t *req, int status)
{
    file_op *fo = req->data;
    spool *s = fo->s;
    switch (fo->op) {
    case OP_WRITE:
        write_done(s, fo);
        break;
    case OP_READ:
        read_done(s, fo);
        break;
    case OP_REMOVE:
        remove_done(s, fo);
        break;
    case OP_CLOSE:
        if (fo->err)
            log_warn("spool: closing a spool file failed: %s", strerror(-fo->err));
        break;
    }
    file_op_free(fo);
    /* Counted until here: callbacks above may call spool_close, which must not free s under us. */
    s->file_ops--;
    close_maybe_finish(s);
}

/* ---- lifetime ---- */

spool *spool_open(uv_loop_t *loop, const char *dir, int *err)
{
    *err = 0;
    spool *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        *err = -ENOMEM;
        return NULL;
    }
    s->loop = loop;
    s->active_fd = -1;
    spool_crc32("", 0); /* builds the table here, before any worker thread could race to it */
    s->lock_fd = -1;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        *err = -errno;
        log_error("spool: cannot create SPOOL_DIR %s: %s", dir, strerror(errno));
        goto fail;
    }
    char lock_path[4096];
    snprintf(lock_path, sizeof lock_path, "%s/lock", dir);
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0) {
        *err = -errno;
        log_error("spool: cannot open %s: %s", lock_path, strerror(errno));
        goto fail;
    }
    /* A previous ingestd that just died may hold the lock for a moment more (its threads exit after the pid is
     * reaped or shows as a zombie): wait up to spool_lock_wait_ms before concluding someone else uses it. */
    int rc;
    for (int waited = 0; (rc = flock(s->lock_fd, LOCK_EX | LOCK_NB)) != 0 && errno == EWOULDBLOCK &&
                         (unsigned)waited < spool_lock_wait_ms;
         waited += 100)
        usleep(100 * 1000);
    if (rc != 0) {
        *err = errno == EWOULDBLOCK ? -EBUSY : -errno;
        log_error("spool: SPOOL_DIR %s is in use by another process; give each ingestd its own", dir);
        goto fail;
    }
    DIR *d = opendir(dir);
    if (!d) {
        *err = -errno;
        log_error("spool: cannot read SPOOL_DIR %s: %s", dir, strerror(errno));
        goto fail;
    }
    struct dirent *de;
    uint64_t max_seq = 0;
    while ((de = readdir(d))) {
        uint64_t seq;
        if (!parse_file_name(de->d_name, &seq))
            continue;
        struct stat st;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0)
            continue;
        if (sealed_add(s, seq) != 0) {
            closedir(d);
            *err = -ENOMEM;
            goto fail;
        }
        s->bytes += (uint64_t)st.st_size;
        if (seq > max_seq)
            max_seq = seq;
    }
    closedir(d);
    /* Never append to a file a previous run left: it may end in a torn record. */
    s->active_seq = s->first_own_seq = max_seq + 1;
    s->m_bytes = metrics_gauge("mohstats_spool_bytes", "Bytes of batches in the local spool, not yet replayed", NULL);
    s->m_spooled = metrics_counter("mohstats_spool_batches_total", "Batches written to the local spool", NULL);
    s->m_replayed =
        metrics_counter("mohstats_spool_replayed_total", "Spooled batches replayed into the Redis stream", NULL);
    s->m_replayed_dup = metrics_counter("mohstats_spool_replayed_flagged_total",
                                        "Spooled batches sent to the stream flagged as possible duplicates", NULL);
    s->m_already_stored = metrics_counter(STREAM_ALREADY_STORED_METRIC, STREAM_ALREADY_STORED_HELP, "when=\"replay\"");
    s->m_torn = metrics_counter("mohstats_spool_torn_records_total",
                                "Spool files that ended in an incomplete record (crash during a write)", NULL);
    s->m_errors = metrics_counter("mohstats_spool_write_errors_total", "Spool writes that failed", NULL);
    s->m_refused_full = metrics_counter("mohstats_spool_refused_full_total",
                                        "Batches the spool refused because it held SPOOL_MAX_BYTES", NULL);
    metric_set(s->m_bytes, (double)s->bytes);
    if (s->nsealed)
        log_warn("spool: %zu spool files (%" PRIu64 " bytes) from an earlier run in %s; they are replayed once "
                 "Redis is reachable",
                 s->nsealed, s->bytes, dir);
    return s;
fail:
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s->sealed);
    free(s->dir);
    free(s);
    return NULL;
}

/* The last step of spool_close: once nothing is in flight, close the active file, then free. */
static void close_maybe_finish(spool *s)
{
    if (!s->closing || s->writing || s->nqueued || s->file_ops || s->inflight)
        return;
    if (s->active_fd >= 0) {
        int fd = s->active_fd;
        s->active_fd = -1;
        file_op *fo = file_op_new(OP_CLOSE);
        if (fo) {
            fo->fd = fd;
            if (file_op_submit(s, fo) == 0)
                return; /* back here from file_op_done */
            file_op_free(fo);
        }
        close(fd);
    }
    void (*done)(void *) = s->close_done;
    void *arg = s->close_arg;
    close(s->lock_fd);
    replay_reset(s);
    bytebuf_free(&s->queued);
    free(s->queued_cbs);
    free(s->sealed);
    free(s->stream_key);
    free(s->dir);
    free(s);
    if (done)
        done(arg);
}

void spool_close(spool *s, void (*done)(void *arg), void *arg)
{
    if (s->closing)
        return;
    s->closing = true;
    s->close_done = done;
    s->close_arg = arg;
    s->drain_wanted = false;
    close_maybe_finish(s);
}

void spool_set_max_bytes(spool *s, uint64_t max_bytes)
{
    s->max_bytes = max_bytes;
}

uint64_t spool_bytes(const spool *s)
{
    return s->bytes;
}

bool spool_draining(const spool *s)
{
    return s->draining;
}
