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
} bytebuf;
/* Make room for extra more bytes and a NUL after them; 0 or -ENOMEM. */
int bytebuf_grow(bytebuf *b, size_t extra);
/* Inline: rows are built from many short appends (a tab, a number), and the call cost more than the copy. */
static inline int bytebuf_append(bytebuf *b, const char *s, size_t len)
{
    if (b->cap - b->len <= len && bytebuf_grow(b, len))
        return -ENOMEM;
    if (len)
        memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}
int bytebuf_appendf(bytebuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append v in decimal (without vsnprintf: rows and live state append many numbers). */
int bytebuf_append_u64(bytebuf *b, uint64_t v);
void bytebuf_free(bytebuf *b);

#endif
