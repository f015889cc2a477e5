/* The internal connector's operations (records in intentd's own database). */
#ifndef INTENTD_ADAPTER_INTERNAL_H
#define INTENTD_ADAPTER_INTERNAL_H

#include "adapter.h"

extern const struct adapter_op internal_create_task;
extern const struct adapter_op internal_log_note;
extern const struct adapter_op internal_attach_brief;
extern const struct adapter_op internal_void_task;
extern const struct adapter_op internal_void_note;
extern const struct adapter_op internal_void_brief;

#endif
