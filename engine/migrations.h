/* Schema migrations carried in the binary (engine/sql/NNN_*.sql) and applied at start-up under
 * an advisory lock, so that nodes starting together apply each version exactly once. */
#ifndef INTENTD_MIGRATIONS_H
#define INTENTD_MIGRATIONS_H

#include <stddef.h>

#include "errors.h"

struct lifecycle;

struct migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct migration migrations[];
extern const int migrations_count;

/* The schema version this binary expects (the highest migration it carries). */
int migrations_latest(void);

/* Connects with conninfo (blocking: start-up only), applies every missing migration in its own
 * transaction under a session advisory lock, then re-seeds intentd.lifecycle_transitions from
 * the lifecycle table. ledger_head (may be NULL) receives the ledger's last seq then: the rows
 * after it are the ones this process can have written. Returns 0, IE_UNAVAIL (cannot connect)
 * or IE_DB; err says what failed. */
int migrations_apply(const char *conninfo, const struct lifecycle *lc, long long *ledger_head,
                     char *err, size_t errlen) IE_MUST_CHECK;

#endif
