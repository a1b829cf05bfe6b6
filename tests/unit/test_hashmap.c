/* Unit tests: hash map operations and growth; rate limiting buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
                                       cmocka_unit_test(test_base32)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
