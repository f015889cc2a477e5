/* The web console's static files (engine/console), carried in the binary by
 * engine/console/embed.py at build time. */
#ifndef INTENTD_CONSOLE_ASSETS_H
#define INTENTD_CONSOLE_ASSETS_H

#include <stddef.h>

struct console_asset {
    const char *name;         /* the file name, e.g. "app.js" */
    const char *content_type; /* with its charset */
    const char *data;         /* exactly len bytes, not NUL-terminated */
    size_t len;
};

extern const struct console_asset console_assets[];
extern const int console_assets_count;

#endif
