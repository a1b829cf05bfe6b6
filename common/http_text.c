/* HTTP text: status reason phrases and percent-decoding. */
#include "http_server.h"

#include "http_conn.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Value of one hex digit, or -1. */
static int hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decode %xx (and '+' if asked) in place, keeping malformed escapes as they are; NUL-terminates. */
size_t http_percent_decode_lenient(char *s, size_t len, bool plus_is_space)
{
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '%' && i + 2 < len) {
            int hi = hex_value((unsigned char)s[i + 1]), lo = hex_value((unsigned char)s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                s[out++] = (char)(hi << 4 | lo);
                i += 2;
                continue;
            }
        } else if (ch == '+' && plus_is_space) {
            ch = ' ';
        }
        s[out++] = ch;
    }
    s[out] = '\0';
    return out;
}

long http_percent_decode(char *s, size_t len, bool plus_is_space)
{
    /* Validate first so that a malformed string is left untouched. */
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%')
            continue;
        if (i + 2 >= len || hex_value((unsigned char)s[i + 1]) < 0 || hex_value((unsigned char)s[i + 2]) < 0)
            return -1;
        i += 2;
    }
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            s[out++] = (char)(hex_value((unsigned char)s[i + 1]) << 4 | hex_value((unsigned char)s[i + 2]));
            i += 2;
        } else {
            s[out++] = (s[i] == '+' && plus_is_space) ? ' ' : s[i];
        }
    }
    if (out < len)
        s[out] = '\0';
    return (long)out;
}

static const struct {
    int status;
    const char *text;
} status_texts[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Payload Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Entity"},
    {425, "Too Early"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *http_status_text(int status)
{
    for (size_t i = 0; i < sizeof status_texts / sizeof status_texts[0]; i++)
        if (status_texts[i].status == status)
            return status_texts[i].text;
    return "Unknown";
}
