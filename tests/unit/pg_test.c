/* See pg_test.h. */
#include "pg_test.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void pg_test_find_harness(char *out, size_t outlen)
{
    const char *env = getenv("INTENTD_PG_HARNESS");
    char src[4096];
    if (env && *env) {
        snprintf(out, outlen, "%s", env);
        return;
    }
    /* __FILE__ is the path the compiler was given (relative to the build directory under meson);
     * the harness sits in tests/, one level above this file. */
    snprintf(src, sizeof src, "%s", __FILE__);
    snprintf(out, outlen, "%s/../pg_harness.sh", dirname(src));
    if (access(out, R_OK) != 0)
        snprintf(out, outlen, "tests/pg_harness.sh");
}

int pg_test_run(const char *harness, const char *cmd, const char *dir, char *out, size_t outlen)
{
    int fds[2], status;
    size_t got = 0;
    ssize_t n;
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        close(fds[1]);
        execl("/bin/bash", "bash", harness, cmd, dir, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    while (out && got + 1 < outlen && (n = read(fds[0], out + got, outlen - 1 - got)) > 0)
        got += (size_t)n;
    if (out) {
        out[got] = '\0';
        out[strcspn(out, "\n")] = '\0';
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
