/* opsync.c - refreshing the shared operations state (ops/opsync.h). */
#include "ops/opsync.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/util.h"
#include "ops/features.h"
#include "ops/maintenance.h"
#include "ops/planedit.h"
#include "store/ops_state.h"

enum { RETRY_AFTER_FAILURE_MS = 3000 };

static pthread_mutex_t poll_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t known[OPS_PARTS]; /* under poll_lock */
static atomic_llong next_poll_ms;
static int64_t interval_ms = 500;

static int (*const reload[OPS_PARTS])(void) = {maint_reload, features_reload, planedit_reload};

int ops_sync_init(char *err, size_t errcap)
{
    interval_ms = config_int("OPS_SYNC_INTERVAL_MS", 500, 50, 60000);
    int rc = store_ops_versions(NULL, known);
    for (int i = 0; !rc && i < OPS_PARTS; i++)
        rc = reload[i]();
    if (rc) snprintf(err, errcap, "operations state: %s", ragd_strerror(rc));
    atomic_store(&next_poll_ms, time_now_ms() + interval_ms);
    return rc;
}

void ops_sync_tick(void)
{
    int64_t now = time_now_ms();
    if (now < atomic_load(&next_poll_ms)) return;
    if (pthread_mutex_trylock(&poll_lock)) return; /* another thread is polling */
    if (now < atomic_load(&next_poll_ms)) {
        pthread_mutex_unlock(&poll_lock);
        return;
    }
    int64_t v[OPS_PARTS];
    int rc = store_ops_versions(NULL, v);
    for (int i = 0; !rc && i < OPS_PARTS; i++) {
        if (v[i] == known[i]) continue;
        if ((rc = reload[i]())) break;
        known[i] = v[i];
    }
    atomic_store(&next_poll_ms, time_now_ms() + (rc ? RETRY_AFTER_FAILURE_MS : interval_ms));
    pthread_mutex_unlock(&poll_lock);
    if (rc)
        log_json(LOG_WARN, "operations state not refreshed",
                 json_pack("{s:s}", "error", ragd_strerror(rc)));
}
