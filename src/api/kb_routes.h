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

/* Slash commands count against per-feature daily limits ("flashcards_generated",
 * "mcqs_generated", ...). The limits module installs fn: it answers the request (429) and
 * returns non-zero when the caller is over the limit, else consumes one and returns 0. */
void chat_api_set_feature_hook(int (*fn)(struct req *r, const char *feature));

#endif
