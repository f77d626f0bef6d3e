/* provider_keys.h - the provider key pool (seed 003 "API Key Pool Management"): shared keys
 * (provider_keys), per-user personal keys (user_provider_keys), one row per attempt made
 * with a key (provider_health) and the pool's state row (a version every change bumps, so
 * that every node notices a change with one cheap read, and the health monitor's lease).
 *
 * Keys are stored sealed (core/seal.h: ciphertext, nonce, tag, with the row id - or
 * "user:<id>" for a personal key - as associated data) with their last 4 characters and an
 * HMAC fingerprint (unique: a duplicate is refused). This module never sees a plaintext key.
 *
 * Changes that cause a notification (ops/notify.h) write it in the same transaction. */
#ifndef RAGD_STORE_PROVIDER_KEYS_H
#define RAGD_STORE_PROVIDER_KEYS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Registers the migrations 330-332 (call before store_migrate). */
void store_pkeys_register(void);

/* One key as stored. Strings are owned by the struct (store_pkey_clear). */
struct store_pkey {
    char id[48];
    char provider[16]; /* "openai" | "gemini" */
    char *base_url, *model;
    char feature[16]; /* chat, flashcard, mcq, highyield, explain, map, embeddings, or "*" */
    char *label;
    int priority;
    char status[12]; /* active | degraded | disabled */
    int64_t failure_count, success_total, failure_total;
    int64_t last_used_ms, cooldown_until_ms; /* 0: never / none */
    char *last_error, *created_by;
    char created_at[32];
    char *ciphertext;
    char nonce[32], tag[40], last4[8];
};
void store_pkey_clear(struct store_pkey *k);
void store_pkeys_free(struct store_pkey *k, size_t n);

/* Inserts k (id, provider, base_url, model, feature, label, priority, status, created_by and
 * the sealed fields) with its fingerprint, bumps the version and emits key_added with
 * details (stolen; may be NULL). 0, RAGD_EEXIST when the fingerprint is already in the pool,
 * or a store error. */
int store_pkey_insert(const struct store_pkey *k, const char *fingerprint, json_t *details);
/* *exists: whether a shared key with this fingerprint is in the pool. */
int store_pkey_fingerprint_exists(const char *fingerprint, int *exists);
/* Every shared key, highest priority first. 0 with *out (store_pkeys_free) and *n. */
int store_pkey_list(struct store_pkey **out, size_t *n);
/* One key. 0, RAGD_ENOTFOUND or a store error. */
int store_pkey_get(const char *id, struct store_pkey *out);

/* A change by an admin: fields with has_* set. Setting status to active also clears the
 * failure streak and the cooldown. event (may be NULL) is emitted with details (stolen). */
struct store_pkey_patch {
    int has_priority, priority;
    const char *status, *feature, *label; /* NULL: unchanged */
};
int store_pkey_update(const char *id, const struct store_pkey_patch *p, const char *event,
                      json_t *details);
/* Deletes a key (its health rows stay) and emits key_deleted with details (stolen).
 * 0, RAGD_ENOTFOUND or a store error. */
int store_pkey_delete(const char *id, json_t *details);

/* The outcome of one attempt with a key. */
enum store_pkey_outcome {
    PKEY_OK,
    PKEY_RATE_LIMITED, /* 429 / quota: cooldown until cooldown_until_ms, not a failure */
    PKEY_AUTH,         /* 401/403: the key is disabled at once */
    PKEY_ERROR,        /* 5xx, connection error, timeout, invalid reply: counts a failure */
    PKEY_TAMPERED,     /* the sealed key does not open: disabled */
};
const char *store_pkey_outcome_name(enum store_pkey_outcome o);

struct store_pkey_attempt {
    const char *key_id, *provider, *feature, *label;
    enum store_pkey_outcome outcome;
    const char *error_kind; /* short: "http_500", "timeout", "invalid_reply", ...; NULL if ok */
    int64_t latency_ms;
    int64_t cooldown_until_ms; /* for PKEY_RATE_LIMITED */
    int threshold;             /* consecutive failures that make an active key degraded */
    int pooled;                /* a provider_keys row (0: environment or personal key) */
    int64_t at_ms;             /* when (0: now) */
};
/* Records an attempt: a provider_health row and, for a pooled key, its counters and status
 * transitions with their notifications (key_failed on the first failure of a streak,
 * key_degraded at the threshold, key_disabled, key_recovered when a degraded key answers).
 * *status_out (may be NULL) gets the key's status afterwards ("" when not pooled);
 * *changed (may be NULL) whether the status or cooldown changed (the version was bumped). */
int store_pkey_record(const struct store_pkey_attempt *a, char status_out[12], int *changed);

/* Records successes of active keys (outcome PKEY_OK) in one transaction: the health rows,
 * and for pooled keys the counters (a key no longer active is left to the rules above). A
 * success older than the key's last recorded attempt (at_ms before last_used_ms) counts in
 * success_total but leaves the failure streak and last use as they are. */
int store_pkey_record_successes(const struct store_pkey_attempt *a, size_t n);

/* Emits event with details (stolen) on its own transaction (failover, all keys failed). */
int store_pkey_notify(const char *event, json_t *details);

/* The pool's version: changes whenever a key is added, changed, deleted or changes status
 * or cooldown, or a personal key is set or removed. */
int store_pkey_version(int64_t *out);

/* Takes or renews the health monitor's lease for node until now_ms + ttl_ms. *held: 1 when
 * node holds it now. */
int store_pkey_lease(const char *node, int64_t now_ms, int64_t ttl_ms, int *held);

/* Recent attempts (provider_health), newest first, since since_ms, at most limit. */
struct store_pkey_health {
    char key_id[48], provider[16], feature[16], outcome[16];
    int64_t latency_ms, at_ms;
    char *error;
};
int store_pkey_health_list(int64_t since_ms, int64_t limit, struct store_pkey_health **out,
                           size_t *n);
void store_pkey_health_free(struct store_pkey_health *h, size_t n);
/* Deletes health rows older than before_ms. */
int store_pkey_health_prune(int64_t before_ms);

/* ---- personal keys ---- */
/* Sets user_id's key (replacing any): provider, base_url, model, sealed fields of k. */
int store_pkey_user_set(const char *user_id, const struct store_pkey *k);
/* 0 with *out filled (id = "user:<user_id>", status active), RAGD_ENOTFOUND or an error. */
int store_pkey_user_get(const char *user_id, struct store_pkey *out);
/* 0 or RAGD_ENOTFOUND. */
int store_pkey_user_delete(const char *user_id);
/* How many users have a personal key. */
int store_pkey_user_count(int64_t *out);

#endif
