/* features.c - feature toggles (ops/features.h). */
#include "ops/features.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/ops_state.h"

/* The node's copy, replaced whole by features_reload. */
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct store_flag *flags;
static int nflags;
static struct store_outage *outages;
static int noutages;

/* Reloads run one at a time, so that copies are installed in the order they were read. */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

int features_reload(void)
{
    struct store_flag *f;
    struct store_outage *o;
    int nf, no;
    pthread_mutex_lock(&reload_lock);
    int rc = store_flags_list(NULL, &f, &nf);
    if (!rc && (rc = store_outages_list(NULL, &o, &no))) free(f);
    if (rc) {
        pthread_mutex_unlock(&reload_lock);
        return rc;
    }
    pthread_rwlock_wrlock(&lock);
    struct store_flag *of = flags;
    struct store_outage *oo = outages;
    flags = f;
    nflags = nf;
    outages = o;
    noutages = no;
    pthread_rwlock_unlock(&lock);
    pthread_mutex_unlock(&reload_lock);
    free(of);
    free(oo);
    return 0;
}

int features_bucket(const char *name, const char *user_id)
{
    /* FNV-1a over "name:user_id" */
    uint64_t h =
        fnv1a(fnv1a(fnv1a(FNV1A_START, name, strlen(name)), ":", 1), user_id, strlen(user_id));
    return (int)(h % 100);
}

static const struct store_flag *find_flag(const char *name)
{
    for (int i = 0; i < nflags; i++)
        if (!strcmp(flags[i].name, name)) return &flags[i];
    return NULL;
}

enum features_why features_check(const char *name, const char *user_id)
{
    enum features_why why = FEATURE_OK;
    pthread_rwlock_rdlock(&lock);
    const struct store_flag *f = find_flag(name);
    if (f && !f->enabled)
        why = FEATURE_OFF;
    else if (f && f->rollout < 100 &&
             (!user_id || !*user_id || features_bucket(name, user_id) >= f->rollout))
        why = FEATURE_NOT_IN_ROLLOUT;
    pthread_rwlock_unlock(&lock);
    return why;
}

/* Router features and slash commands against the flags that gate them. */
static const struct {
    const char *alias, *flag;
} aliases[] = {
    {"flashcard", "flashcards"}, {"mcq", "mcqs"},         {"highyield", "highyield"},
    {"explain", "explanations"}, {"map", "concept_maps"},
};

const char *features_of_command(const char *command)
{
    for (size_t i = 0; command && i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(aliases[i].alias, command)) return aliases[i].flag;
    return NULL;
}

const char *features_outage_name(const char *feature)
{
    const char *f = features_of_command(feature);
    return f ? f : feature;
}

int features_outage(const char *name)
{
    int out = 0;
    pthread_rwlock_rdlock(&lock);
    for (int i = 0; i < noutages && !out; i++)
        out = !strcmp(outages[i].feature, name);
    pthread_rwlock_unlock(&lock);
    return out;
}

static void view_of(const struct store_flag *f, struct feature_view *v)
{
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", f->name);
    snprintf(v->description, sizeof v->description, "%s", f->description);
    v->enabled = f->enabled;
    v->rollout = f->rollout;
    snprintf(v->updated_by, sizeof v->updated_by, "%s", f->updated_by);
    snprintf(v->updated_at, sizeof v->updated_at, "%s", f->updated_at);
    for (int i = 0; i < noutages; i++) {
        if (strcmp(outages[i].feature, f->name)) continue;
        v->outage = 1;
        snprintf(v->outage_since, sizeof v->outage_since, "%s", outages[i].since);
    }
}

void features_list(struct feature_view **out, int *n)
{
    pthread_rwlock_rdlock(&lock);
    *out = xcalloc((size_t)(nflags + noutages) + 1, sizeof **out);
    *n = 0;
    for (int i = 0; i < nflags; i++)
        view_of(&flags[i], &(*out)[(*n)++]);
    for (int i = 0; i < noutages; i++) {
        if (find_flag(outages[i].feature)) continue;
        struct feature_view *v = &(*out)[(*n)++];
        snprintf(v->name, sizeof v->name, "%s", outages[i].feature);
        v->enabled = 1;
        v->rollout = 100;
        v->outage = 1;
        snprintf(v->outage_since, sizeof v->outage_since, "%s", outages[i].since);
    }
    pthread_rwlock_unlock(&lock);
}

int features_get(const char *name, struct feature_view *out)
{
    int rc = RAGD_ENOTFOUND;
    pthread_rwlock_rdlock(&lock);
    const struct store_flag *f = find_flag(name);
    if (f) {
        view_of(f, out);
        rc = 0;
    }
    pthread_rwlock_unlock(&lock);
    return rc;
}

int features_set(const char *name, int enabled, int rollout, const struct audit_entry *audit,
                 struct feature_view *out)
{
    if (rollout < 0 || rollout > 100) return RAGD_EINVAL;
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_begin_for(c, "ops:features");
    if (rc) return rc;
    rc = store_flag_set(c, name, enabled, rollout, audit ? audit->actor_id : NULL);
    if (!rc) rc = store_ops_bump(c, OPS_PART_FEATURES);
    if (!rc && audit) rc = store_audit_add(audit);
    if (!rc) rc = db_commit(c);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    features_reload(); /* a failure here is repaired by the next ops_sync poll */
    if (out) {
        rc = features_get(name, out);
        if (rc) { /* only if the reload failed: report what was committed */
            memset(out, 0, sizeof *out);
            snprintf(out->name, sizeof out->name, "%s", name);
            out->enabled = enabled;
            out->rollout = rollout;
        }
    }
    return 0;
}
