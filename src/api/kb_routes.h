/* kb_routes.h - route tables of the knowledge base and chat groups (registered by main.c). */
#ifndef RAGD_KB_ROUTES_H
#define RAGD_KB_ROUTES_H

#include "http/http.h"
#include "knowledge/knowledge.h"

extern const struct route documents_routes[];
extern const struct route search_routes[];
extern const struct route chat_routes[];

/* Search filters decoded from a request: the struct and the storage its strings point to
 * (borrowed from the request's JSON, which must outlive it). */
struct kb_filters {
    struct kn_filters f;
    const char *v[4][100];
};

/* Decodes a request's "filters" object into *out: keys category, source, tags, document_id
 * (a string or an array of up to 100 strings each), shared (bool). *use is &out->f, or NULL
 * when filters is absent or null. Returns 0, or RAGD_EINVAL with *field ("filters.xxx",
 * static) and a message in err. */
int kb_filters_parse(json_t *filters, struct kb_filters *out, const struct kn_filters **use,
                     const char **field, char *err, size_t errcap);

/* Billing joins these routes in two ways. The rows name their quota resource (documents:
 * background_tasks, search: api_calls, chat: messages), which the quota guard reserves before
 * the handler runs. The handlers reserve what only they can measure: storage_mb and the daily
 * pdf_uploads counter for uploads, the daily counter of a slash command (mcqs_per_day ...),
 * and for a streamed chat answer they settle the reservation themselves (api_quota_manual)
 * once the answer is complete. Chat usage records carry extra_data {session_id, message_id,
 * tokens_used, processing_time_ms, rag_enabled}. */

#endif
