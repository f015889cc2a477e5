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

/* Creates the cluster if needed, starts it (pg_ctl start -w; a stale postmaster.pid from a
 * crash is handled by PostgreSQL itself) and creates the database `intentd` if missing. If the
 * cluster is already running (another intentd on the same home), it is reused and
 * pgembed_stop() will leave it running. On success returns 0, sets *out (free it with
 * pgembed_stop) and writes a libpq conninfo string for the database into conninfo. On failure
 * returns IE_INVAL, IE_NOMEM, IE_TOOBIG (conninfo_len or the socket path too small),
 * IE_CONFIG (no PostgreSQL binaries, no usable user), IE_IO (a command failed), IE_UNAVAIL
 * (the server does not accept connections) or IE_DB;
 * err holds a message for a person (it names the server log when that helps). */
int pgembed_start(const char *home, struct pgembed **out, char *conninfo, size_t conninfo_len,
                  char *err, size_t errlen) IE_MUST_CHECK;

/* Stops the cluster with pg_ctl -m fast if pgembed_start() started it, and frees pg. NULL is a
 * no-op. */
void pgembed_stop(struct pgembed *pg);

#endif
