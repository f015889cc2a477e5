/* JSON-lines logger on stderr; see log.h. One fwrite per line keeps lines whole. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static char node[128];

void log_set_level(enum log_level min)
{
    min_level = min;
}

void log_set_node(const char *node_id)
{
    snprintf(node, sizeof node, "%s", node_id ? node_id : "");
}

/* Appends s JSON-escaped into out[*pos..cap), truncating quietly when out is full. */
static void put_escaped(char *out, size_t cap, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s && *pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[(*pos)++] = '\\';
            out[(*pos)++] = (char)c;
        } else if (c < 0x20) {
            out[(*pos)++] = '\\';
            out[(*pos)++] = 'u';
            out[(*pos)++] = '0';
            out[(*pos)++] = '0';
            out[(*pos)++] = hex[c >> 4];
            out[(*pos)++] = hex[c & 15];
        } else {
            out[(*pos)++] = (char)c;
        }
    }
}

static void put_raw(char *out, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos + n + 1 >= cap)
        n = cap > *pos + 1 ? cap - *pos - 1 : 0;
    memcpy(out + *pos, s, n);
    *pos += n;
}

void log_ctx(enum log_level lvl, const char *request_id, const char *intent_id, const char *fmt,
             ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (lvl < min_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long)(tv.tv_usec / 1000));

    char line[4096];
    size_t pos = 0;
    put_raw(line, sizeof line, &pos, "{\"ts\":\"");
    put_raw(line, sizeof line, &pos, ts);
    put_raw(line, sizeof line, &pos, "\",\"level\":\"");
    put_raw(line, sizeof line, &pos, names[lvl]);
    put_raw(line, sizeof line, &pos, "\",\"node\":\"");
    put_escaped(line, sizeof line, &pos, node);
    put_raw(line, sizeof line, &pos, "\",\"msg\":\"");
    put_escaped(line, sizeof line, &pos, msg);
    put_raw(line, sizeof line, &pos, "\"");
    if (request_id) {
        put_raw(line, sizeof line, &pos, ",\"request_id\":\"");
        put_escaped(line, sizeof line, &pos, request_id);
        put_raw(line, sizeof line, &pos, "\"");
    }
    if (intent_id) {
        put_raw(line, sizeof line, &pos, ",\"intent_id\":\"");
        put_escaped(line, sizeof line, &pos, intent_id);
        put_raw(line, sizeof line, &pos, "\"");
    }
    put_raw(line, sizeof line, &pos, "}\n");
    fwrite(line, 1, pos, stderr);
}
