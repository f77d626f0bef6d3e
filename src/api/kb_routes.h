/* kb_routes.h - route tables of the knowledge base and chat groups (registered by main.c). */
#ifndef RAGD_KB_ROUTES_H
#define RAGD_KB_ROUTES_H

#include "http/http.h"

extern const struct route documents_routes[];
extern const struct route search_routes[];
extern const struct route chat_routes[];

/* Installs the /admin/seed-enhanced operations (demo corpus) and the health reporters for
 * "indexes" and "models". Call after knowledge_init. */
void kb_api_install(void);

/* Billing joins these routes in two ways. The rows name their quota resource (documents:
 * background_tasks, search: api_calls, chat: messages), which the quota guard reserves before
 * the handler runs. The handlers reserve what only they can measure: storage_mb and the daily
 * pdf_uploads counter for uploads, the daily counter of a slash command (mcqs_per_day ...),
 * and for a streamed chat answer they settle the reservation themselves (api_quota_manual)
 * once the answer is complete. Chat usage records carry extra_data {session_id, message_id,
 * tokens_used, processing_time_ms, rag_enabled}. */

#endif
