/* api.h - the route tables of the API groups, registered by main.c, and small helpers the
 * handlers share. */
#ifndef RAGD_API_H
#define RAGD_API_H

#include "http/http.h"

extern const struct route users_routes[];
extern const struct route admin_routes[];
extern const struct route health_routes[];
extern const struct route billing_routes[];
/* Registers the OpenAI-compatible /v1 routes (call once, before http_start). */
void openai_api_install(void);
/* Only registered when RAGD_TEST_MODE=1: clock control and quota-consuming test routes. */
extern const struct route billing_test_routes[];

/* Answers 503 GENERATION_BUSY with Retry-After: the local generator's queue is full. */
void api_generation_busy(struct req *r);

/* Answers 422 {detail, code: VALIDATION_ERROR, field} for field. */
void api_invalid(struct req *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Plan changes made through PATCH /users/{id} are handed to this hook when set (billing
 * installs it so admin changes follow the same path as PUT /billing/subscription). It returns
 * 0 or a RAGD_E* code; it must not answer the request. */
typedef int (*plan_change_fn)(struct req *r, const char *user_id, const char *plan);
void api_set_plan_change_hook(plan_change_fn fn);

/* What seeding the demo knowledge base would do, and doing it; installed by the knowledge
 * service. Without it POST /admin/seed-enhanced answers 501. */
struct seed_ops {
    json_t *(*status)(void);                 /* new reference */
    int (*run)(struct req *r, json_t **result); /* new reference in *result */
};
void api_set_seed_ops(const struct seed_ops *ops);

/* Subsystem health reporters for /health/detailed: each returns a new JSON object with at
 * least {"status": "healthy" | "degraded" | "unhealthy" | "not_configured"}. */
void api_add_health_check(const char *name, json_t *(*check)(void));

/* Registers the web UI's routes (/, /admin, /static/..., /vendor/...; see web.c), serving the
 * folder named by WEB_DIR, else web/ next to the binary or above it, else ./web. Cannot fail:
 * without that folder the pages answer 404 WEB_UI_NOT_INSTALLED. Call before http_start. */
void web_api_install(void);

/* The data directory ragd serves from (docs, indexes). */
void api_set_data_dir(const char *dir);
const char *api_data_dir(void);

#endif
