/* planedit.c - plan edits at run time (ops/planedit.h). */
#include "ops/planedit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "store/ops_state.h"

/* Reloads run one at a time, so that tables are published in the order their edits were
 * read: a reload that read older edits can never replace a newer table. */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

int planedit_reload(void)
{
    struct store_plan_edit *e;
    int n;
    pthread_mutex_lock(&reload_lock);
    int rc = store_plan_edits(NULL, &e, &n);
    if (rc) {
        pthread_mutex_unlock(&reload_lock);
        return rc;
    }
    json_t *edits = json_object();
    for (int i = 0; i < n; i++) {
        json_error_t je;
        json_t *def = json_loads(e[i].definition, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(def)) {
            log_json(LOG_ERROR, "stored plan edit is not a JSON object; skipped",
                     json_pack("{s:s}", "plan", e[i].name));
            json_decref(def);
            continue;
        }
        json_object_set_new(edits, e[i].name, def);
    }
    store_plan_edits_free(e, n);
    char err[256];
    int skipped = plan_apply_edits(edits, err, sizeof err);
    pthread_mutex_unlock(&reload_lock);
    if (skipped) log_json(LOG_ERROR, "plan edits skipped", json_pack("{s:s}", "error", err));
    json_decref(edits);
    return 0;
}

/* def merged into base (both objects): nested objects key by key, the rest replaced. New
 * reference. */
static json_t *merged(json_t *base, json_t *def)
{
    json_t *m = base ? json_deep_copy(base) : json_object();
    const char *k;
    json_t *v;
    json_object_foreach(def, k, v)
    {
        json_t *old = json_object_get(m, k);
        if (json_is_object(old) && json_is_object(v))
            json_object_update(old, v);
        else
            json_object_set(m, k, v);
    }
    return m;
}

int planedit_put(const char *name, json_t *def, const struct audit_entry *audit, int *created,
                 char field[PLAN_FIELD_MAX], char *err, size_t errcap)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_begin_for(c, "ops:plans");
    if (rc) return rc;
    struct store_plan_edit *e;
    int n;
    if ((rc = store_plan_edits(c, &e, &n))) {
        db_rollback(c);
        return rc;
    }
    json_t *prev = NULL;
    for (int i = 0; i < n && !prev; i++)
        if (!strcmp(e[i].name, name)) prev = json_loads(e[i].definition, 0, NULL);
    store_plan_edits_free(e, n);
    json_t *m = merged(json_is_object(prev) ? prev : NULL, def);
    json_decref(prev);
    rc = plan_edit_check(name, m, field, err, errcap);
    char *text = rc ? NULL : json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
    if (!rc && !text) rc = RAGD_ENOMEM;
    *created = plan_get(name) == NULL;
    if (!rc) rc = store_plan_edit_put(c, name, text, audit ? audit->actor_id : NULL);
    free(text);
    if (!rc) rc = store_ops_bump(c, OPS_PART_PLANS);
    if (!rc && audit) rc = store_audit_add(audit);
    if (!rc) rc = db_commit(c);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    planedit_reload(); /* a failure here is repaired by the next ops_sync poll */
    return 0;
}
