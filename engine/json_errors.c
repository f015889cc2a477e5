/* See json_errors.h. */
#include "json_errors.h"

#include <stdio.h>

#include "errors.h"
#include "utf8.h"

int json_errors_add(json_t *errors, const char *base, const char *member, const char *message)
{
    char ptr[80 + 2 * JSON_ERRORS_MEMBER_SHOWN];
    size_t n = (size_t)snprintf(ptr, sizeof ptr, "%.64s", base);
    if (member) {
        ptr[n++] = '/';
        for (size_t i = 0; member[i] && i < JSON_ERRORS_MEMBER_SHOWN && n + 3 < sizeof ptr; i++) {
            if (member[i] == '~' || member[i] == '/') {
                ptr[n++] = '~';
                ptr[n++] = member[i] == '~' ? '0' : '1';
            } else {
                ptr[n++] = member[i];
            }
        }
        /* a name cut inside a character would not be UTF-8, which json_pack refuses */
        n = utf8_cut_len(ptr, n);
        ptr[n] = '\0';
    }
    json_t *e = json_pack("{s:s, s:s}", "pointer", ptr, "message", message);
    return e && !json_array_append_new(errors, e) ? 0 : IE_NOMEM;
}
