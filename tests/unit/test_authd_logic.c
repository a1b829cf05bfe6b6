/* Unit tests: HMAC-SHA256 (RFC 4231 vectors), login code derivation, the stored MAC and what a player may type,
 * the failed-login limits per server and per player, and the request readers authd's handlers share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "authd.h"
#include "login_code.h"
#include "login_limit.h"
#include "random.h"
#include "sha256.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    hex_encode(d, n, out);
}

static void test_hmac_rfc4231(void **state)
{
    uint8_t mac[32], key[131];
    char h[65];
    memset(key, 0x0b, 20); /* test case 1 */
    hmac_sha256(key, 20, "Hi There", 8, mac);
    hex(mac, 32, h);
    assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac); /* test case 2 */
    hex(mac, 32, h);
    assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, 131); /* test case 6: a key longer than the block is hashed first */
    const char *m = "Test Using Larger Than Block-Size Key - Hash Key First";
    hmac_sha256(key, 131, m, strlen(m), mac);
    hex(mac, 32, h);
    assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_secret_equal(void **state)
{
    assert_true(secret_equal("abcd", "abcd", 4));
    assert_false(secret_equal("abcd", "abce", 4));
    assert_false(secret_equal("xbcd", "abcd", 4));
}

static void test_code_derive(void **state)
{
    uint8_t key[32] = {1, 2, 3}, id[16] = {9, 8, 7}, other[16] = {9, 8, 6};
    char a[LOGIN_CODE_LEN + 1], b[LOGIN_CODE_LEN + 1], c[LOGIN_CODE_LEN + 1];
    login_code_derive(key, id, a);
    login_code_derive(key, id, b);
    login_code_derive(key, other, c);
    assert_int_equal(strlen(a), 16); /* fits the forum's user_code VARCHAR(16) */
    assert_memory_equal(a, "MOH-", 4);
    assert_string_equal(a, b);       /* the same row always shows the same code */
    assert_string_not_equal(a, c);
    assert_int_equal(strspn(a + 4, "0123456789ABCDEFGHJKMNPQRSTVWXYZ"), 12);
    key[31] ^= 1; /* another key, another code */
    login_code_derive(key, id, b);
    assert_string_not_equal(a, b);
}

/* What login_tokens.token_hash holds: HMAC-SHA256 under the key of a labelled message, never SHA-256(code). */
static void test_code_mac(void **state)
{
    uint8_t key[32] = {1, 2, 3};
    char mac[65], again[65], bare[65];
    login_code_mac(key, "MOH-1GZQMANB5BS4", mac);
    /* Computed independently: printf 'mohstats login code hash v1\0MOH-1GZQMANB5BS4' |
     *   openssl dgst -sha256 -mac HMAC -macopt hexkey:0102030000...00 */
    assert_string_equal(mac, "3837b4a341e5d2b92dc7f18bc193eab5a2318a9f51d15716eb23ad4f227a1e2c");
    login_code_legacy_hash("MOH-1GZQMANB5BS4", bare);
    assert_string_equal(bare, "3001ac49d54067fe8da7503a876220ffcf8df2d960522a1a251d47b125134f09");
    assert_string_not_equal(mac, bare);
    key[31] ^= 1; /* without the key, the stored value cannot be checked against a guess */
    login_code_mac(key, "MOH-1GZQMANB5BS4", again);
    assert_string_not_equal(mac, again);
    /* Not the MAC that derives a code either: the labels keep the key's two uses apart. */
    uint8_t plain[32];
    hmac_sha256(key, 32, "MOH-1GZQMANB5BS4", 16, plain);
    hex(plain, 32, bare);
    assert_string_not_equal(again, bare);
}

/* One player spending their allowance leaves the others on the server theirs; the server's caps them all. */
static void test_login_limits(void **state)
{
    login_limits l;
    char p1[LOGIN_PLAYER_KEY_LEN], p2[LOGIN_PLAYER_KEY_LEN], other[LOGIN_PLAYER_KEY_LEN];
    assert_int_equal(login_limits_init(&l, 8, 3), 0);
    login_limit_player_key("192.0.2.1", "3", p1);
    login_limit_player_key("192.0.2.1", "4", p2);
    login_limit_player_key("192.0.2.2", "3", other);
    assert_string_equal(p1, "192.0.2.1 3");
    uint64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(login_limits_take(&l, "192.0.2.1", p1, t), LOGIN_LIMIT_OK);
    assert_int_equal(login_limits_take(&l, "192.0.2.1", p1, t), LOGIN_LIMIT_PLAYER);
    assert_int_equal(login_limits_take(&l, "192.0.2.1", p1, t), LOGIN_LIMIT_PLAYER);
    /* Refused attempts took nothing from the server: 3 of its 8 are spent, so another player has 3 and more. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(login_limits_take(&l, "192.0.2.1", p2, t), LOGIN_LIMIT_OK);
    assert_int_equal(login_limits_take(&l, "192.0.2.1", p2, t), LOGIN_LIMIT_PLAYER);
    /* A good login gives back what it took. */
    login_limits_give(&l, "192.0.2.1", p2, t);
    assert_int_equal(login_limits_take(&l, "192.0.2.1", p2, t), LOGIN_LIMIT_OK);
    /* A GUID per guess (a hostile server) is capped by the server's allowance: 2 left of 8. */
    char k[LOGIN_PLAYER_KEY_LEN], g[16];
    int ok = 0;
    for (int i = 0; i < 20; i++) {
        snprintf(g, sizeof g, "guess%d", i);
        login_limit_player_key("192.0.2.1", g, k);
        login_limit_result r = login_limits_take(&l, "192.0.2.1", k, t);
        if (r == LOGIN_LIMIT_OK)
            ok++;
        else
            assert_int_equal(r, LOGIN_LIMIT_SERVER);
    }
    assert_int_equal(ok, 2);
    /* Another server's player with the same GUID is not affected. */
    assert_int_equal(login_limits_take(&l, "192.0.2.2", other, t), LOGIN_LIMIT_OK);
    /* Refilled: 3 a minute for a player, so one after 20 s. */
    assert_int_equal(login_limits_take(&l, "192.0.2.1", p1, t + 20000), LOGIN_LIMIT_OK);
    assert_int_equal(login_limits_take(&l, "192.0.2.1", p1, t + 20000), LOGIN_LIMIT_PLAYER);
    login_limits_close(&l);
}

static void test_code_normalize(void **state)
{
    char out[LOGIN_CODE_LEN + 1];
    assert_int_equal(login_code_normalize("MOH-1GZQMANB5BS4", out), 0);
    assert_string_equal(out, "MOH-1GZQMANB5BS4");
    assert_int_equal(login_code_normalize("  moh-1gzq-manb-5bs4 ", out), 0);
    assert_string_equal(out, "MOH-1GZQMANB5BS4");
    assert_int_equal(login_code_normalize("1gzqmanb5bs4", out), 0); /* without the prefix */
    assert_string_equal(out, "MOH-1GZQMANB5BS4");
    assert_int_equal(login_code_normalize("MOH-IGZQMANBSBS4", out), 0); /* I reads as 1 */
    assert_string_equal(out, "MOH-1GZQMANBSBS4");
    assert_int_equal(login_code_normalize("MOH-LOZQMANB5BS4", out), 0); /* L as 1, O as 0 */
    assert_string_equal(out, "MOH-10ZQMANB5BS4");
    assert_int_equal(login_code_normalize("MOH1GZQMANB5BS4", out), 0);
    assert_string_equal(out, "MOH-1GZQMANB5BS4");
    /* A 12-symbol code that starts with MOH is itself, not a prefix and 9 symbols. */
    assert_int_equal(login_code_normalize("MOH123456789", out), 0);
    assert_string_equal(out, "MOH-M0H123456789");
    assert_int_equal(login_code_normalize("MOH-1234", out), -1);          /* the old 16-bit codes */
    assert_int_equal(login_code_normalize("MOH-1GZQMANB5BSU", out), -1);  /* U is not a symbol */
    assert_int_equal(login_code_normalize("MOH-1GZQMANB5BS4X", out), -1); /* too long */
    assert_int_equal(login_code_normalize("MOH-1GZQ'ANB5BS4", out), -1);
    assert_int_equal(login_code_normalize("", out), -1);
    assert_int_equal(login_code_normalize("MOH-1GZQMANB5BS4MOH-1GZQMANB5BS4", out), -1);
}

static void test_member_id(void **state)
{
    cJSON *o = cJSON_Parse("{\"a\":42,\"b\":\"42\",\"c\":0,\"d\":-1,\"e\":2147483648,\"f\":4.5,\"g\":\"4x\","
                           "\"h\":\"\",\"i\":true,\"j\":\"00042\"}");
    assert_int_equal(authd_member_id(cJSON_GetObjectItem(o, "a")), 42);
    assert_int_equal(authd_member_id(cJSON_GetObjectItem(o, "b")), 42);
    assert_int_equal(authd_member_id(cJSON_GetObjectItem(o, "c")), 0);
    assert_int_equal(authd_member_id(cJSON_GetObjectItem(o, "d")), 0);
    assert_int_equal(authd_member_id(cJSON_GetObjectItem(o, "e")), 0);
    assert_int_equal(authd_member_id(cJSON_GetObjectItem(o, "f")), 0);
    assert_int_equal(authd_member_id(cJSON_GetObjectItem(o, "g")), 0);
    assert_int_equal(authd_member_id(cJSON_GetObjectItem(o, "h")), 0);
    assert_int_equal(authd_member_id(cJSON_GetObjectItem(o, "i")), 0);
    assert_int_equal(authd_member_id(cJSON_GetObjectItem(o, "j")), 42);
    assert_int_equal(authd_member_id(NULL), 0);
    assert_int_equal(authd_member_str("99999999999"), 0);
    cJSON_Delete(o);
}

static void test_text_and_truthy(void **state)
{
    cJSON *o = cJSON_Parse("{\"s\":\"x\",\"n\":5,\"f\":1.5,\"t\":true,\"one\":\"1\",\"no\":\"false\",\"z\":0}");
    char buf[32];
    assert_string_equal(authd_text(o, "s", buf, sizeof buf), "x");
    assert_string_equal(authd_text(o, "n", buf, sizeof buf), "5");
    assert_string_equal(authd_text(o, "f", buf, sizeof buf), "1.5");
    assert_string_equal(authd_text(o, "missing", buf, sizeof buf), "");
    assert_string_equal(authd_text(o, "t", buf, sizeof buf), "");
    assert_true(authd_truthy(cJSON_GetObjectItem(o, "t")));
    assert_true(authd_truthy(cJSON_GetObjectItem(o, "one")));
    assert_true(authd_truthy(cJSON_GetObjectItem(o, "n")));
    assert_false(authd_truthy(cJSON_GetObjectItem(o, "no")));
    assert_false(authd_truthy(cJSON_GetObjectItem(o, "z")));
    assert_false(authd_truthy(NULL));
    cJSON_Delete(o);
}

static void test_uuid_parse(void **state)
{
    uint8_t id[16], back[16];
    char s[37];
    uuid_v4(id);
    uuid_format(id, s);
    assert_int_equal(uuid_parse(s, back), 0);
    assert_memory_equal(id, back, 16);
    assert_int_equal(uuid_parse("C522FBEF-A06B-44C3-82AD-5FDD2D82DCA9", back), 0);
    assert_int_equal(back[0], 0xc5);
    assert_int_equal(uuid_parse("c522fbef-a06b-44c3-82ad-5fdd2d82dca", back), -1);
    assert_int_equal(uuid_parse("c522fbef-a06b-44c3-82ad-5fdd2d82dca99", back), -1);
    assert_int_equal(uuid_parse("c522fbefa-06b-44c3-82ad-5fdd2d82dca9", back), -1);
    assert_int_equal(uuid_parse("g522fbef-a06b-44c3-82ad-5fdd2d82dca9", back), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231), cmocka_unit_test(test_secret_equal),
        cmocka_unit_test(test_code_derive),  cmocka_unit_test(test_code_mac),
        cmocka_unit_test(test_login_limits), cmocka_unit_test(test_code_normalize),
        cmocka_unit_test(test_member_id),    cmocka_unit_test(test_text_and_truthy),
        cmocka_unit_test(test_uuid_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
