/* Structured logging: one JSON object per line on stderr, carrying the request id and the
 * intent id when the caller has them. Secrets must never be passed to these functions. */
#ifndef INTENTD_LOG_H
#define INTENTD_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Messages below min are dropped (default LOG_INFO). */
void log_set_level(enum log_level min);
/* Sets the node id written into every line; the string is copied. */
void log_set_node(const char *node_id);

/* Writes {"ts":…,"level":…,"node":…,"msg":…,"request_id"?:…,"intent_id"?:…}. request_id and
 * intent_id may be NULL. The message is printf-formatted and JSON-escaped. */
void log_ctx(enum log_level lvl, const char *request_id, const char *intent_id, const char *fmt,
             ...) __attribute__((format(printf, 4, 5)));

#define log_debug(...) log_ctx(LOG_DEBUG, NULL, NULL, __VA_ARGS__)
#define log_info(...)  log_ctx(LOG_INFO, NULL, NULL, __VA_ARGS__)
#define log_warn(...)  log_ctx(LOG_WARN, NULL, NULL, __VA_ARGS__)
#define log_error(...) log_ctx(LOG_ERROR, NULL, NULL, __VA_ARGS__)

#endif
