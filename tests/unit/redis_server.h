/* Unit tests that need a real Redis: a private redis-server on a free loopback port. */
#ifndef MOHSTATS_TEST_REDIS_SERVER_H
#define MOHSTATS_TEST_REDIS_SERVER_H

#include <sys/types.h>

/* A free TCP port on loopback. */
int test_free_port(void);
/* Start redis-server (no persistence, files in dir) on port; returns its pid once it accepts connections, and
 * fails the running test if it does not. */
pid_t test_redis_start(int port, const char *dir);
/* Kill it and reap it. */
void test_redis_stop(pid_t pid);

#endif
