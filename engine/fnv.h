/* FNV-1a, 64-bit: a fast, stable hash of a string for cache buckets and derived names. Not
 * cryptographic; use crypto.h where an adversary may choose the input. */
#ifndef INTENTD_FNV_H
#define INTENTD_FNV_H

#include <stdint.h>

static inline uint64_t fnv1a64(const char *p)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    return h;
}

#endif
