/* One error table for all of intentd: every function that can fail returns 0 or a
 * negative IE_* code from this list, and ie_name()/ie_strerror() describe it. */
#ifndef INTENTD_ERRORS_H
#define INTENTD_ERRORS_H

#define IE_ERRNO_MAP(XX)                                                                           \
    XX(NOMEM, "out of memory")                                                                     \
    XX(INVAL, "invalid argument")                                                                  \
    XX(TOOBIG, "input exceeds its limit")                                                          \
    XX(PARSE, "malformed input")                                                                   \
    XX(NOTFOUND, "not found")                                                                      \
    XX(EXISTS, "already exists")                                                                   \
    XX(CONFLICT, "conflicts with the current state")                                               \
    XX(AUTH, "authentication failed")                                                              \
    XX(FORBIDDEN, "not permitted")                                                                 \
    XX(IO, "input/output error")                                                                   \
    XX(DB, "database error")                                                                       \
    XX(UNAVAIL, "temporarily unavailable")                                                         \
    XX(TIMEOUT, "timed out")                                                                       \
    XX(CRYPTO, "cryptographic operation failed")                                                   \
    XX(STATE, "illegal state transition")                                                          \
    XX(CANCELED, "operation canceled")                                                             \
    XX(CONFIG, "bad configuration")

enum ie_errno {
    IE_OK = 0,
#define XX(name, msg) IE_##name,
    IE__FIRST = -1000,
    IE_ERRNO_MAP(XX)
#undef XX
        IE__LAST
};

/* Short upper-case name of an error code ("NOMEM"); "OK" for 0, "UNKNOWN" otherwise. */
const char *ie_name(int err);
/* Human-readable message for an error code; never NULL. */
const char *ie_strerror(int err);

#define IE_MUST_CHECK __attribute__((warn_unused_result))

#endif
