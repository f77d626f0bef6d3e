/* billing.h - the billing service: subscriptions and plan changes (with proration and
 * billing history), usage records and summaries, quota reservations, daily limits, and the
 * quota guard.
 *
 * Quotas cannot be overspent. A request that consumes a resource first reserves it: in one
 * store transaction (BEGIN IMMEDIATE, so atomic across threads and processes) the committed
 * usage of the calendar month plus every live hold is compared with the plan's limit and a
 * hold is written. When the response is decided the hold is committed (status < 400: the
 * counter grows and a usage record is written, before the response leaves) or released
 * (status >= 400). A hold left behind by a crash expires after QUOTA_HOLD_TTL_SECONDS.
 *
 * Layers: a route's `quota` field makes the GUARD_QUOTA stage reserve 1 unit. Reserving
 * "messages" also takes one daily request (daily_requests) and checks the daily token
 * allowance (daily_tokens, grown by the tokens_used of committed usage); reserving
 * "api_calls" also takes one daily request. Daily counters reset at 00:00 UTC, monthly
 * usage on the 1st at 00:00 UTC. Superusers are never refused, but what they use is still
 * recorded. ENABLE_BILLING=false turns the whole service off (nothing is reserved or
 * recorded); ENABLE_QUOTA_ENFORCEMENT=false keeps recording but never refuses. */
#ifndef RAGD_BILLING_H
#define RAGD_BILLING_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "store/store.h"

/* Reads ENABLE_BILLING, ENABLE_QUOTA_ENFORCEMENT, QUOTA_HOLD_TTL_SECONDS and PLANS_FILE
 * (default <data_dir>/plans.json when that file exists), loads the plans, and when billing
 * is enabled installs the quota guard and the admin plan-change hook. The caller registers
 * the /billing routes (api.h billing_routes) when billing_enabled(). Returns 0, or a
 * RAGD_E* code with a message in err. */
int billing_init(const char *data_dir, char *err, size_t errcap);
int billing_enabled(void);

/* ---- subscriptions ---- */

/* The user's active subscription as a new JSON object {id, user_id, plan_type, plan_name,
 * status, billing_cycle, started_at, current_period_start, current_period_end, ends_at,
 * auto_renew, amount_cents, currency, limits, daily_limits, features, pricing}. It is created
 * on first access from users.subscription_plan (never silently "free"), and brought back in
 * line (through billing_change_plan) when that field was changed behind billing's back. */
int billing_subscription(const char *user_id, json_t **out);

/* Moves the user to plan (and cycle, "monthly"/"yearly"; NULL keeps the current one) in one
 * transaction: the subscription, users.subscription_plan and a "subscription_updated"
 * billing_history event with the proration (credit for the unused part of the old period,
 * charge for the rest of the new one). actor_id (may be NULL) and source ("user", "admin",
 * "sync") go into the event. *out (new reference) is {changed, subscription, proration}.
 * Returns 0, RAGD_EINVAL for an unknown plan or cycle, RAGD_ENOTFOUND for an unknown user,
 * or a store error. Changing to the current plan and cycle changes nothing. */
int billing_change_plan(const char *user_id, const char *plan, const char *cycle,
                        const char *actor_id, const char *source, json_t **out);

/* The plan-change hook for PATCH /users/{id} (api_set_plan_change_hook). Does not answer. */
int billing_plan_hook(struct req *r, const char *user_id, const char *plan);

/* A page of the user's billing history, newest first: *out = {total, items, limit, offset}. */
int billing_history(const char *user_id, int64_t limit, int64_t offset, json_t **out);

/* ---- usage ---- */

/* The usage of the current calendar month (UTC) and day for u: {messages_this_month,
 * background_tasks_this_month, api_calls_this_month, storage_mb_this_month, quota_remaining,
 * limits, usage, period_start, period_end, plan_type, daily}. New reference in *out. */
int billing_usage_summary(const struct user *u, json_t **out);

/* Quota of one resource for u: {resource_type, has_quota, current_usage, reserved,
 * max_allowed, remaining, plan_type, period_start, period_end}. RAGD_EINVAL if resource is not
 * one of the plan resources (plans.h). */
int billing_quota(const struct user *u, const char *resource, json_t **out);

/* Records usage outside a request (background work that has no reservation): a usage record
 * and the monthly counter, in one transaction. extra is borrowed (may be NULL). Never
 * refused. Returns 0 or a store error. */
int billing_record_usage(const char *user_id, const char *resource, int64_t quantity,
                         json_t *extra);

/* ---- reservations: called on a request, from a guard or a handler ---- */

/* The GUARD_QUOTA stage: reserves 1 unit of rt->quota for the authenticated user. */
int billing_quota_guard(struct req *r, const struct route *rt);

/* Reserves quantity (>= 1) of resource for r's user, to be committed or released with the
 * response (see above). Returns 0 when reserved (or nothing to do: billing off, anonymous
 * request); otherwise answers the request itself - 429 QUOTA_EXCEEDED with detail {error:
 * "Quota exceeded", resource, current_usage, limit, upgrade_to, upgrade_url}, 429
 * REQUEST_LIMIT_EXCEEDED / TOKEN_LIMIT_EXCEEDED with {message, limit, used, reset_at, ...},
 * 503 if the store is unreachable, 500 for an unknown resource - and returns non-zero. */
int billing_reserve(struct req *r, const char *resource, int64_t quantity);

/* Takes quantity of a daily counter (a feature such as "mcqs_per_day", "flashcards_per_day",
 * "pdf_uploads", or "daily_tokens") for r's user, with the same commit/release as
 * billing_reserve. A limit the plan does not set is unlimited (the use is still counted).
 * Refused: answers 429 <FEATURE>_LIMIT_EXCEEDED (MCQ_LIMIT_EXCEEDED, FLASHCARD_..., ...) with
 * {message, feature, limit, used, reset_at, action, upgrade_url} and returns non-zero. */
int billing_daily_take(struct req *r, const char *name, int64_t quantity);

/* Extra data for the usage records this request commits (session_id, message_id,
 * tokens_used, processing_time_ms, rag_enabled ...): a JSON object, reference stolen;
 * replaces an earlier one. A positive integer tokens_used also grows daily_tokens. */
void billing_usage_extra(struct req *r, json_t *extra);

/* For handlers whose success is only known after the response has started (streams): the
 * reply no longer commits; the handler calls billing_commit or billing_release itself. A
 * hold neither committed nor released is released when the request ends. */
void billing_hold_manual(struct req *r);
/* Commits / releases r's holds now. Idempotent; billing_commit returns 0 or a store error. */
int billing_commit(struct req *r);
void billing_release(struct req *r);

#endif
