/* Unit tests: UTF-8 validation, CP1252 fallback, colour codes, SHA-256 vectors, UUIDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "random.h"
#include "sha256.h"
#include "text.h"

static void test_utf8_valid(void **state)
{
    assert_true(utf8_valid("plain", 5));
    assert_true(utf8_valid("J\xc3\xa9r\xc3\xb4me", 9));
    assert_false(utf8_valid("J\xe9r\xf4me", 7));      /* CP1252 bytes */
    assert_false(utf8_valid("\xc0\xaf", 2));          /* overlong */
    assert_false(utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4));  /* > U+10FFFF */
    assert_false(utf8_valid("\xe2\x82", 2));          /* truncated */
    assert_true(utf8_valid("\xf0\x9f\x98\x80", 4));
}

static void test_cp1252(void **state)
{
    char out[64];
    size_t n = text_to_utf8("[FR]J\xe9r\xf4me&Co", 14, out);
    assert_int_equal(n, 16);
    assert_memory_equal(out, "[FR]J\xc3\xa9r\xc3\xb4me&Co", 16);
    n = text_to_utf8("\x80\x81\x9f", 3, out); /* euro sign, undefined 0x81, Y diaeresis */
    assert_memory_equal(out, "\xe2\x82\xac\xc2\x81\xc5\xb8", n);
    n = text_to_utf8("caf\xc3\xa9", 5, out); /* valid UTF-8 untouched */
    assert_memory_equal(out, "caf\xc3\xa9", 5);
}

static void test_colors(void **state)
{
    char s[] = "^1Red^7Baron^";
    size_t n = text_strip_colors(s, strlen(s));
    assert_int_equal(n, 9);
    assert_memory_equal(s, "RedBaron^", 9);
}

static void test_sha256(void **state)
{
    char hex[65];
    sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(m, strlen(m), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char big[1000];
    memset(big, 'a', sizeof big);
    sha256_ctx c;
    uint8_t d[32];
    sha256_init(&c);
    for (int i = 0; i < 1000; i++)
        sha256_update(&c, big, sizeof big);
    sha256_final(&c, d);
    hex_encode(d, 32, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_uuid(void **state)
{
    uint8_t a[16], b[16];
    char s[37];
    uuid_v4(a);
    uuid_v4(b);
    assert_memory_not_equal(a, b, 16);
    uuid_format(a, s);
    assert_int_equal(strlen(s), 36);
    assert_int_equal(s[14], '4');
    assert_true(s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
    uint8_t k[32];
    assert_int_equal(random_secure(k, sizeof k), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid), cmocka_unit_test(test_cp1252), cmocka_unit_test(test_colors),
        cmocka_unit_test(test_sha256),     cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
