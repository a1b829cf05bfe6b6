/* A growable byte buffer, always NUL-terminated after its bytes: how the project builds SQL, rows, JSON and files.
 * A zeroed bytebuf is empty and ready; every append returns 0 or -ENOMEM (the bytes so far stay valid). */
#ifndef MOHSTATS_BYTEBUF_H
#define MOHSTATS_BYTEBUF_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len, cap;
} ch_buf;
/* Make room for extra more bytes and a NUL after them; 0 or -ENOMEM. */
int ch_buf_grow(ch_buf *b, size_t extra);
/* Inline: rows are built from many short appends (a tab, a number), and the call cost more than the copy. */
static inline int ch_buf_append(ch_buf *b, const char *s, size_t len)
{
    if (b->cap - b->len <= len && ch_buf_grow(b, len))
        return -ENOMEM;
    if (len)
        memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}
int ch_buf_appendf(ch_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append v in decimal (without vsnprintf: rows and live state append many numbers). */
int ch_buf_append_u64(ch_buf *b, uint64_t v);
void ch_buf_free(ch_buf *b);

#endif
