/* A throwaway PostgreSQL for unit tests that need one: tests/pg_harness.sh (init, start,
 * destroy a cluster under a directory), found and run from C. */
#ifndef INTENTD_TEST_PG_H
#define INTENTD_TEST_PG_H

#include <stddef.h>

/* Where pg_harness.sh is: $INTENTD_PG_HARNESS (meson sets it), else beside this source tree. */
void pg_test_find_harness(char *out, size_t outlen);

/* Runs "pg_harness.sh CMD DIR" and captures its first stdout line into out (may be NULL).
 * Returns its exit status, or -1 when it could not run. */
int pg_test_run(const char *harness, const char *cmd, const char *dir, char *out, size_t outlen);

#endif
