/* The names and messages behind errors.h's table. */
#include "errors.h"

const char *ie_name(int err)
{
    switch (err) {
    case IE_OK:
        return "OK";
#define XX(name, msg)                                                                              \
    case IE_##name:                                                                                \
        return #name;
        IE_ERRNO_MAP(XX)
#undef XX
    default:
        return "UNKNOWN";
    }
}

const char *ie_strerror(int err)
{
    switch (err) {
    case IE_OK:
        return "success";
#define XX(name, msg)                                                                              \
    case IE_##name:                                                                                \
        return msg;
        IE_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}
