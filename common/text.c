/* UTF-8 validation, Windows-1252 to UTF-8, and Quake colour code removal. */
#include "text.h"

#include <string.h>

bool utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* Unicode code points of Windows-1252 bytes 0x80..0x9F; the rest of 0xA0..0xFF is Latin-1. */
static const unsigned short cp1252_high[32] = {
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

size_t text_to_utf8(const char *str, size_t n, char *out)
{
    if (utf8_valid(str, n)) {
        memcpy(out, str, n);
        return n;
    }
    const unsigned char *s = (const unsigned char *)str;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned cp = s[i];
        if (cp < 0x80) {
            out[o++] = (char)cp;
            continue;
        }
        if (cp < 0xa0)
            cp = cp1252_high[cp - 0x80];
        if (cp < 0x800) {
            out[o++] = (char)(0xc0 | (cp >> 6));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        } else {
            out[o++] = (char)(0xe0 | (cp >> 12));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    return o;
}

size_t text_strip_colors(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '^' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9') {
            i++;
            continue;
        }
        s[o++] = s[i];
    }
    return o;
}

/* ---- ClickHouse's TabSeparated, in place ---- */

char tsv_unescape_char(char c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case 'r':
        return '\r';
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case '0':
        return '\0';
    default:
        return c; /* "\\", "\'" and anything else stand for themselves */
    }
}

/* Undo TabSeparated escaping of s (NUL-terminated) in place. */
void tsv_unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1])
            *w++ = tsv_unescape_char(*++r);
        else
            *w++ = *r;
    }
    *w = '\0';
}

/* Split the next line of *p into at most max tab-separated fields (NUL-terminated, unescaped). Returns the
 * field count, 0 at the end. */
size_t tsv_split_line(char **p, char **fields, size_t max)
{
    char *s = *p;
    if (!s || !*s)
        return 0;
    char *nl = strchr(s, '\n');
    if (nl)
        *nl = '\0';
    *p = nl ? nl + 1 : NULL;
    size_t n = 0;
    while (n < max) {
        char *tab = strchr(s, '\t');
        if (tab)
            *tab = '\0';
        tsv_unescape(s);
        fields[n++] = s;
        if (!tab)
            break;
        s = tab + 1;
    }
    return n;
}
