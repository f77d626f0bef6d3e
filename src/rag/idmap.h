/* idmap.h - open-addressing hash map from 64-bit chunk ids to 32-bit slots, used by the
 * indexes to find an item's internal slot. Not thread-safe (the index's lock covers it). */
#ifndef RAGD_RAG_IDMAP_H
#define RAGD_RAG_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct idmap {
    struct idmap_entry *e;   /* private */
    size_t cap, count, used; /* used counts tombstones too */
} idmap_t;

/* Zero-initialised idmap_t is an empty map; idmap_free releases it (and leaves it empty). */
void idmap_free(idmap_t *m);
/* Look up key; true and *val if present. Cannot fail. */
bool idmap_get(const idmap_t *m, uint64_t key, uint32_t *val);
/* Insert or overwrite. Aborts only on out-of-memory (xmalloc policy). */
void idmap_put(idmap_t *m, uint64_t key, uint32_t val);
/* Remove key; true if it was present. */
bool idmap_del(idmap_t *m, uint64_t key);

#endif
