/* The one place that lists every adapter operation. */
#include <stdio.h>
#include <stdarg.h>
#include <string.h>

#include "adapter.h"
#include "connectors.h"
#include "internal.h"

/* One operation a line, grouped by connector. */
/* clang-format off */
const struct adapter_op *const adapter_ops[] = {
    &internal_create_task,
    &internal_log_note,
    &internal_attach_brief,
    &internal_void_task,
    &internal_void_note,
    &internal_void_brief,
    &crm_create_task,
    &crm_create_opportunity,
    &crm_update_field,
    &crm_archive_task,
    &crm_archive_deal,
    &crm_restore_field,
    &calendar_draft_meeting,
    &calendar_delete_event,
    &email_create_draft,
    &email_delete_draft,
    &notify_post_message,
    &webhook_call,
    &webhook_undo,
    NULL,
};
/* clang-format on */

const struct adapter_op *adapter_find(const char *name)
{
    for (size_t i = 0; adapter_ops[i]; i++)
        if (!strcmp(adapter_ops[i]->name, name))
            return adapter_ops[i];
    return NULL;
}

void adapter_error(struct adapter_errors *errs, const char *pointer, const char *fmt, ...)
{
    if (errs->count >= ADAPTER_ERRORS_MAX)
        return;
    snprintf(errs->items[errs->count].pointer, ADAPTER_POINTER_MAX, "%s", pointer);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errs->items[errs->count].message, ADAPTER_MESSAGE_MAX, fmt, ap);
    va_end(ap);
    errs->count++;
}
