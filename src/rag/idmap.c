/* idmap.c - linear-probing u64 -> u32 map with tombstones. */
#include "rag/idmap.h"

#include "core/mem.h"

#include <stdlib.h>

enum { EMPTY = 0, FULL = 1, DEAD = 2 };

struct idmap_entry {
    uint64_t key;
    uint32_t val;
    uint32_t state;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

void idmap_free(idmap_t *m)
{
    free(m->e);
    m->e = NULL;
    m->cap = m->count = m->used = 0;
}

bool idmap_get(const idmap_t *m, uint64_t key, uint32_t *val)
{
    if (!m->cap) return false;
    size_t mask = m->cap - 1;
    for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
        const struct idmap_entry *e = &m->e[i];
        if (e->state == EMPTY) return false;
        if (e->state == FULL && e->key == key) {
            *val = e->val;
            return true;
        }
    }
}

static void grow(idmap_t *m)
{
    size_t ncap = m->cap ? m->cap : 64;
    while (m->count * 2 >= ncap)
        ncap *= 2;
    struct idmap_entry *old = m->e;
    size_t ocap = m->cap;
    m->e = xcalloc(ncap, sizeof *m->e);
    m->cap = ncap;
    m->count = m->used = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].state == FULL) idmap_put(m, old[i].key, old[i].val);
    free(old);
}

void idmap_put(idmap_t *m, uint64_t key, uint32_t val)
{
    if ((m->used + 1) * 10 >= m->cap * 7) grow(m);
    size_t mask = m->cap - 1, dead = (size_t)-1;
    for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
        struct idmap_entry *e = &m->e[i];
        if (e->state == FULL && e->key == key) {
            e->val = val;
            return;
        }
        if (e->state == DEAD && dead == (size_t)-1) dead = i;
        if (e->state == EMPTY) {
            if (dead != (size_t)-1)
                e = &m->e[dead];
            else
                m->used++;
            e->key = key;
            e->val = val;
            e->state = FULL;
            m->count++;
            return;
        }
    }
}

bool idmap_del(idmap_t *m, uint64_t key)
{
    if (!m->cap) return false;
    size_t mask = m->cap - 1;
    for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
        struct idmap_entry *e = &m->e[i];
        if (e->state == EMPTY) return false;
        if (e->state == FULL && e->key == key) {
            e->state = DEAD;
            m->count--;
            return true;
        }
    }
}
