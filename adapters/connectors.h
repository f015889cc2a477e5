/* The HTTP connectors' operations (docs/connectors-wire.md), one file each: crm.c (HubSpot),
 * calendar.c (Google Calendar), email.c (Gmail), notify.c (Slack incoming webhook),
 * webhook.c (generic HTTP). */
#ifndef INTENTD_ADAPTER_CONNECTORS_H
#define INTENTD_ADAPTER_CONNECTORS_H

#include "adapter.h"

extern const struct adapter_op crm_create_task;
extern const struct adapter_op crm_create_opportunity;
extern const struct adapter_op crm_update_field;
extern const struct adapter_op crm_archive_task;
extern const struct adapter_op crm_archive_deal;
extern const struct adapter_op crm_restore_field;

extern const struct adapter_op calendar_draft_meeting;
extern const struct adapter_op calendar_delete_event;

extern const struct adapter_op email_create_draft;
extern const struct adapter_op email_delete_draft;

extern const struct adapter_op notify_post_message;

extern const struct adapter_op webhook_call;
extern const struct adapter_op webhook_undo;

#endif
