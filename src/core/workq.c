#include "core/workq.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"

struct job {
    void (*fn)(void *);
    void *arg;
    struct job *next;
};

struct workq {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail;
    size_t queued, max_queue;
    int stopping, nthreads;
    pthread_t *threads;
};

static void *worker(void *arg)
{
    workq_t *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cond, &p->lock);
        struct job *j = p->head;
        if (!j) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        p->head = j->next;
        if (!p->head) p->tail = NULL;
        p->queued--;
        pthread_mutex_unlock(&p->lock);
        j->fn(j->arg);
        free(j);
    }
}

workq_t *workq_create(int nthreads, size_t max_queue, const char *name)
{
    workq_t *p = xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->max_queue = max_queue;
    p->nthreads = nthreads < 1 ? 1 : nthreads;
    p->threads = xcalloc((size_t)p->nthreads, sizeof *p->threads);
    for (int i = 0; i < p->nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p))
            panic("cannot start %s worker thread", name);
        char tn[16];
        snprintf(tn, sizeof tn, "%.8s-%u", name, (unsigned)i % 100u);
        pthread_setname_np(p->threads[i], tn);
    }
    return p;
}

int workq_submit(workq_t *p, void (*fn)(void *), void *arg)
{
    struct job *j = xmalloc(sizeof *j);
    j->fn = fn;
    j->arg = arg;
    j->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->queued >= p->max_queue || p->stopping) {
        pthread_mutex_unlock(&p->lock);
        free(j);
        return RAGD_ELIMIT;
    }
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void workq_destroy(workq_t *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
