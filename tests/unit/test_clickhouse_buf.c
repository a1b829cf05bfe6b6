/* Unit tests: ClickHouse string literal and TabSeparated escaping in bytebuf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clickhouse.h"

/* Escape s (len bytes) as a quoted literal and compare with want. */
static void check_quoted(const char *s, size_t len, const char *want)
{
    bytebuf b = {0};
    assert_int_equal(ch_append_quoted(&b, s, len), 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    assert_int_equal(b.data[b.len], '\0');
    bytebuf_free(&b);
}

/* Escape s (len bytes) as a TSV field and compare with want. */
static void check_tsv(const char *s, size_t len, const char *want)
{
    bytebuf b = {0};
    assert_int_equal(ch_append_tsv(&b, s, len), 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    bytebuf_free(&b);
}

static void test_quoted_plain(void **state)
{
    check_quoted("", 0, "''");
    check_quoted("hello world", 11, "'hello world'");
}

static void test_quoted_quotes_and_backslashes(void **state)
{
    check_quoted("it's", 4, "'it\\'s'");
    check_quoted("a\\b", 3, "'a\\\\b'");
    check_quoted("\\'", 2, "'\\\\\\''");
    /* A trailing backslash must not escape the closing quote. */
    check_quoted("x\\", 2, "'x\\\\'");
    check_quoted("\"double\"", 8, "'\"double\"'");
}

static void test_quoted_control_bytes(void **state)
{
    check_quoted("a\nb\tc\rd", 7, "'a\\nb\\tc\\rd'");
    check_quoted("\b\f", 2, "'\\b\\f'");
    check_quoted("a\0b", 3, "'a\\0b'");
    check_quoted("\x01\x1f\x7f", 3, "'\\x01\\x1F\\x7F'");
}

static void test_quoted_high_bit_bytes(void **state)
{
    /* UTF-8 and invalid UTF-8 alike pass through: ClickHouse strings are bytes. */
    check_quoted("caf\xc3\xa9", 5, "'caf\xc3\xa9'");
    check_quoted("\xff\xfe\x80", 3, "'\xff\xfe\x80'");
    check_quoted("^1Col\xe9", 6, "'^1Col\xe9'");
}

static void test_tsv(void **state)
{
    check_tsv("plain", 5, "plain");
    check_tsv("a\tb\nc", 5, "a\\tb\\nc");
    check_tsv("back\\slash", 10, "back\\\\slash");
    check_tsv("\r\b\f", 3, "\\r\\b\\f");
    check_tsv("a\0b", 3, "a\\0b");
    /* Quotes need no escaping in TSV; high-bit bytes pass through. */
    check_tsv("it's \xc3\xa9\xff", 8, "it's \xc3\xa9\xff");
}

/* TSV escaping one byte at a time, as ch_append_tsv did before it copied runs: the reference. */
static size_t ref_tsv(const char *s, size_t len, char *o)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char letter = 0;
        switch (ch) {
        case '\\':
            letter = '\\';
            break;
        case '\0':
            letter = '0';
            break;
        case '\b':
            letter = 'b';
            break;
        case '\f':
            letter = 'f';
            break;
        case '\n':
            letter = 'n';
            break;
        case '\r':
            letter = 'r';
            break;
        case '\t':
            letter = 't';
            break;
        }
        if (letter) {
            o[n++] = '\\';
            o[n++] = letter;
        } else {
            o[n++] = (char)ch;
        }
    }
    return n;
}

/* Escaping by runs gives the reference's bytes on any input: every byte value, escapes at the ends and side
 * by side, long runs, appended after earlier content. */
static void test_tsv_matches_bytewise(void **state)
{
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    char in[600], want[1300];
    for (int round = 0; round < 20000; round++) {
        size_t len = 0, max = round % 7 == 0 ? 600 : 40;
        for (; len < max; len++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if (len && rng % (max == 600 ? 200 : 5) == 0)
                break;
            /* Half the bytes from the escaped set, the rest any value. */
            static const char special[] = {'\\', '\0', '\b', '\f', '\n', '\r', '\t', 'a', '\x7f', '\''};
            in[len] = (rng >> 8) % 2 ? special[(rng >> 16) % sizeof special] : (char)(rng >> 24);
        }
        if (round % 3 == 0)
            len = (rng >> 40) % (len + 1); /* now and then shorter, down to empty */
        bytebuf b = {0};
        assert_int_equal(bytebuf_append(&b, "x\t", 2), 0);
        assert_int_equal(ch_append_tsv(&b, in, len), 0);
        size_t n = ref_tsv(in, len, want);
        assert_int_equal(b.len, 2 + n);
        assert_memory_equal(b.data + 2, want, n);
        assert_int_equal(b.data[b.len], '\0');
        bytebuf_free(&b);
    }
    char all[256], out[512];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    bytebuf b = {0};
    assert_int_equal(ch_append_tsv(&b, all, 256), 0);
    size_t n = ref_tsv(all, 256, out);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, out, n);
    bytebuf_free(&b);
}

/* Long runs with escapes far apart, as in raw objects: ch_append_tsv looks at eight bytes at a time there.
 * The bytes around the escaped ones (0x0e, 0x7f, 0x5b, 0x5d, 0xdc...) and the few it flags without escaping
 * (\x01, \v) must come out as they went in, at every offset and length. */
static void test_tsv_word_scan(void **state)
{
    uint64_t rng = 0xD1B54A32D192ED03ULL;
    char in[300], want[700];
    static const char near[] = {'a', ' ', '\x0e', '\x0d', '\x7f', '[', ']', '\xdc', '\x8e', '\x80', '\x01', '\v', '\xff'};
    static const char escaped[] = {'\\', '\0', '\b', '\f', '\n', '\r', '\t'};
    for (int round = 0; round < 50000; round++) {
        size_t len = (size_t)(round % 300);
        for (size_t i = 0; i < len; i++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            in[i] = rng % 61 == 0 ? escaped[(rng >> 8) % sizeof escaped] : near[(rng >> 16) % sizeof near];
        }
        bytebuf b = {0};
        assert_int_equal(ch_append_tsv(&b, in, len), 0);
        size_t n = ref_tsv(in, len, want);
        assert_int_equal(b.len, n);
        assert_memory_equal(b.data, want, n);
        bytebuf_free(&b);
    }
}

static void test_append_and_appendf(void **state)
{
    bytebuf b = {0};
    assert_int_equal(bytebuf_appendf(&b, "INSERT INTO %s VALUES (", "t"), 0);
    assert_int_equal(ch_append_quoted(&b, "o'k", 3), 0);
    assert_int_equal(bytebuf_appendf(&b, ", %d)", 42), 0);
    assert_string_equal(b.data, "INSERT INTO t VALUES ('o\\'k', 42)");
    /* Growth past the first allocation keeps earlier content. */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(bytebuf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, strlen("INSERT INTO t VALUES ('o\\'k', 42)") + 10000);
    assert_memory_equal(b.data, "INSERT INTO t", 13);
    assert_int_equal(b.data[b.len], '\0');
    bytebuf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    bytebuf_free(&b); /* twice is harmless */
}

static void test_append_u64(void **state)
{
    bytebuf b = {0};
    const uint64_t values[] = {0, 7, 10, 1796209760123ULL, UINT64_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        assert_int_equal(bytebuf_append_u64(&b, values[i]), 0);
        assert_int_equal(bytebuf_append(&b, " ", 1), 0);
    }
    assert_string_equal(b.data, "0 7 10 1796209760123 18446744073709551615 ");
    bytebuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoted_plain),
        cmocka_unit_test(test_quoted_quotes_and_backslashes),
        cmocka_unit_test(test_quoted_control_bytes),
        cmocka_unit_test(test_quoted_high_bit_bytes),
        cmocka_unit_test(test_tsv),
        cmocka_unit_test(test_tsv_matches_bytewise),
        cmocka_unit_test(test_tsv_word_scan),
        cmocka_unit_test(test_append_and_appendf),
        cmocka_unit_test(test_append_u64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
