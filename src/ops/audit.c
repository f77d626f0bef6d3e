/* audit.c (ops) - audit log retention (ops/audit.h). */
#include "ops/audit.h"

#include <stdatomic.h>
#include <time.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/util.h"
#include "store/audit.h"

static int retention_days = 365;
static _Atomic int64_t last_prune_ms;

/* Real time in ms: retention is about the calendar, whatever a test does to ragd's clock. */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int audit_retention_days(void)
{
    return retention_days;
}

int audit_prune(int64_t *deleted)
{
    char before[32];
    int64_t now = wall_ms();
    atomic_store(&last_prune_ms, now);
    time_iso(now - (int64_t)retention_days * 86400000, before);
    int64_t n = 0;
    int rc = store_audit_prune(before, &n);
    if (rc)
        log_json(LOG_ERROR, "audit log prune failed",
                 json_pack("{s:s, s:s}", "before", before, "error", ragd_strerror(rc)));
    else if (n)
        log_json(LOG_INFO, "audit log pruned",
                 json_pack("{s:s, s:I}", "before", before, "entries", (json_int_t)n));
    if (deleted) *deleted = n;
    return rc;
}

void audit_maybe_prune(void)
{
    int64_t last = atomic_load(&last_prune_ms), now = wall_ms();
    if (now - last < 86400000) return;
    /* One request a day does it; the others go on. */
    if (!atomic_compare_exchange_strong(&last_prune_ms, &last, now)) return;
    audit_prune(NULL);
}

int audit_init(void)
{
    retention_days =
        (int)config_int("AUDIT_RETENTION_DAYS", 365, AUDIT_MIN_RETENTION_DAYS, 100 * 365);
    return audit_prune(NULL);
}
