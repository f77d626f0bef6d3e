/* maintenance.c - maintenance modes (ops/maintenance.h). */
#include "ops/maintenance.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "ops/features.h"
#include "ops/notify.h"
#include "store/ops_state.h"

static const char *const level_names[] = {"none", "soft", "hard"};

static const char *const default_message[] = {
    "",
    "Some features are temporarily unavailable. Chat and core features still work.",
    "We're currently performing maintenance. Please check back soon.",
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct maint_state state; /* under lock */
static atomic_int level_now;

const char *maint_level_name(enum maint_level l)
{
    return (unsigned)l <= MAINT_HARD ? level_names[l] : "none";
}

int maint_level_parse(const char *s, enum maint_level *out)
{
    for (int i = 0; s && i <= MAINT_HARD; i++) {
        if (!strcmp(s, level_names[i])) {
            *out = (enum maint_level)i;
            return 0;
        }
    }
    return RAGD_EINVAL;
}

static void from_row(const struct store_maint *m, struct maint_state *s)
{
    memset(s, 0, sizeof *s);
    if (maint_level_parse(m->level, &s->level)) s->level = MAINT_NONE;
    snprintf(s->reason, sizeof s->reason, "%s", m->reason);
    snprintf(s->message, sizeof s->message, "%s", m->message);
    snprintf(s->estimated_restoration, sizeof s->estimated_restoration, "%s",
             m->estimated_restoration);
    if (s->estimated_restoration[0] && time_parse_iso(s->estimated_restoration, &s->restoration_ms))
        s->restoration_ms = 0;
    snprintf(s->set_by, sizeof s->set_by, "%s", m->set_by);
    snprintf(s->since, sizeof s->since, "%s", m->since);
    s->automatic = m->automatic;
}

/* Reloads run one at a time, so that states are installed in the order they were read. */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

int maint_reload(void)
{
    struct store_maint m;
    pthread_mutex_lock(&reload_lock);
    int rc = store_maint_get(NULL, &m);
    if (!rc) {
        struct maint_state s;
        from_row(&m, &s);
        pthread_mutex_lock(&lock);
        state = s;
        atomic_store(&level_now, (int)s.level);
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_unlock(&reload_lock);
    return rc;
}

enum maint_level maint_level_now(void)
{
    return (enum maint_level)atomic_load(&level_now);
}

void maint_get(struct maint_state *out)
{
    pthread_mutex_lock(&lock);
    *out = state;
    pthread_mutex_unlock(&lock);
}

int maint_retry_after_s(void)
{
    pthread_mutex_lock(&lock);
    int64_t until = state.restoration_ms;
    pthread_mutex_unlock(&lock);
    int64_t left = until ? (until - time_now_ms() + 999) / 1000 : 0;
    if (left >= 1) return left > 86400 * 30 ? 86400 * 30 : (int)left;
    return (int)config_int("MAINTENANCE_RETRY_AFTER_SECONDS", 300, 1, 86400);
}

/* Ends a transaction: commits when rc is 0, otherwise rolls back. */
static int end_tx(db_conn_t *c, int rc)
{
    if (!rc && !(rc = db_commit(c))) return 0;
    db_rollback(c);
    return rc;
}

static json_t *event_details(const struct store_maint *m)
{
    return json_pack("{s:s, s:s, s:s, s:b, s:s?, s:s?}", "level", m->level, "reason", m->reason,
                     "message", m->message, "automatic", m->automatic, "set_by",
                     m->set_by[0] ? m->set_by : NULL, "estimated_restoration",
                     m->estimated_restoration[0] ? m->estimated_restoration : NULL);
}

int maint_set(const struct maint_change *ch, const struct audit_entry *audit, int *overridden)
{
    RAGD_ASSERT(ch->reason && (unsigned)ch->level <= MAINT_HARD);
    int64_t est = 0;
    if (ch->estimated_restoration && time_parse_iso(ch->estimated_restoration, &est))
        return RAGD_EINVAL;
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_begin_for(c, "ops:maintenance");
    if (rc) return rc;
    struct store_maint cur, m;
    if ((rc = store_maint_get(c, &cur))) return end_tx(c, rc);
    enum maint_level old = MAINT_NONE;
    maint_level_parse(cur.level, &old);
    int over = cur.automatic && old != MAINT_NONE;
    memset(&m, 0, sizeof m);
    snprintf(m.level, sizeof m.level, "%s", level_names[ch->level]);
    snprintf(m.reason, sizeof m.reason, "%s", ch->reason);
    snprintf(m.message, sizeof m.message, "%s",
             ch->message ? ch->message : default_message[ch->level]);
    if (ch->estimated_restoration) time_iso(est, m.estimated_restoration);
    snprintf(m.set_by, sizeof m.set_by, "%s", audit && audit->actor_id ? audit->actor_id : "");
    if (old == ch->level && !over)
        snprintf(m.since, sizeof m.since, "%s", cur.since);
    else
        time_iso(time_now_ms(), m.since);
    rc = store_maint_put(c, &m);
    if (!rc) rc = store_ops_bump(c, OPS_PART_MAINTENANCE);
    if (!rc && over) {
        json_t *d = event_details(&m);
        json_object_set_new(d, "overridden_level", json_string(cur.level));
        json_object_set_new(d, "overridden_reason", json_string(cur.reason));
        rc = notify_emit(c, NOTIFY_MAINTENANCE_OVERRIDDEN, d);
    } else if (!rc && ch->level != old) {
        json_t *d = event_details(&m);
        json_object_set_new(d, "previous_level", json_string(cur.level));
        rc = notify_emit(
            c, ch->level == MAINT_NONE ? NOTIFY_MAINTENANCE_EXITED : NOTIFY_MAINTENANCE_ENTERED, d);
    }
    if (!rc && audit) rc = store_audit_add(audit);
    if ((rc = end_tx(c, rc))) return rc;
    if (overridden) *overridden = over;
    log_json(LOG_WARN, "maintenance level set",
             json_pack("{s:s, s:s, s:s, s:b}", "maintenance_level", m.level, "previous", cur.level,
                       "set_by", m.set_by, "overridden", over));
    maint_reload(); /* a failure here is repaired by the next ops_sync poll */
    return 0;
}

/* ---- automatic changes ---- */

static int local_engine(void)
{
    const char *m = config_str("GENERATION_MODEL", NULL);
    return m && *m;
}

/* Chat became unusable (down) or usable again: the automatic level change, inside the
 * caller's transaction on c. */
static int chat_changed(db_conn_t *c, int down)
{
    struct store_maint cur;
    int rc = store_maint_get(c, &cur);
    if (rc) return rc;
    struct store_maint m = cur;
    if (down) {
        if (!strcmp(cur.level, "hard") || local_engine()) return 0;
        if (!cur.automatic) { /* remember what to return to */
            snprintf(m.prev_level, sizeof m.prev_level, "%s", cur.level);
            snprintf(m.prev_reason, sizeof m.prev_reason, "%s", cur.reason);
            snprintf(m.prev_message, sizeof m.prev_message, "%s", cur.message);
            snprintf(m.prev_set_by, sizeof m.prev_set_by, "%s", cur.set_by);
        }
        snprintf(m.level, sizeof m.level, "hard");
        snprintf(m.reason, sizeof m.reason, "No provider can answer chat");
        snprintf(m.message, sizeof m.message, "%s", default_message[MAINT_HARD]);
        m.estimated_restoration[0] = '\0';
        m.set_by[0] = '\0';
        m.automatic = 1;
        time_iso(time_now_ms(), m.since);
    } else {
        if (!cur.automatic) return 0; /* set by hand: stays */
        enum maint_level back = MAINT_NONE;
        maint_level_parse(cur.prev_level, &back);
        snprintf(m.level, sizeof m.level, "%s", level_names[back]);
        snprintf(m.reason, sizeof m.reason, "%s",
                 back ? cur.prev_reason : "Chat is available again");
        snprintf(m.message, sizeof m.message, "%s", back ? cur.prev_message : "");
        snprintf(m.set_by, sizeof m.set_by, "%s", back ? cur.prev_set_by : "");
        m.estimated_restoration[0] = '\0';
        m.automatic = 0;
        m.prev_level[0] = m.prev_reason[0] = m.prev_message[0] = m.prev_set_by[0] = '\0';
        time_iso(time_now_ms(), m.since);
    }
    if ((rc = store_maint_put(c, &m))) return rc;
    if ((rc = store_ops_bump(c, OPS_PART_MAINTENANCE))) return rc;
    json_t *d = event_details(&m);
    json_object_set_new(d, "automatic", json_true());
    json_object_set_new(d, "feature", json_string("chat"));
    json_object_set_new(d, "previous_level", json_string(cur.level));
    return notify_emit(c, down ? NOTIFY_MAINTENANCE_ENTERED : NOTIFY_MAINTENANCE_EXITED, d);
}

void maint_feature_availability(const char *feature, int usable)
{
    if (!feature || !*feature) return;
    const char *name = features_outage_name(feature);
    if (strlen(name) >= sizeof(((struct store_outage *)0)->feature)) return;
    int down = !usable;
    if (features_outage(name) == down) return; /* as recorded: nothing to do */
    db_conn_t *c = db_conn();
    if (!c) return;
    int rc = db_begin_for(c, "ops:maintenance");
    if (rc) goto fail;
    int changed = 0;
    rc = store_outage_set(c, name, down, &changed);
    if (!rc && changed) rc = store_ops_bump(c, OPS_PART_FEATURES);
    if (!rc && changed && !strcmp(name, "chat")) rc = chat_changed(c, down);
    if ((rc = end_tx(c, rc))) goto fail;
    log_json(down ? LOG_WARN : LOG_INFO,
             down ? "feature switched off: no provider can serve it" : "feature available again",
             json_pack("{s:s, s:b}", "feature", name, "changed", changed));
    features_reload();
    maint_reload();
    return;
fail:
    log_json(LOG_ERROR, "feature availability not recorded",
             json_pack("{s:s, s:b, s:s}", "feature", name, "usable", usable, "error",
                       ragd_strerror(rc)));
}
