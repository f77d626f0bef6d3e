/* outbox.h - the notification_outbox table: events waiting to be delivered. An event is
 * written in the same transaction as the change that causes it (pass that transaction's
 * connection), so a change is never committed without its event, nor an event without its
 * change. ops/notify delivers the rows. */
#ifndef RAGD_STORE_OUTBOX_H
#define RAGD_STORE_OUTBOX_H

#include <stdint.h>

#include "store/db.h"

/* Registers the table's migration (call before store_migrate). */
void store_outbox_register(void);

/* Adds one event (event name, urgency "low" | "medium" | "high", payload a JSON object as
 * text) on c, inside the caller's transaction when it has one; c NULL: the shared
 * connection, a transaction of its own. Writes the new row's id into id_out when not NULL.
 * Returns 0 or a store error. */
int store_outbox_add(db_conn_t *c, const char *event, const char *urgency, const char *payload,
                     char id_out[37]);

#endif
