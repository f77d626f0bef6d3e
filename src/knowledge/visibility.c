/* visibility.c - who may see a document and who may change it. */
#include <string.h>

#include "knowledge/knowledge_int.h"

static int set(const char *s)
{
    return s && *s;
}

int kn_visible(const struct kn_caller *c, const struct kn_doc_access *d)
{
    if (d->shared) return 1;
    if (set(d->owner_id) && set(c->user_id) && !strcmp(d->owner_id, c->user_id)) return 1;
    return set(d->org_id) && set(c->org_id) && !strcmp(d->org_id, c->org_id);
}

int kn_may_modify(const struct kn_caller *c, const struct kn_doc_access *d)
{
    return c->is_admin || (set(d->owner_id) && set(c->user_id) && !strcmp(d->owner_id, c->user_id));
}
