/* outbox.c (store) - notification_outbox (store/outbox.h). */
#include "store/outbox.h"

#include <stdio.h>

#include "core/error.h"
#include "core/util.h"
#include "store/store.h"

static const struct store_migration migrations[] = {
    {360, "operations: notification outbox",
     "CREATE TABLE notification_outbox ("
     " id TEXT PRIMARY KEY, event TEXT NOT NULL,"
     " urgency TEXT NOT NULL CHECK (urgency IN ('low', 'medium', 'high')),"
     " payload TEXT NOT NULL, created_at TEXT NOT NULL, created_ms INTEGER NOT NULL);"
     "CREATE INDEX notification_outbox_created ON notification_outbox(created_ms);"},
};

void store_outbox_register(void)
{
    store_register_migrations(migrations, (int)(sizeof migrations / sizeof migrations[0]));
}

int store_outbox_add(db_conn_t *c, const char *event, const char *urgency, const char *payload,
                     char id_out[37])
{
    if (!c) c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char id[37], ts[32];
    uuid4(id);
    int64_t now = time_now_ms();
    int rc = db_exec(c, NULL,
                     "INSERT INTO notification_outbox (id, event, urgency, payload, created_at,"
                     " created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                     "sssssi", id, event, urgency, payload, time_iso(now, ts), now);
    if (!rc && id_out) snprintf(id_out, 37, "%s", id);
    return rc;
}
