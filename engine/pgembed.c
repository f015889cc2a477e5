/* The embedded PostgreSQL cluster (see pgembed.h): initdb the first time, pg_ctl start and
 * stop, run as an unprivileged user when intentd is root. Start-up and shutdown only: every
 * function here blocks. Commands are run with fork/exec and no shell. */
#include "pgembed.h"

#include "fnv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

#define PGEMBED_FALLBACK_ROOT   "/var/lib/intentd"
#define PGEMBED_SYSTEM_USER     "intentd"
#define PGEMBED_PATH_MAX        1024
#define PGEMBED_WAIT_SECONDS    "120"
#define PGEMBED_READY_SECONDS   120 /* a server that says it is starting up is waited for */
#define PGEMBED_NO_ANSWER_TRIES 40  /* a server that does not answer at all: half a second apart */
#define PGEMBED_LOCK_FILE       "intentd.lock"

struct pgembed {
    char bindir[PGEMBED_PATH_MAX];
    char base[PGEMBED_PATH_MAX]; /* holds pgdata/, run/ and postgres.log */
    char pgdata[PGEMBED_PATH_MAX];
    char rundir[PGEMBED_PATH_MAX];
    char logfile[PGEMBED_PATH_MAX];
    char user[64];
    uid_t uid;
    gid_t gid;
    bool drop_privileges; /* we are root: children run as uid/gid */
    bool started;         /* we own the server (started it or took it over), so we stop it */
    int lockfd;           /* <base>/intentd.lock, flock()ed for our lifetime; -1 if none */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* snprintf that reports truncation as IE_TOOBIG. */
static int fmt_path(char *dst, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fmt_path(char *dst, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(dst, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? IE_TOOBIG : 0;
}

/* In a forked child: become the cluster user when we are root. */
static void child_drop(const struct pgembed *pg)
{
    if (!pg || !pg->drop_privileges)
        return;
    if (initgroups(pg->user, pg->gid) != 0 || setgid(pg->gid) != 0 || setuid(pg->uid) != 0)
        _exit(126);
}

/* Runs argv (argv[0] is a path; searched in PATH when it has no slash) and waits for it.
 * stdout and stderr go to out_fd (or /dev/null when -1); as the cluster user if pg says so.
 * Returns the exit status, or -1 when it could not run. */
static int run(const struct pgembed *pg, char *const argv[], int out_fd)
{
    pid_t pid;
    int status;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDWR);
        if (null_fd >= 0)
            dup2(null_fd, 0);
        dup2(out_fd >= 0 ? out_fd : null_fd, 1);
        dup2(out_fd >= 0 ? out_fd : null_fd, 2);
        /* Nothing of ours (sockets, the loop's fds) leaks into the postmaster. */
        if (close_range(3, ~0U, 0) != 0)
            for (int fd = 3; fd < 1024; fd++)
                close(fd);
        child_drop(pg);
        umask(077);
        if (chdir("/") != 0)
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs argv and captures the first line of its stdout into out. */
static int run_capture(char *const argv[], char *out, size_t outlen)
{
    int fds[2], rc;
    ssize_t n;
    size_t got = 0;
    if (pipe(fds) != 0)
        return -1;
    rc = run(NULL, argv, fds[1]);
    close(fds[1]);
    while (got + 1 < outlen && (n = read(fds[0], out + got, outlen - 1 - got)) > 0)
        got += (size_t)n;
    close(fds[0]);
    out[got] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    return rc;
}

/* Note: run_capture's child writes into a pipe we read only after it exits; pg_config prints
 * one short line, far below the pipe's capacity. */

static bool has_initdb(const char *dir)
{
    char p[PGEMBED_PATH_MAX];
    return fmt_path(p, sizeof(p), "%s/initdb", dir) == 0 && access(p, X_OK) == 0 &&
           fmt_path(p, sizeof(p), "%s/pg_ctl", dir) == 0 && access(p, X_OK) == 0;
}

static int find_bindir(struct pgembed *pg, char *err, size_t errlen)
{
    const char *env = getenv("INTENTD_PG_BINDIR");
    char *pgconfig[] = {"pg_config", "--bindir", NULL};
    char line[PGEMBED_PATH_MAX];
    DIR *d;
    struct dirent *de;
    long best = -1;
    if (env && *env) {
        if (!has_initdb(env)) {
            set_err(err, errlen, "INTENTD_PG_BINDIR=%s has no initdb and pg_ctl", env);
            return IE_CONFIG;
        }
        return fmt_path(pg->bindir, sizeof(pg->bindir), "%s", env);
    }
    if (run_capture(pgconfig, line, sizeof(line)) == 0 && line[0] && has_initdb(line))
        return fmt_path(pg->bindir, sizeof(pg->bindir), "%s", line);
    d = opendir("/usr/lib/postgresql");
    while (d && (de = readdir(d)) != NULL) {
        char *end, dir[PGEMBED_PATH_MAX];
        long v = strtol(de->d_name, &end, 10);
        if (end == de->d_name || *end || v <= best)
            continue;
        if (fmt_path(dir, sizeof(dir), "/usr/lib/postgresql/%s/bin", de->d_name) == 0 &&
            has_initdb(dir)) {
            best = v;
            memcpy(pg->bindir, dir, sizeof(dir));
        }
    }
    if (d)
        closedir(d);
    if (best >= 0)
        return 0;
    set_err(err, errlen,
            "PostgreSQL server binaries not found (install the postgresql package, set "
            "INTENTD_PG_BINDIR, or set INTENTD_DATABASE_URL to use an existing database)");
    return IE_CONFIG;
}

/* Chooses the user the cluster runs as: ourselves, or when root an unprivileged system user. */
static int choose_user(struct pgembed *pg, char *err, size_t errlen)
{
    struct passwd *pw;
    if (geteuid() != 0) {
        pw = getpwuid(geteuid());
        if (!pw) {
            set_err(err, errlen, "cannot look up the current user (uid %u)", (unsigned)geteuid());
            return IE_CONFIG;
        }
        pg->uid = pw->pw_uid;
        pg->gid = pw->pw_gid;
        return fmt_path(pg->user, sizeof(pg->user), "%s", pw->pw_name);
    }
    pg->drop_privileges = true;
    pw = getpwnam("postgres");
    if (!pw) {
        pw = getpwnam(PGEMBED_SYSTEM_USER);
        if (!pw) {
            char *argv[] = {
                "useradd",      "--system", "--user-group",      "--no-create-home",  "--home-dir",
                "/nonexistent", "--shell",  "/usr/sbin/nologin", PGEMBED_SYSTEM_USER, NULL};
            int rc = run(NULL, argv, -1);
            log_info("pgembed: created system user %s (useradd exit %d)", PGEMBED_SYSTEM_USER, rc);
            pw = getpwnam(PGEMBED_SYSTEM_USER);
        }
    }
    if (!pw) {
        set_err(err, errlen,
                "running as root needs an unprivileged user for PostgreSQL: no 'postgres' user "
                "and 'useradd --system %s' failed; create one, or run intentd as an ordinary user",
                PGEMBED_SYSTEM_USER);
        return IE_CONFIG;
    }
    pg->uid = pw->pw_uid;
    pg->gid = pw->pw_gid;
    return fmt_path(pg->user, sizeof(pg->user), "%s", pw->pw_name);
}

/* True when the cluster user can search (traverse) dir. */
static bool user_can_reach(const struct pgembed *pg, const char *dir)
{
    pid_t pid = fork();
    int status;
    if (pid < 0)
        return false;
    if (pid == 0) {
        child_drop(pg);
        _exit(access(dir, X_OK) == 0 ? 0 : 1);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* mkdir that accepts an existing directory; owned by the cluster user when owned is set. */
static int make_dir(const struct pgembed *pg, const char *path, mode_t mode, bool owned, char *err,
                    size_t errlen)
{
    struct stat st;
    if (mkdir(path, mode) != 0 && errno != EEXIST) {
        set_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return IE_IO;
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        set_err(err, errlen, "%s is not a directory", path);
        return IE_IO;
    }
    if (owned && pg->drop_privileges && (st.st_uid != pg->uid || st.st_gid != pg->gid) &&
        chown(path, pg->uid, pg->gid) != 0) {
        set_err(err, errlen, "cannot chown %s to %s: %s", path, pg->user, strerror(errno));
        return IE_IO;
    }
    return 0;
}

/* Decides where the cluster lives (see pgembed.h) and creates the directories. */
static int choose_dirs(struct pgembed *pg, const char *home, char *err, size_t errlen)
{
    char real[PATH_MAX];
    int rc;
    if (make_dir(pg, home, 0700, false, err, errlen))
        return IE_IO;
    if (!realpath(home, real)) {
        set_err(err, errlen, "cannot resolve %s: %s", home, strerror(errno));
        return IE_IO;
    }
    if (!pg->drop_privileges || user_can_reach(pg, real)) {
        rc = fmt_path(pg->base, sizeof(pg->base), "%s", real);
    } else {
        if ((rc = make_dir(pg, PGEMBED_FALLBACK_ROOT, 0755, false, err, errlen)) ||
            (rc = make_dir(pg, PGEMBED_FALLBACK_ROOT "/clusters", 0755, false, err, errlen)))
            return rc;
        rc = fmt_path(pg->base, sizeof(pg->base), PGEMBED_FALLBACK_ROOT "/clusters/%016llx",
                      (unsigned long long)fnv1a64(real));
        if (rc == 0 && (rc = make_dir(pg, pg->base, 0700, true, err, errlen)))
            return rc;
        log_info("pgembed: user %s cannot reach %s; the cluster for it lives in %s", pg->user, real,
                 pg->base);
    }
    if (rc || fmt_path(pg->pgdata, sizeof(pg->pgdata), "%s/pgdata", pg->base) ||
        fmt_path(pg->rundir, sizeof(pg->rundir), "%s/run", pg->base) ||
        fmt_path(pg->logfile, sizeof(pg->logfile), "%s/postgres.log", pg->base)) {
        set_err(err, errlen, "path too long: %s", real);
        return IE_TOOBIG;
    }
    /* The socket is <run>/.s.PGSQL.5432 and must fit in sockaddr_un.sun_path. */
    if (strlen(pg->rundir) + sizeof("/.s.PGSQL.5432") >
        sizeof(((struct sockaddr_un *)0)->sun_path)) {
        set_err(err, errlen,
                "socket directory %s is too long for a unix socket (limit about 90 bytes); use a "
                "shorter INTENTD_HOME",
                pg->rundir);
        return IE_TOOBIG;
    }
    if ((rc = make_dir(pg, pg->pgdata, 0700, true, err, errlen)) ||
        (rc = make_dir(pg, pg->rundir, 0700, true, err, errlen)))
        return rc;
    return 0;
}

/* Opens the server log for appending, owned by the cluster user (pg_ctl reopens it as that user).
 */
static int open_log(const struct pgembed *pg, char *err, size_t errlen)
{
    int fd = open(pg->logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        set_err(err, errlen, "cannot open %s: %s", pg->logfile, strerror(errno));
        return IE_IO;
    }
    if (pg->drop_privileges && fchown(fd, pg->uid, pg->gid) != 0) {
        set_err(err, errlen, "cannot chown %s: %s", pg->logfile, strerror(errno));
        close(fd);
        return IE_IO;
    }
    return fd;
}

/* Appends s to b as a single-quoted postgresql.conf / conninfo value. */
static int put_quoted(struct buf *b, const char *s)
{
    int rc = buf_puts(b, "'");
    for (; rc == 0 && *s; s++) {
        if (*s == '\'' || *s == '\\')
            rc = buf_append(b, "\\", 1);
        if (rc == 0)
            rc = buf_append(b, s, 1);
    }
    return rc ? rc : buf_puts(b, "'");
}

/* Writes <pgdata>/intentd.conf (included from postgresql.conf) with the settings that make
 * the cluster socket-only; rewritten on every start so a moved home still works. */
static int write_settings(const struct pgembed *pg, char *err, size_t errlen)
{
    char path[PGEMBED_PATH_MAX];
    struct buf b;
    int rc, fd;
    buf_init(&b, 8192);
    rc = buf_puts(&b, "# Written by intentd at every start; edits are lost.\n"
                      "listen_addresses = ''\n"
                      "unix_socket_permissions = 0700\n"
                      "unix_socket_directories = ");
    if (rc == 0)
        rc = put_quoted(&b, pg->rundir);
    if (rc == 0)
        rc = buf_puts(&b, "\n");
    if (rc == 0)
        rc = fmt_path(path, sizeof(path), "%s/intentd.conf", pg->pgdata);
    if (rc) {
        set_err(err, errlen, "settings too long");
        goto out;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len ||
        (pg->drop_privileges && fchown(fd, pg->uid, pg->gid) != 0)) {
        set_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
        rc = IE_IO;
    }
    if (fd >= 0 && close(fd) != 0 && rc == 0) {
        set_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
        rc = IE_IO;
    }
out:
    buf_free(&b);
    return rc;
}

static int append_include(const struct pgembed *pg, char *err, size_t errlen)
{
    static const char line[] = "\n# intentd: socket-only settings\ninclude 'intentd.conf'\n";
    char path[PGEMBED_PATH_MAX];
    int fd, rc = 0;
    if (fmt_path(path, sizeof(path), "%s/postgresql.conf", pg->pgdata))
        return IE_TOOBIG;
    fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0 || write(fd, line, sizeof(line) - 1) != (ssize_t)(sizeof(line) - 1)) {
        set_err(err, errlen, "cannot append to %s: %s", path, strerror(errno));
        rc = IE_IO;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

static int initdb(struct pgembed *pg, int logfd, char *err, size_t errlen)
{
    char exe[PGEMBED_PATH_MAX], version[PGEMBED_PATH_MAX], user_opt[96];
    int rc;
    if (fmt_path(version, sizeof(version), "%s/PG_VERSION", pg->pgdata))
        return IE_TOOBIG;
    if (access(version, F_OK) == 0)
        return 0;
    if (fmt_path(exe, sizeof(exe), "%s/initdb", pg->bindir) ||
        fmt_path(user_opt, sizeof(user_opt), "--username=%s", pg->user))
        return IE_TOOBIG;
    {
        char *argv[] = {exe,
                        "-D",
                        pg->pgdata,
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                        user_opt,
                        "--encoding=UTF8",
                        "--locale=C",
                        "--no-instructions",
                        NULL};
        log_info("pgembed: creating a PostgreSQL cluster in %s", pg->pgdata);
        rc = run(pg, argv, logfd);
    }
    if (rc != 0) {
        set_err(err, errlen, "initdb failed (exit %d); see %s", rc, pg->logfile);
        return IE_IO;
    }
    return append_include(pg, err, errlen);
}

/* pg_ctl status: true when a server is running on pgdata. */
static bool running(const struct pgembed *pg)
{
    char exe[PGEMBED_PATH_MAX];
    char *argv[] = {exe, "status", "-D", (char *)pg->pgdata, NULL};
    if (fmt_path(exe, sizeof(exe), "%s/pg_ctl", pg->bindir))
        return false;
    return run(pg, argv, -1) == 0;
}

/* Takes <base>/intentd.lock, which says that one intentd owns the cluster. The lock goes with
 * the process (a kill -9 releases it), so a running cluster whose lock is free was left by an
 * intentd that died without stopping it. The descriptor is close-on-exec (and run() closes the
 * rest), so the postmaster never inherits it. */
static int take_lock(struct pgembed *pg, const char *home, char *err, size_t errlen)
{
    char path[PGEMBED_PATH_MAX], pid[32];
    ssize_t n;
    if (fmt_path(path, sizeof(path), "%s/" PGEMBED_LOCK_FILE, pg->base)) {
        set_err(err, errlen, "path too long: %s", pg->base);
        return IE_TOOBIG;
    }
    pg->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (pg->lockfd < 0) {
        set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return IE_IO;
    }
    if (flock(pg->lockfd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        n = e == EWOULDBLOCK ? pread(pg->lockfd, pid, sizeof(pid) - 1, 0) : -1;
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\r\n")] = '\0';
        if (e == EWOULDBLOCK)
            set_err(err, errlen, "INTENTD_HOME %s is in use by another intentd (pid %s)", home,
                    pid[0] ? pid : "unknown");
        else
            set_err(err, errlen, "cannot lock %s: %s", path, strerror(e));
        return e == EWOULDBLOCK ? IE_CONFIG : IE_IO;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(pg->lockfd, 0) != 0 || pwrite(pg->lockfd, pid, (size_t)n, 0) != n)
        log_warn("pgembed: cannot write the pid into %s: %s", path, strerror(errno));
    return 0;
}

/* Runs pg_ctl start (or restart) and waits for it; we own the server afterwards. */
static int pg_ctl_start(struct pgembed *pg, const char *how, int logfd, char *err, size_t errlen)
{
    char exe[PGEMBED_PATH_MAX];
    char *argv[] = {exe,    (char *)how, "-w",       "-t", PGEMBED_WAIT_SECONDS, "-m",
                    "fast", "-D",        pg->pgdata, "-l", pg->logfile,          NULL};
    int rc;
    if ((rc = write_settings(pg, err, errlen)))
        return rc;
    if (fmt_path(exe, sizeof(exe), "%s/pg_ctl", pg->bindir))
        return IE_TOOBIG;
    rc = run(pg, argv, logfd);
    if (rc != 0) {
        set_err(err, errlen, "pg_ctl %s failed (exit %d); see %s", how, rc, pg->logfile);
        return IE_IO;
    }
    pg->started = true;
    log_info("pgembed: PostgreSQL %sed (data %s, socket %s)", how, pg->pgdata, pg->rundir);
    return 0;
}

/* Starts the server unless it runs. Holding the lock, a running server can only be one that
 * an intentd left behind when it died (pg_ctl detaches the postmaster): take it over and
 * restart it, so that it runs with the settings written now and is stopped by pgembed_stop. */
static int start_server(struct pgembed *pg, int logfd, char *err, size_t errlen)
{
    if (!running(pg))
        return pg_ctl_start(pg, "start", logfd, err, errlen);
    log_warn("pgembed: PostgreSQL in %s was left running by an intentd that exited without "
             "stopping it; taking it over and restarting it",
             pg->pgdata);
    return pg_ctl_start(pg, "restart", logfd, err, errlen);
}

/* Waits until the server accepts connections. A server that answers "starting up" (or in
 * recovery) is waited for up to PGEMBED_READY_SECONDS; one that does not answer at all is
 * started again if it is gone (a postmaster that was just killed can still look alive to
 * pg_ctl status until it is reaped) and given PGEMBED_NO_ANSWER_TRIES half-second tries. */
static int wait_ready(struct pgembed *pg, int logfd, char *err, size_t errlen)
{
    const char *keys[] = {"host", "dbname", "user", "connect_timeout", NULL};
    const char *vals[] = {pg->rundir, "postgres", pg->user, "10", NULL};
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 500 * 1000 * 1000};
    time_t deadline = time(NULL) + PGEMBED_READY_SECONDS;
    int no_answer = 0, rc;
    for (;;) {
        switch (PQpingParams(keys, vals, 0)) {
        case PQPING_OK:
            return 0;
        case PQPING_NO_ATTEMPT:
            set_err(err, errlen, "cannot connect to the embedded PostgreSQL: bad parameters");
            return IE_CONFIG;
        case PQPING_REJECT: /* starting up, in recovery or shutting down: it is there */
            if (time(NULL) >= deadline) {
                set_err(err, errlen, "PostgreSQL did not accept connections within %d s; see %s",
                        PGEMBED_READY_SECONDS, pg->logfile);
                return IE_UNAVAIL;
            }
            break;
        case PQPING_NO_RESPONSE:
            if (++no_answer > PGEMBED_NO_ANSWER_TRIES) {
                set_err(err, errlen, "PostgreSQL does not answer on %s; see %s", pg->rundir,
                        pg->logfile);
                return IE_UNAVAIL;
            }
            if (!running(pg) && (rc = pg_ctl_start(pg, "start", logfd, err, errlen)))
                return rc;
            break;
        }
        nanosleep(&pause, NULL);
    }
}

static int create_database(const struct pgembed *pg, char *err, size_t errlen)
{
    const char *keys[] = {"host", "dbname", "user", "application_name", NULL};
    const char *vals[] = {pg->rundir, "postgres", pg->user, "intentd-pgembed", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    PGresult *r = NULL;
    int rc = 0;
    if (!c)
        return IE_NOMEM;
    if (PQstatus(c) != CONNECTION_OK) {
        set_err(err, errlen, "cannot connect to the embedded PostgreSQL: %s", PQerrorMessage(c));
        rc = IE_UNAVAIL;
        goto out;
    }
    r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = 'intentd'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_err(err, errlen, "%s", PQresultErrorMessage(r));
        rc = IE_DB;
        goto out;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        r = PQexec(c, "CREATE DATABASE intentd");
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            if (!state || strcmp(state, "42P04") != 0) { /* duplicate_database: a racing node */
                set_err(err, errlen, "CREATE DATABASE intentd: %s", PQresultErrorMessage(r));
                rc = IE_DB;
            }
        }
    }
out:
    PQclear(r);
    PQfinish(c);
    return rc;
}

static int write_conninfo(const struct pgembed *pg, char *conninfo, size_t len)
{
    struct buf b;
    int rc;
    buf_init(&b, len > 0 ? len - 1 : 0);
    rc = buf_puts(&b, "host=");
    if (rc == 0)
        rc = put_quoted(&b, pg->rundir);
    if (rc == 0)
        rc = buf_puts(&b, " dbname=intentd user=");
    if (rc == 0)
        rc = put_quoted(&b, pg->user);
    if (rc == 0)
        memcpy(conninfo, b.data, b.len + 1);
    buf_free(&b);
    return rc;
}

int pgembed_start(const char *home, struct pgembed **out, char *conninfo, size_t conninfo_len,
                  char *err, size_t errlen)
{
    struct pgembed *pg;
    int rc, logfd = -1;
    if (err && errlen)
        err[0] = '\0';
    if (!home || !*home || !out || !conninfo || !conninfo_len)
        return IE_INVAL;
    pg = calloc(1, sizeof(*pg));
    if (!pg)
        return IE_NOMEM;
    pg->lockfd = -1;
    if ((rc = find_bindir(pg, err, errlen)) || (rc = choose_user(pg, err, errlen)) ||
        (rc = choose_dirs(pg, home, err, errlen)) || (rc = take_lock(pg, home, err, errlen)))
        goto out;
    if ((logfd = open_log(pg, err, errlen)) < 0) {
        rc = logfd;
        goto out;
    }
    if ((rc = initdb(pg, logfd, err, errlen)))
        goto out;
    if ((rc = start_server(pg, logfd, err, errlen)) || (rc = wait_ready(pg, logfd, err, errlen)) ||
        (rc = create_database(pg, err, errlen)))
        goto out;
    if ((rc = write_conninfo(pg, conninfo, conninfo_len))) {
        set_err(err, errlen, "conninfo buffer too small");
        goto out;
    }
out:
    if (logfd >= 0)
        close(logfd);
    if (rc) {
        pgembed_stop(pg);
        return rc;
    }
    if (err && errlen)
        err[0] = '\0'; /* clear a message from a retried attempt */
    *out = pg;
    return 0;
}

void pgembed_stop(struct pgembed *pg)
{
    char exe[PGEMBED_PATH_MAX];
    if (!pg)
        return;
    if (pg->started && fmt_path(exe, sizeof(exe), "%s/pg_ctl", pg->bindir) == 0) {
        char *argv[] = {exe,  "stop", "-w", "-t",       PGEMBED_WAIT_SECONDS,
                        "-m", "fast", "-D", pg->pgdata, NULL};
        int rc = run(pg, argv, -1);
        if (rc != 0)
            log_error("pgembed: pg_ctl stop failed (exit %d); see %s", rc, pg->logfile);
        else
            log_info("pgembed: PostgreSQL stopped");
    }
    if (pg->lockfd >= 0)
        close(pg->lockfd); /* releases the lock, after the server is down */
    free(pg);
}
