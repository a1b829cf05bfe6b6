/* Unit tests: hash map operations and growth; rate limiting buckets and the keys addresses are limited under. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client_ip.h"
#include "hashmap.h"
#include "random.h"
#include "rate_limit.h"

static void test_hashmap(void **state)
{
    hashmap *m = hashmap_new();
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(hashmap_put(m, key, strlen(key), (void *)(intptr_t)(i + 1), NULL), 0);
    }
    assert_int_equal(hashmap_size(m), 5000);
    void *old;
    assert_int_equal(hashmap_put(m, "k7", 2, (void *)(intptr_t)99, &old), 0);
    assert_int_equal((intptr_t)old, 8);
    assert_int_equal((intptr_t)hashmap_get(m, "k7", 2), 99);
    assert_null(hashmap_get(m, "k7x", 3));
    assert_int_equal((intptr_t)hashmap_remove(m, "k10", 3), 11);
    assert_null(hashmap_get(m, "k10", 3));
    size_t pos = 0, len, seen = 0;
    const char *k;
    void *v;
    while (hashmap_next(m, &pos, &k, &len, &v))
        seen++;
    assert_int_equal(seen, 4999);
    /* Keys are bytes, not C strings. */
    assert_int_equal(hashmap_put(m, "a\0b", 3, (void *)1, NULL), 0);
    assert_null(hashmap_get(m, "a", 1));
    assert_non_null(hashmap_get(m, "a\0b", 3));
    hashmap_free(m, NULL);
}

static void test_rate_limit(void **state)
{
    rate_limit *r = rate_limit_new(60, 3); /* one a second, bursts of 3 */
    assert_true(rate_limit_take(r, "1.2.3.4", 1000));
    assert_true(rate_limit_take(r, "1.2.3.4", 1000));
    assert_true(rate_limit_take(r, "1.2.3.4", 1000));
    assert_false(rate_limit_take(r, "1.2.3.4", 1000));
    assert_true(rate_limit_take(r, "5.6.7.8", 1000)); /* other keys are independent */
    assert_false(rate_limit_take(r, "1.2.3.4", 1500));
    assert_true(rate_limit_take(r, "1.2.3.4", 2000));   /* refilled one */
    assert_true(rate_limit_take(r, "1.2.3.4", 200000)); /* sweep path, full again */
    assert_true(rate_limit_allows(r, "9.9.9.9", 200000));
    assert_true(rate_limit_take(r, "9.9.9.9", 200000));
    assert_true(rate_limit_take(r, "9.9.9.9", 200000));
    assert_true(rate_limit_allows(r, "9.9.9.9", 200000)); /* one left: allows does not take it */
    assert_true(rate_limit_take(r, "9.9.9.9", 200000));
    assert_false(rate_limit_allows(r, "9.9.9.9", 200000));
    /* Taken up front, given back when the attempt did not fail: the limit holds for attempts in flight. */
    rate_limit_give(r, "9.9.9.9", 200000);
    assert_true(rate_limit_take(r, "9.9.9.9", 200000));
    assert_false(rate_limit_take(r, "9.9.9.9", 200000));
    for (int i = 0; i < 10; i++)
        rate_limit_give(r, "9.9.9.9", 200000); /* never above the burst */
    assert_true(rate_limit_take(r, "9.9.9.9", 200000));
    assert_true(rate_limit_take(r, "9.9.9.9", 200000));
    assert_true(rate_limit_take(r, "9.9.9.9", 200000));
    assert_false(rate_limit_take(r, "9.9.9.9", 200000));
    rate_limit_give(r, "unknown", 200000); /* a key without a bucket: nothing happens */
    assert_true(rate_limit_allows(r, "unknown", 200000));
    rate_limit_free(r);
}

/* A budget of a quantity: a full bucket takes one charge of any size into debt, and the key owes until the debt is
 * paid back, told how long that takes. */
static void test_rate_limit_budget(void **state)
{
    rate_limit *r = rate_limit_new(60.0 * 1000, 2000); /* 1,000 a second, 2,000 at once */
    uint64_t retry = 0;
    assert_false(rate_limit_owes(r, "s1", 1000, &retry)); /* unknown: a full bucket */
    rate_limit_charge(r, "s1", 1000, 1500);
    assert_false(rate_limit_owes(r, "s1", 1000, &retry));
    rate_limit_charge(r, "s1", 1000, 1500); /* 500 left: charged into debt (-1000) */
    assert_true(rate_limit_owes(r, "s1", 1000, &retry));
    assert_int_equal(retry, 1001); /* 1,000 of debt at 1 a ms, rounded up */
    rate_limit_charge(r, "s2", 1000, 5000); /* more than the burst, once */
    assert_true(rate_limit_owes(r, "s1", 1500, &retry));
    assert_in_range(retry, 500, 501);
    assert_false(rate_limit_owes(r, "s1", 2000, &retry)); /* paid back */
    assert_true(rate_limit_owes(r, "s2", 2000, &retry));
    assert_in_range(retry, 2000, 2001); /* 3,000 of debt at 1000, 1,000 paid back since */
    rate_limit_free(r);
}

/* IPv4 as it is, IPv6 by /64, IPv4-mapped IPv6 as IPv4: a host cannot take a fresh limit per address of its
 * /64 (the same limit for all of them, checked through a bucket), and anything unparsable stays itself. */
static void test_limit_key(void **state)
{
    static const char *cases[][2] = {
        {"198.51.100.7", "198.51.100.7"},         {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
        {"2001:db8:1:2::1", "2001:db8:1:2::/64"}, {"2001:DB8:1:2::ffff", "2001:db8:1:2::/64"},
        {"2001:db8:1:3::1", "2001:db8:1:3::/64"}, {"::1", "::/64"},
        {"::ffff:198.51.100.7", "198.51.100.7"},  {"fe80::1", "fe80::/64"},
        {"not-an-address", "not-an-address"},     {"", ""},
    };
    char key[CLIENT_LIMIT_KEY_LEN];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        client_limit_key(cases[i][0], key);
        assert_string_equal(key, cases[i][1]);
    }
    rate_limit *r = rate_limit_new(1, 3);
    char addr[64];
    int allowed = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(addr, sizeof addr, "2001:db8:7:7::%x", i + 1);
        client_limit_key(addr, key);
        allowed += rate_limit_take(r, key, 1000);
    }
    assert_int_equal(allowed, 3);
    rate_limit_free(r);
}

static void test_base32(void **state)
{
    char out[64];
    base32_encode("\xff\xff\xff\xff\xff", 5, out);
    assert_string_equal(out, "zzzzzzzz");
    base32_encode("\x00", 1, out);
    assert_string_equal(out, "00");
    uint8_t raw[33] = {0};
    base32_encode(raw, 33, out);
    assert_int_equal(strlen(out), 53);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hashmap), cmocka_unit_test(test_rate_limit),
                                       cmocka_unit_test(test_rate_limit_budget),
                                       cmocka_unit_test(test_limit_key), cmocka_unit_test(test_base32)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
