/* erasure.c - durable, resumable erasure of users, documents and organizations
 * (erasure.h). */
#include "erasure/erasure.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "billing/billing.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "knowledge/knowledge.h"
#include "store/erasure.h"
#include "store/store.h"

enum { DOC_BATCH = 64 };

/* Steps of a user's erasure, in order; a job's step is the last one done. */
enum {
    USER_DOCUMENTS = 1,
    USER_CHAT,
    USER_CREDENTIALS,
    USER_BILLING,
    USER_ROW, /* documents that raced with step 1, the audit log, the users row */
    USER_CACHES,
};
enum { DOC_ROWS = 1 };
enum { ORG_DOCUMENTS = 1, ORG_MEMBERS, ORG_ROW };

/* Records step of job as done; in test mode may then die as a crash would. */
static int step_done(const struct erasure_job *job, int step)
{
    int rc = store_erasure_step_done(job->id, step);
    if (!rc && config_bool("RAGD_TEST_MODE", 0) &&
        config_int("ERASURE_TEST_KILL_AFTER_STEP", -1, -1, 100) == step) {
        log_json(LOG_WARN, "erasure test hook: killing the process",
                 json_pack("{s:s, s:i}", "job_id", job->id, "step", step));
        raise(SIGKILL);
    }
    return rc;
}

/* Erases every document owned by a user (column "owner") or uploaded within an
 * organization ("org"), a batch at a time; each batch moves the job's clock, so the resumer
 * of another node leaves a long erasure in progress alone. */
static int erase_documents(const struct erasure_job *job, const char *column, int step)
{
    char(*ids)[37] = xmalloc(DOC_BATCH * sizeof *ids);
    int rc, n;
    while (!(rc = store_erasure_doc_ids(column, job->target_id, DOC_BATCH, ids, &n)) && n > 0) {
        for (int i = 0; i < n && !rc; i++) {
            rc = knowledge_erase(ids[i]);
            if (rc == RAGD_ENOTFOUND) rc = 0; /* erased meanwhile by someone else */
        }
        if (!rc) rc = store_erasure_step_done(job->id, step - 1);
        if (rc) break;
    }
    free(ids);
    return rc;
}

static int run_user(const struct erasure_job *job)
{
    const char *id = job->target_id;
    int rc = 0;
    for (int step = job->step + 1; !rc && step <= USER_CACHES; step++) {
        switch (step) {
        case USER_DOCUMENTS:
            rc = erase_documents(job, "owner", step);
            break;
        case USER_CHAT:
            rc = store_erasure_user_rows(id, ERASE_USER_CHAT);
            break;
        case USER_CREDENTIALS:
            rc = store_erasure_user_rows(id, ERASE_USER_CREDENTIALS);
            break;
        case USER_BILLING:
            rc = store_erasure_user_rows(id, ERASE_USER_BILLING);
            break;
        case USER_ROW:
            /* Again, for what requests that were under way when the account was refused
             * wrote since the earlier steps. */
            rc = erase_documents(job, "owner", step);
            for (int g = ERASE_USER_CHAT; !rc && g <= ERASE_USER_BILLING; g++)
                rc = store_erasure_user_rows(id, (enum erasure_user_rows)g);
            if (!rc) rc = store_erasure_user_final(id);
            break;
        case USER_CACHES:
            rc = store_erasure_user_rows(id, ERASE_USER_CHAT); /* no foreign key stops these */
            billing_forget(id);
            break;
        }
        if (!rc) rc = step_done(job, step);
    }
    return rc;
}

static int run_document(const struct erasure_job *job)
{
    if (job->step >= DOC_ROWS) return 0;
    int rc = knowledge_erase(job->target_id);
    if (rc == RAGD_ENOTFOUND) rc = 0;
    return rc ? rc : step_done(job, DOC_ROWS);
}

static int run_organization(const struct erasure_job *job)
{
    const char *id = job->target_id;
    int rc = 0;
    for (int step = job->step + 1; !rc && step <= ORG_ROW; step++) {
        switch (step) {
        case ORG_DOCUMENTS:
            rc = erase_documents(job, "org", step);
            break;
        case ORG_MEMBERS: {
            char(*members)[37] = NULL;
            int n = 0;
            rc = store_erasure_org_detach(id, &members, &n);
            for (int i = 0; i < n; i++)
                store_user_forget(members[i]); /* sessions show the organization */
            free(members);
            break;
        }
        case ORG_ROW:
            rc = erase_documents(job, "org", step); /* uploads that raced with step 1 */
            if (!rc) rc = store_erasure_org_final(id);
            break;
        }
        if (!rc) rc = step_done(job, step);
    }
    return rc;
}

/* ---- the resumer's state ---- */

static pthread_t resumer;
static int resumer_running, resumer_stop;
static unsigned reclaim_pending; /* ERASURE_RECLAIM_* bits, under resumer_lock */
static pthread_mutex_t resumer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t resumer_cond = PTHREAD_COND_INITIALIZER;

/* Reclaims the erased rows' space on the resumer thread (it may wait for readers), or now
 * where there is none (the CLI). */
static void reclaim_later(unsigned what)
{
    pthread_mutex_lock(&resumer_lock);
    int queued = resumer_running && !resumer_stop;
    if (queued) {
        reclaim_pending |= what;
        pthread_cond_signal(&resumer_cond);
    }
    pthread_mutex_unlock(&resumer_lock);
    if (!queued) store_erasure_reclaim(what);
}

/* Carries out job from the step after its last one, then marks it done. */
static int run(const struct erasure_job *job)
{
    int rc;
    if (!strcmp(job->kind, "user"))
        rc = run_user(job);
    else if (!strcmp(job->kind, "document"))
        rc = run_document(job);
    else
        rc = run_organization(job);
    if (!rc) rc = store_erasure_finish(job->id);
    if (rc) {
        log_json(LOG_WARN, "erasure interrupted; it resumes later",
                 json_pack("{s:s, s:s, s:s, s:s}", "job_id", job->id, "kind", job->kind,
                           "target_id", job->target_id, "error", ragd_strerror(rc)));
        return rc;
    }
    reclaim_later(!strcmp(job->kind, "document")
                      ? ERASURE_RECLAIM_DOCUMENTS
                      : ERASURE_RECLAIM_DOCUMENTS | ERASURE_RECLAIM_ACCOUNTS);
    log_json(LOG_INFO, "erasure done",
             json_pack("{s:s, s:s, s:s}", "job_id", job->id, "kind", job->kind, "target_id",
                       job->target_id));
    return 0;
}

static int erase(const char *kind, const char *id, const struct audit_entry *audit, char *job_id)
{
    struct erasure_job job;
    int rc = store_erasure_begin(kind, id, audit, &job);
    if (rc) return rc;
    if (job_id) snprintf(job_id, 37, "%s", job.id);
    /* The account is refused from here on, also where a cached session still says active. */
    if (!strcmp(kind, "user")) billing_forget(id);
    return run(&job);
}

int erasure_user(const char *user_id, const struct audit_entry *audit, char *job_id)
{
    return erase("user", user_id, audit, job_id);
}

int erasure_document(const char *doc_id, const struct audit_entry *audit, char *job_id)
{
    return erase("document", doc_id, audit, job_id);
}

int erasure_organization(const char *org_id, const struct audit_entry *audit, char *job_id)
{
    return erase("organization", org_id, audit, job_id);
}

/* One pass over the unfinished jobs not moved since before_ms (0: all of them). */
static int resume_pass(int64_t before_ms, int *finished)
{
    int first = 0, done = 0;
    for (;;) {
        struct erasure_job *jobs = NULL;
        int n = 0, ok = 0;
        int rc = store_erasure_open(before_ms, 16, &jobs, &n);
        if (rc) {
            first = first ? first : rc;
            break;
        }
        for (int i = 0; i < n; i++) {
            rc = run(&jobs[i]);
            if (rc)
                first = first ? first : rc;
            else
                ok++;
        }
        free(jobs);
        done += ok;
        if (n < 16 || !ok) break; /* no progress: leave the rest to the next pass */
    }
    if (finished) *finished = done;
    return first;
}

int erasure_resume(int *finished)
{
    return resume_pass(0, finished);
}

/* ---- the resumer ---- */

static void *resumer_main(void *arg)
{
    (void)arg;
    int64_t interval_s = config_int("ERASURE_RESUME_INTERVAL_SECONDS", 30, 1, 86400);
    int64_t before = 0; /* the first pass takes every unfinished job */
    struct timespec next;
    clock_gettime(CLOCK_REALTIME, &next); /* due now */
    pthread_mutex_lock(&resumer_lock);
    while (!resumer_stop) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec > next.tv_sec ||
            (now.tv_sec == next.tv_sec && now.tv_nsec >= next.tv_nsec)) {
            pthread_mutex_unlock(&resumer_lock);
            int finished = 0;
            resume_pass(before, &finished);
            if (finished)
                log_json(LOG_INFO, "unfinished erasures completed",
                         json_pack("{s:i}", "jobs", finished));
            /* Later passes leave alone jobs that moved recently: someone is running them. */
            before = time_now_ms() - 2 * interval_s * 1000;
            clock_gettime(CLOCK_REALTIME, &next);
            next.tv_sec += (time_t)interval_s;
            pthread_mutex_lock(&resumer_lock);
        }
        if (reclaim_pending) {
            unsigned what = reclaim_pending;
            reclaim_pending = 0;
            pthread_mutex_unlock(&resumer_lock);
            store_erasure_reclaim(what);
            pthread_mutex_lock(&resumer_lock);
            continue;
        }
        if (!resumer_stop) pthread_cond_timedwait(&resumer_cond, &resumer_lock, &next);
    }
    unsigned what = reclaim_pending; /* asked for before the stop */
    reclaim_pending = 0;
    pthread_mutex_unlock(&resumer_lock);
    if (what) store_erasure_reclaim(what);
    return NULL;
}

void erasure_start(void)
{
    pthread_mutex_lock(&resumer_lock);
    resumer_stop = 0;
    resumer_running = pthread_create(&resumer, NULL, resumer_main, NULL) == 0;
    pthread_mutex_unlock(&resumer_lock);
}

void erasure_stop(void)
{
    if (!resumer_running) return;
    pthread_mutex_lock(&resumer_lock);
    resumer_stop = 1;
    pthread_cond_signal(&resumer_cond);
    pthread_mutex_unlock(&resumer_lock);
    pthread_join(resumer, NULL);
    pthread_mutex_lock(&resumer_lock);
    resumer_running = 0;
    pthread_mutex_unlock(&resumer_lock);
}
