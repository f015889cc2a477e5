/* The embedded default database: a private PostgreSQL cluster that intentd creates (the first
 * time), starts and stops itself when INTENTD_DATABASE_URL is not set. It listens on a unix
 * socket only (listen_addresses = '', socket directory mode 0700, trust authentication on that
 * socket alone), so only its owner and root can connect.
 *
 * Where it lives: <home>/pgdata (data), <home>/run (socket), <home>/postgres.log (server log).
 * Started as root, the cluster runs as an unprivileged system user (`postgres` if it exists,
 * else a system user `intentd` is created), because PostgreSQL refuses to run as root. That user
 * must be able to reach <home>; when it cannot (a home under /root, or a home directory of mode
 * 0700, which is what intentd creates), the cluster lives in /var/lib/intentd/clusters/<hash of
 * the real path of home> instead, and a log line says so. The choice is recomputed identically
 * on every start, so the same home always finds the same cluster.
 *
 * Binaries: $INTENTD_PG_BINDIR, else `pg_config --bindir`, else the newest
 * /usr/lib/postgresql/<version>/bin.
 *
 * These functions block (fork/exec + waitpid of initdb and pg_ctl, a synchronous libpq
 * connection): call them at start-up and shutdown only, never while the loop serves. */
#ifndef INTENTD_PGEMBED_H
#define INTENTD_PGEMBED_H

#include <stddef.h>

#include "errors.h"

struct pgembed;

/* Ownership: one intentd owns a cluster, shown by an exclusive flock() on <base>/intentd.lock
 * (<base> is home or its /var/lib/intentd/clusters/ replacement; the file holds the owner's
 * pid). The lock is held from pgembed_start() until pgembed_stop() and is released by the
 * kernel when the process dies, even by kill -9; the postmaster never inherits it.
 *
 * Creates the cluster if needed, takes the lock, starts the server (pg_ctl start -w; a stale
 * postmaster.pid from a crash is handled by PostgreSQL itself) and creates the database
 * `intentd` if missing. A server found running while we hold the lock was left by an intentd
 * that died without stopping it (pg_ctl detaches the postmaster): it is taken over, restarted
 * with pg_ctl restart -m fast so the settings written now apply, and stopped by pgembed_stop()
 * like one we started. If another live intentd holds the lock, fails with IE_CONFIG ("INTENTD_HOME
 * <home> is in use by another intentd (pid N)") and touches nothing. After starting, waits for
 * the server to accept connections: up to 120 s while it answers that it is starting up, about
 * 20 s while it does not answer at all.
 * On success returns 0, sets *out (free it with pgembed_stop) and writes a libpq conninfo string
 * for the database into conninfo. On failure returns IE_INVAL, IE_NOMEM, IE_TOOBIG
 * (conninfo_len or the socket path too small), IE_CONFIG (no PostgreSQL binaries, no usable
 * user, home in use), IE_IO (a command failed), IE_UNAVAIL (the server does not accept
 * connections) or IE_DB; err holds a message for a person (it names the server log when that
 * helps). */
int pgembed_start(const char *home, struct pgembed **out, char *conninfo, size_t conninfo_len,
                  char *err, size_t errlen) IE_MUST_CHECK;

/* Stops the cluster with pg_ctl -m fast (pgembed_start() started or took it over), releases the
 * lock and frees pg. NULL is a no-op. */
void pgembed_stop(struct pgembed *pg);

#endif
