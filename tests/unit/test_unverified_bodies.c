/* Unit tests: the bounds on bodies held for tokens not checked yet, in all and per sender
 * (ingestd/unverified_bodies.c), and the shape every server token has (registration_token_well_formed), by which
 * malformed tokens are refused before their body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "registration.h"
#include "unverified_bodies.h"

static void test_bound_and_release(void **state)
{
    (void)state;
    unverified_bodies *u = unverified_bodies_new(3000, 3000, 35000);
    assert_non_null(u);
    uint64_t a = unverified_bodies_take(u, "a", 1000, 0), b = unverified_bodies_take(u, "a", 2000, 0);
    assert_true(a && b && a != b);
    assert_int_equal(unverified_bodies_held(u, 0), 3000);
    assert_int_equal(unverified_bodies_take(u, "a", 1, 0), 0); /* full: refused, nothing charged */
    unverified_bodies_release(u, a);
    assert_int_equal(unverified_bodies_held(u, 0), 2000);
    unverified_bodies_release(u, a); /* twice: ignored */
    unverified_bodies_release(u, 0);
    assert_int_equal(unverified_bodies_held(u, 0), 2000);
    assert_int_equal(unverified_bodies_take(u, "a", 1001, 0), 0); /* more than is left */
    assert_int_not_equal(unverified_bodies_take(u, "a", 1000, 0), 0);
    unverified_bodies_free(u);
}

/* A request whose connection went away is never released by its handler: its charge ends with its hold. */
static void test_expiry(void **state)
{
    (void)state;
    unverified_bodies *u = unverified_bodies_new(2000, 2000, 100);
    uint64_t a = unverified_bodies_take(u, "a", 1000, 0);
    uint64_t b = unverified_bodies_take(u, "a", 1000, 50);
    assert_int_equal(unverified_bodies_take(u, "a", 1000, 60), 0);
    assert_int_equal(unverified_bodies_held(u, 99), 2000);
    assert_int_equal(unverified_bodies_held(u, 100), 1000); /* a's hold ended */
    unverified_bodies_release(u, a);                        /* late: ignored */
    assert_int_equal(unverified_bodies_held(u, 100), 1000);
    uint64_t c = unverified_bodies_take(u, "a", 1000, 100);
    assert_int_not_equal(c, 0);
    unverified_bodies_release(u, b); /* released from the middle of the order */
    assert_int_equal(unverified_bodies_held(u, 100), 1000);
    assert_int_equal(unverified_bodies_held(u, 200), 0);
    unverified_bodies_free(u);
}

/* One sender holds at most its share; others still get the rest; its share comes back with its charges. */
static void test_sender_share(void **state)
{
    (void)state;
    unverified_bodies *u = unverified_bodies_new(4000, 1000, 35000);
    uint64_t a1 = unverified_bodies_take(u, "192.0.2.1", 600, 0);
    assert_int_not_equal(a1, 0);
    assert_int_equal(unverified_bodies_take(u, "192.0.2.1", 401, 0), 0); /* over its share of 1000 */
    uint64_t a2 = unverified_bodies_take(u, "192.0.2.1", 400, 0);
    assert_int_not_equal(a2, 0);
    assert_int_not_equal(unverified_bodies_take(u, "192.0.2.2", 1000, 0), 0); /* another sender */
    assert_int_equal(unverified_bodies_held(u, 0), 2000);
    unverified_bodies_release(u, a1);
    unverified_bodies_release(u, a2);
    assert_int_not_equal(unverified_bodies_take(u, "192.0.2.1", 1000, 0), 0); /* its share is whole again */
    assert_int_not_equal(unverified_bodies_take(u, "192.0.2.3", 1000, 0), 0);
    assert_int_not_equal(unverified_bodies_take(u, "192.0.2.4", 1000, 0), 0);
    assert_int_equal(unverified_bodies_take(u, "192.0.2.5", 1, 0), 0); /* 4000 in all: full */
    assert_int_equal(unverified_bodies_held(u, 35000), 0);             /* all expired */
    assert_int_not_equal(unverified_bodies_take(u, "192.0.2.1", 1000, 35000), 0);
    unverified_bodies_free(u);
}

static void test_token_shape(void **state)
{
    (void)state;
    char token[64], hash[65];
    for (int i = 0; i < 100; i++) {
        registration_new_token(token, hash);
        assert_true(registration_token_well_formed(token));
    }
    char t[80];
    strcpy(t, token);
    t[10] = 'u'; /* not in the alphabet (Crockford leaves out i, l, o, u) */
    assert_false(registration_token_well_formed(t));
    strcpy(t, token);
    t[10] = 'A'; /* tokens are lower case */
    assert_false(registration_token_well_formed(t));
    strcpy(t, token);
    t[strlen(t) - 1] = '\0';
    assert_false(registration_token_well_formed(t));
    strcpy(t, token);
    strcat(t, "0");
    assert_false(registration_token_well_formed(t));
    strcpy(t, token);
    t[0] = 'x';
    assert_false(registration_token_well_formed(t));
    assert_false(registration_token_well_formed(""));
    assert_false(registration_token_well_formed("mst_nope"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound_and_release),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_sender_share),
        cmocka_unit_test(test_token_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
