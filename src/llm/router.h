/* router.h - every generation goes through the provider key pool (seed 003 "Failure and
 * Maintenance Logic").
 *
 * For a request of feature F (chat, flashcard, mcq, highyield, explain, map - from the task -
 * or embeddings) by user U the candidates are, in order: U's personal key; the active shared
 * keys of F or "*" by priority (ties: least recently used), keys in cooldown left out; the
 * entry made from OPENAI_* (read-only; priority PROVIDER_ENV_PRIORITY, default 0); the
 * degraded keys; then the local engine when GENERATION_MODEL is configured. At most
 * PROVIDER_MAX_ATTEMPTS (3) remote attempts are made, PROVIDER_BACKOFF_MS (50, doubling,
 * at most 1 s) apart; a 429 that asks to wait at most PROVIDER_RETRY_AFTER_MAX_SECONDS (2)
 * is waited out and retried when no other key is left.
 *
 * Outcomes: success resets the failure streak (a degraded key answering becomes active);
 * 429 or a quota reply puts the key in cooldown until Retry-After (else
 * PROVIDER_COOLDOWN_SECONDS, 60) without counting a failure; 401/403 disables it at once;
 * 5xx, connection errors, timeouts and invalid replies count failures, and
 * PROVIDER_FAILURE_THRESHOLD (5) in a row make an active key degraded. The OPENAI_* entry
 * only takes cooldowns (an operator changes it by restarting). Each attempt is a
 * provider_health row and ragd_provider_requests_total{provider,feature,outcome} /
 * ragd_provider_request_duration_seconds; moving on to another key counts
 * ragd_provider_failovers_total. A stream fails over only before its first piece.
 *
 * Every node reloads the pool within PROVIDER_SYNC_MS (500) of a change made anywhere (one
 * read of a version number), and one node at a time (a lease in the database) runs the health
 * monitor every PROVIDER_HEALTH_INTERVAL_SECONDS (300): degraded keys, and keys unused for
 * PROVIDER_HEALTH_IDLE_SECONDS (default: the interval), get a minimal call; a degraded key
 * that passes is active again. Attempts older than PROVIDER_HEALTH_RETENTION_DAYS (7) are
 * pruned.
 *
 * Thread-safe. */
#ifndef RAGD_LLM_ROUTER_H
#define RAGD_LLM_ROUTER_H

#include <jansson.h>

#include "llm/provider.h"

/* Starts the router with the entry built from OPENAI_* (env: may be NULL; taken over), the
 * local engine (local: may be NULL; borrowed) and the configured embedder (emb: may be NULL;
 * borrowed), loads the pool and starts the sync / health thread. Returns 0 or a store error
 * with a message in err. */
int router_start(prov_provider_t *env, const char *env_key, prov_provider_t *local,
                 prov_embedder_t *emb, char *err, size_t errcap);
void router_stop(void);

/* The embedder to use: one that tries the pool's embeddings keys (feature "embeddings",
 * OpenAI format, producing the index's dimension) by priority and then the configured
 * embedder, when such keys exist; else the configured embedder (NULL when none and no
 * embeddings key existed at start). Owned by the router. */
prov_embedder_t *router_embedder(void);

/* The router as a generator: generate routes req by its task and user_id. */
prov_provider_t *router_provider(void);
/* Whether generation should go through the router: a shared or personal key exists or the
 * OPENAI_* entry is configured. */
int router_in_use(void);
/* Whether shared keys exist (FALLBACK_TO_EXTRACTIVE defaults to false then). */
int router_pool_exists(void);

/* The feature name of a task ("chat", "mcq", ...). Cannot fail. */
const char *router_task_feature(enum prov_task t);
/* The seed's wording for an unavailable feature ("MCQ generation temporarily unavailable").
 * Static. */
const char *router_unavailable_message(const char *feature);

/* Whether a feature has a usable key now (an active or degraded one not in cooldown, the
 * OPENAI_* entry, or the local engine). */
int router_feature_usable(const char *feature);

/* Called with (feature, 0) when a feature becomes unusable - every key serving it is
 * disabled, cooling down or undecryptable, or a request tried every one of them and each
 * failed - and with (feature, 1) when it is usable again (an attempt or health check with one
 * of its keys succeeds, a key comes out of cooldown, or an admin changes the pool). Only
 * features the shared pool serves are reported; all_keys_failed is emitted with each
 * (feature, 0). It runs on the node that sees the change (the one whose request failed, or
 * whose reload or health check saw it). The maintenance module uses it to enter and leave automatic
 * maintenance. fn may be NULL (no hook). Runs on request or monitor threads: fn must be quick and
 * thread-safe. */
void prov_set_availability_hook(void (*fn)(const char *feature, int usable));

/* ---- keys ---- */

/* A minimal call with a key: 0 when it answers, else the store outcome-like code:
 * RAGD_EPERM (401/403), RAGD_ELIMIT (429), RAGD_EUNAVAIL (unreachable, 5xx, invalid reply),
 * with ragd's reason in err (never the key). */
int router_test_key(const char *provider, const char *feature, const char *base_url,
                    const char *model, const char *key, char *err, size_t errcap);
/* Tests a pooled key now (POST /admin/provider-keys/{id}/test) and records the attempt (its
 * status follows the rules above; a degraded key that passes is active again). 0 with
 * *passed, RAGD_ENOTFOUND, or a store error; err gets the reason of a failure. */
int router_test_pooled(const char *id, int *passed, char *err, size_t errcap);
/* Reloads the pool now (after a change made on this node). */
void router_reload(void);
/* Runs one round of the health monitor now (tests, and the monitor thread). */
void router_health_round(void);

/* {status, features: {F: {...}}, keys...} for /health/detailed's pool summary and
 * GET /admin/providers/health (detail: per provider x feature keys by status, key in use,
 * recent failures, success rate, p50 latency). New reference. */
json_t *router_health_json(int detail);

/* router_health_json(0), for api_add_health_check ("providers"). */
json_t *router_health_summary(void);

/* The OPENAI_* entry for GET /admin/provider-keys (read-only), or NULL when there is none.
 * New reference. */
json_t *router_env_entry_json(void);

#endif
