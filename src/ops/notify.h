/* notify.h - operational notifications (seed 003): events such as a provider key failing or
 * maintenance being entered, delivered to the operators' channels (webhook, e-mail).
 *
 * An event is a name from the table in notify.c (which fixes its urgency) and a JSON object
 * of details. notify_emit writes it to the durable outbox (store/outbox.h); pass the
 * connection of the transaction that makes the change, so that both commit or neither does.
 * A worker delivers the outbox with retries; nothing is lost while a channel is down.
 * Details never carry a secret (a provider key shows its last 4 characters at most). */
#ifndef RAGD_OPS_NOTIFY_H
#define RAGD_OPS_NOTIFY_H

#include <jansson.h>

#include "store/db.h"

/* Event names. */
#define NOTIFY_KEY_FAILED "key_failed"                         /* low */
#define NOTIFY_KEY_DEGRADED "key_degraded"                     /* medium */
#define NOTIFY_KEY_DISABLED "key_disabled"                     /* high: 401/403 from the provider */
#define NOTIFY_KEY_RECOVERED "key_recovered"                   /* low */
#define NOTIFY_FAILOVER "failover"                             /* medium */
#define NOTIFY_ALL_KEYS_FAILED "all_keys_failed"               /* high */
#define NOTIFY_KEY_ADDED "key_added"                           /* low */
#define NOTIFY_KEY_DELETED "key_deleted"                       /* medium */
#define NOTIFY_MAINTENANCE_ENTERED "maintenance_entered"       /* high */
#define NOTIFY_MAINTENANCE_EXITED "maintenance_exited"         /* medium */
#define NOTIFY_MAINTENANCE_OVERRIDDEN "maintenance_overridden" /* high */
#define NOTIFY_SECURITY "security_event"                       /* high */

/* The urgency of an event name ("low", "medium", "high"); NULL for an unknown name. */
const char *notify_urgency(const char *event);

/* Records event with details (a JSON object, stolen; NULL: {}) in the outbox on c (NULL:
 * the shared connection). Returns 0, RAGD_EINVAL for an unknown event name, or a store
 * error. */
int notify_emit(db_conn_t *c, const char *event, json_t *details);

#endif
