/* Text helpers: UTF-8 validation, the CP1252 fallback for player names typed on Windows clients, and reading
 * ClickHouse's TabSeparated answers in place. */
#ifndef MOHSTATS_TEXT_H
#define MOHSTATS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* True if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool utf8_valid(const char *s, size_t n);

/* Write a faithful UTF-8 version of s into out (capacity >= 3 * n, always enough): valid UTF-8 is
 * copied as is; otherwise the bytes are read as Windows-1252, the code page of the game's Western
 * clients (undefined bytes 0x81, 0x8D, 0x8F, 0x90, 0x9D become the C1 controls U+0081.., as WHATWG's
 * decoder does). Returns the output length. */
size_t text_to_utf8(const char *s, size_t n, char *out);

/* Remove Quake colour codes (^0 .. ^9) in place; returns the new length. */
size_t text_strip_colors(char *s, size_t n);

/* The byte a TabSeparated escape letter stands for (the letter after a backslash: n, t, r, b, f, 0; any other
 * stands for itself). */
char tsv_unescape_char(char c);
/* Undo TabSeparated escaping of s (NUL-terminated) in place. */
void tsv_unescape(char *s);
/* Split the next line of *p into at most max tab-separated fields (NUL-terminated, unescaped; a longer line's
 * rest is dropped) and move *p past it. Returns the field count, 0 at the end. */
size_t tsv_split_line(char **p, char **fields, size_t max);

#endif
