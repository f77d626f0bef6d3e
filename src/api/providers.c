/* providers.c (api) - the provider key pool: /admin/provider-keys, /admin/providers/health and
 * the caller's personal key (/users/me/provider-key). A key is accepted here, sealed
 * (core/seal.h) and never shown again: lists carry its last 4 characters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/seal.h"
#include "core/util.h"
#include "llm/router.h"
#include "ops/notify.h"
#include "store/provider_keys.h"

static const char *const providers[] = {"openai", "gemini", NULL};
static const char *const features[] = {"chat", "flashcard",  "mcq", "highyield", "explain",
                                       "map",  "embeddings", "*",   NULL};
static const char *const statuses[] = {"active", "degraded", "disabled", NULL};

static const struct jv_field add_fields[] = {
    {"provider", JV_STRING, 1, 0, 0, 0, providers,
     "Wire format: openai (any OpenAI-compatible server) or gemini"},
    {"key", JV_STRING, 1, 8, 4096, 0, NULL, "The API key (stored encrypted, never shown again)"},
    {"base_url", JV_STRING, 0, 0, 2048, 1, NULL,
     "API base (default https://api.openai.com/v1 or the Gemini v1beta endpoint)"},
    {"model", JV_STRING, 0, 1, 256, 1, NULL, "Model name (default gpt-4o-mini / gemini-2.0-flash)"},
    {"feature", JV_STRING, 0, 0, 0, 1, features, "Feature the key serves (default '*': all)"},
    {"label", JV_STRING, 0, 0, 100, 1, NULL, "A name for people"},
    {"priority", JV_INT, 0, -1000000, 1000000, 1, NULL,
     "Higher first (seed: 100 free tier, 50 paid, 10 last resort); default 50"},
    {"skip_test", JV_BOOL, 0, 0, 0, 1, NULL, "Store without the minimal test call"},
    {NULL},
};
static const struct jv_schema add_schema = {add_fields, 0};

static const struct jv_field patch_fields[] = {
    {"priority", JV_INT, 0, -1000000, 1000000, 1, NULL, "Higher first"},
    {"status", JV_STRING, 0, 0, 0, 1, statuses,
     "active (also clears failures), degraded, disabled"},
    {"feature", JV_STRING, 0, 0, 0, 1, features, "Feature the key serves"},
    {"label", JV_STRING, 0, 0, 100, 1, NULL, "A name for people"},
    {NULL},
};
static const struct jv_schema patch_schema = {patch_fields, 0};

static const struct jv_field personal_fields[] = {
    {"provider", JV_STRING, 1, 0, 0, 0, providers, "openai or gemini"},
    {"key", JV_STRING, 1, 8, 4096, 0, NULL, "Your API key (stored encrypted)"},
    {"base_url", JV_STRING, 0, 0, 2048, 1, NULL, "API base"},
    {"model", JV_STRING, 0, 1, 256, 1, NULL, "Model name"},
    {"skip_test", JV_BOOL, 0, 0, 0, 1, NULL, "Store without the minimal test call"},
    {NULL},
};
static const struct jv_schema personal_schema = {personal_fields, 0};

static const char *default_base(const char *provider)
{
    return !strcmp(provider, "gemini") ? "https://generativelanguage.googleapis.com/v1beta"
                                       : "https://api.openai.com/v1";
}

static const char *default_model(const char *provider)
{
    return !strcmp(provider, "gemini") ? "gemini-2.0-flash" : "gpt-4o-mini";
}

static json_t *time_or_null(int64_t ms)
{
    char ts[32];
    return ms > 0 ? json_string(time_iso(ms, ts)) : json_null();
}

static json_t *key_json(const struct store_pkey *k)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:I, s:I, s:I, s:o, s:o, s:s?,"
                     " s:s?, s:s, s:s, s:b}",
                     "id", k->id, "provider", k->provider, "base_url", k->base_url, "model",
                     k->model, "feature", k->feature, "label", k->label ? k->label : "", "priority",
                     k->priority, "status", k->status, "failure_count",
                     (json_int_t)k->failure_count, "success_total", (json_int_t)k->success_total,
                     "failure_total", (json_int_t)k->failure_total, "last_used_at",
                     time_or_null(k->last_used_ms), "cooldown_until",
                     time_or_null(k->cooldown_until_ms > time_now_ms() ? k->cooldown_until_ms : 0),
                     "last_error", k->last_error, "created_by", k->created_by, "created_at",
                     k->created_at, "key_last4", k->last4, "read_only", 0);
}

/* The minimal test call's refusal as a 4xx. Returns non-zero when it answered r. */
static int test_refused(struct req *r, const char *provider, const char *feature, const char *base,
                        const char *model, const char *key)
{
    char why[256] = "";
    int rc = router_test_key(provider, feature, base, model, key, why, sizeof why);
    if (!rc) return 0;
    if (rc == RAGD_EPERM)
        http_error(r, 422, "KEY_INVALID", "The provider rejected the key: %s", why);
    else if (rc == RAGD_ELIMIT)
        http_error(r, 422, "KEY_RATE_LIMITED",
                   "The provider is rate limiting this key or it is out of quota (%s); add it "
                   "with skip_test to store it anyway",
                   why);
    else
        http_error(r, 422, "PROVIDER_UNREACHABLE", "The test call failed: %s", why);
    return 1;
}

/* Seals key for aad into k (ciphertext, nonce, tag, last4). 0 or answers 500/503. */
static int seal_into(struct req *r, const char *key, const char *aad, struct store_pkey *k)
{
    if (seal_encrypt(key, aad, &k->ciphertext, k->nonce, k->tag)) {
        http_error(r, 500, "ENCRYPTION_FAILED", "The key could not be encrypted");
        return 1;
    }
    size_t n = strlen(key);
    snprintf(k->last4, sizeof k->last4, "%s", n >= 8 ? key + n - 4 : "");
    return 0;
}

static int key_chars_ok(const char *key)
{
    for (const char *p = key; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f) return 0;
    return 1;
}

static void add_work(struct req *r)
{
    json_t *b = req_json(r);
    const char *provider = jv_str(b, "provider", "openai"), *key = jv_str(b, "key", "");
    const char *base = jv_str(b, "base_url", default_base(provider));
    const char *model = jv_str(b, "model", default_model(provider));
    const char *feature = jv_str(b, "feature", "*");
    if (!key_chars_ok(key)) {
        api_invalid(r, "key", "field 'key' must not contain spaces or control characters");
        return;
    }
    if (strncmp(base, "http://", 7) && strncmp(base, "https://", 8)) {
        api_invalid(r, "base_url", "field 'base_url' must be an http(s) URL");
        return;
    }
    if (!strcmp(feature, "embeddings") && strcmp(provider, "openai")) {
        api_invalid(r, "feature", "embeddings keys must use the openai format");
        return;
    }
    char fp[SEAL_FP_HEX];
    if (seal_fingerprint(key, fp)) {
        http_error(r, 500, "ENCRYPTION_FAILED", "No encryption key is loaded");
        return;
    }
    /* A duplicate is refused before any call is made with it. */
    int dup = 0, rc = store_pkey_fingerprint_exists(fp, &dup);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    if (dup) {
        http_error(r, 409, "DUPLICATE_KEY", "This key is already in the pool");
        return;
    }
    if (!jv_bool(b, "skip_test", 0) && test_refused(r, provider, feature, base, model, key)) return;
    struct store_pkey k = {0};
    uuid4(k.id);
    snprintf(k.provider, sizeof k.provider, "%s", provider);
    snprintf(k.feature, sizeof k.feature, "%s", feature);
    snprintf(k.status, sizeof k.status, "active");
    k.base_url = xstrdup(base);
    k.model = xstrdup(model);
    k.label = xstrdup(jv_str(b, "label", ""));
    k.priority = (int)jv_int(b, "priority", 50);
    const struct user *u = api_user(r);
    k.created_by = xstrdup(u ? u->id : "");
    if (seal_into(r, key, k.id, &k)) {
        store_pkey_clear(&k);
        return;
    }
    json_t *details = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "key_id", k.id, "provider",
                                k.provider, "feature", k.feature, "label", k.label, "priority",
                                k.priority, "key_last4", k.last4);
    rc = store_pkey_insert(&k, fp, json_incref(details));
    if (rc == RAGD_EEXIST) {
        http_error(r, 409, "DUPLICATE_KEY", "This key is already in the pool");
    } else if (rc) {
        http_store_error(r, rc);
    } else {
        api_audit(r, "provider_key.add", "provider_key", k.id, details);
        router_reload();
        struct store_pkey saved;
        if (store_pkey_get(k.id, &saved) == 0) {
            http_json(r, 201, key_json(&saved));
            store_pkey_clear(&saved);
        } else {
            http_json(r, 201, json_pack("{s:s}", "id", k.id));
        }
    }
    json_decref(details);
    store_pkey_clear(&k);
}

static void add(struct req *r)
{
    http_defer(r, add_work);
}

static void list(struct req *r)
{
    struct store_pkey *keys;
    size_t n;
    int rc = store_pkey_list(&keys, &n);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, key_json(&keys[i]));
    store_pkeys_free(keys, n);
    json_t *env = router_env_entry_json();
    if (env) json_array_append_new(items, env);
    http_json(r, 200,
              json_pack("{s:o, s:I}", "keys", items, "total", (json_int_t)json_array_size(items)));
}

static int env_entry(struct req *r, const char *id)
{
    if (strcmp(id, "env")) return 0;
    http_error(r, 409, "READ_ONLY",
               "This entry comes from the OPENAI_* environment variables: change them and "
               "restart");
    return 1;
}

/* A failed look-up or change of one key: 404 KEY_NOT_FOUND, else the store's error. */
static void key_error(struct req *r, int rc)
{
    if (rc == RAGD_ENOTFOUND)
        http_error(r, 404, "KEY_NOT_FOUND", "No provider key has that id");
    else
        http_store_error(r, rc);
}
static void patch(struct req *r)
{
    const char *id = req_param(r, "id");
    if (env_entry(r, id)) return;
    json_t *b = req_json(r);
    struct store_pkey_patch p = {
        .has_priority = json_is_integer(json_object_get(b, "priority")),
        .priority = (int)jv_int(b, "priority", 0),
        .status = jv_str(b, "status", NULL),
        .feature = jv_str(b, "feature", NULL),
        .label = jv_str(b, "label", NULL),
    };
    struct store_pkey before;
    int rc = store_pkey_get(id, &before);
    if (rc) {
        key_error(r, rc);
        return;
    }
    if (p.feature && !strcmp(p.feature, "embeddings") && strcmp(before.provider, "openai")) {
        store_pkey_clear(&before);
        api_invalid(r, "feature", "embeddings keys must use the openai format");
        return;
    }
    /* A status set by hand notifies like one the router sets. */
    const char *event = NULL;
    if (p.status && strcmp(p.status, before.status))
        event = !strcmp(p.status, "disabled")   ? NOTIFY_KEY_DISABLED
                : !strcmp(p.status, "degraded") ? NOTIFY_KEY_DEGRADED
                                                : NOTIFY_KEY_RECOVERED;
    json_t *details = json_pack("{s:s, s:s, s:s, s:O}", "key_id", id, "label",
                                before.label ? before.label : "", "by", "admin", "changes", b);
    rc = store_pkey_update(id, &p, event, json_incref(details));
    store_pkey_clear(&before);
    if (rc) {
        json_decref(details);
        key_error(r, rc);
        return;
    }
    api_audit(r, "provider_key.update", "provider_key", id, details);
    json_decref(details);
    router_reload();
    struct store_pkey k;
    if (store_pkey_get(id, &k) == 0) {
        http_json(r, 200, key_json(&k));
        store_pkey_clear(&k);
    } else {
        http_json(r, 200, json_pack("{s:s}", "id", id));
    }
}

static void del(struct req *r)
{
    const char *id = req_param(r, "id");
    if (env_entry(r, id)) return;
    const char *confirm = req_query(r, "confirm");
    if (!confirm || strcmp(confirm, "true")) {
        http_error(r, 400, "CONFIRMATION_REQUIRED",
                   "Deleting a provider key cannot be undone: repeat with ?confirm=true");
        return;
    }
    struct store_pkey k;
    int rc = store_pkey_get(id, &k);
    if (rc) {
        key_error(r, rc);
        return;
    }
    json_t *details =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "key_id", id, "provider", k.provider, "feature",
                  k.feature, "label", k.label ? k.label : "", "key_last4", k.last4);
    store_pkey_clear(&k);
    rc = store_pkey_delete(id, json_incref(details));
    if (rc) {
        json_decref(details);
        key_error(r, rc);
        return;
    }
    api_audit(r, "provider_key.delete", "provider_key", id, details);
    json_decref(details);
    router_reload();
    http_json(r, 200, json_pack("{s:s, s:s}", "status", "deleted", "id", id));
}

static void test_work(struct req *r)
{
    const char *id = req_param(r, "id");
    int passed = 0;
    char why[256] = "";
    int rc = router_test_pooled(id, &passed, why, sizeof why);
    if (rc) {
        key_error(r, rc);
        return;
    }
    api_audit(r, "provider_key.test", "provider_key", id, NULL);
    struct store_pkey k;
    json_t *out =
        json_pack("{s:s, s:b, s:s?}", "id", id, "passed", passed, "error", passed ? NULL : why);
    if (store_pkey_get(id, &k) == 0) {
        json_object_set_new(out, "key", key_json(&k));
        store_pkey_clear(&k);
    }
    http_json(r, 200, out);
}

static void test_key(struct req *r)
{
    http_defer(r, test_work);
}

static void health_work(struct req *r)
{
    http_json(r, 200, router_health_json(1));
}

static void health(struct req *r)
{
    http_defer(r, health_work);
}

/* ---- personal keys ---- */

/* Whether a user may point a personal key at base: the providers' own endpoints, or those
 * listed in PERSONAL_KEY_BASE_URLS (comma list; "*" any). A user must not make the server
 * send requests to addresses of the operator's network. */
static int personal_base_allowed(const char *base)
{
    const char *list = config_str("PERSONAL_KEY_BASE_URLS", NULL);
    if (!strcmp(base, default_base("openai")) || !strcmp(base, default_base("gemini"))) return 1;
    if (!list) return 0;
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '/'))
            n--;
        if ((n == 1 && *p == '*') || (n && n == bl && !strncmp(p, base, n))) return 1;
        p = e;
    }
    return 0;
}

static void personal_put_work(struct req *r)
{
    json_t *b = req_json(r);
    const char *provider = jv_str(b, "provider", "openai"), *key = jv_str(b, "key", "");
    const char *base = jv_str(b, "base_url", default_base(provider));
    const char *model = jv_str(b, "model", default_model(provider));
    if (!key_chars_ok(key)) {
        api_invalid(r, "key", "field 'key' must not contain spaces or control characters");
        return;
    }
    if (!personal_base_allowed(base)) {
        api_invalid(r, "base_url",
                    "field 'base_url' must be the provider's own endpoint or one the operator "
                    "allows (PERSONAL_KEY_BASE_URLS)");
        return;
    }
    if (!jv_bool(b, "skip_test", 0) && test_refused(r, provider, "chat", base, model, key)) return;
    const struct user *u = api_user(r);
    struct store_pkey k = {0};
    snprintf(k.provider, sizeof k.provider, "%s", provider);
    k.base_url = xstrdup(base);
    k.model = xstrdup(model);
    char aad[48];
    snprintf(aad, sizeof aad, "user:%s", u->id);
    if (seal_into(r, key, aad, &k)) {
        store_pkey_clear(&k);
        return;
    }
    int rc = store_pkey_user_set(u->id, &k);
    if (rc) {
        http_store_error(r, rc);
    } else {
        router_reload();
        http_json(r, 200,
                  json_pack("{s:s, s:s, s:s, s:s, s:s}", "status", "saved", "provider", k.provider,
                            "base_url", k.base_url, "model", k.model, "key_last4", k.last4));
    }
    store_pkey_clear(&k);
}

static void personal_put(struct req *r)
{
    http_defer(r, personal_put_work);
}

static void personal_get(struct req *r)
{
    struct store_pkey k;
    int rc = store_pkey_user_get(api_user(r)->id, &k);
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "NO_PROVIDER_KEY", "You have no personal provider key");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 200,
              json_pack("{s:s, s:s, s:s, s:s, s:s}", "provider", k.provider, "base_url", k.base_url,
                        "model", k.model, "key_last4", k.last4, "created_at", k.created_at));
    store_pkey_clear(&k);
}

static void personal_delete(struct req *r)
{
    int rc = store_pkey_user_delete(api_user(r)->id);
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "NO_PROVIDER_KEY", "You have no personal provider key");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    router_reload();
    http_json(r, 200, json_pack("{s:s}", "status", "deleted"));
}

const struct route provider_routes[] = {
    {.method = "POST",
     .pattern = "/admin/provider-keys",
     .handler = add,
     .access = ACCESS_ADMIN,
     .rate = "api",
     .body = &add_schema,
     .tag = "providers",
     .summary = "Add a key to the provider pool (a minimal test call first unless skip_test); "
                "409 DUPLICATE_KEY for a key already there",
     .ok_status = 201,
     .response_doc = "{id, provider, model, feature, label, priority, status, key_last4, ...}",
     .perm = "providers.manage",
     .response = "$ProviderKey|{id: string}"},
    {.method = "GET",
     .pattern = "/admin/provider-keys",
     .handler = list,
     .access = ACCESS_ADMIN,
     .rate = "api",
     .tag = "providers",
     .summary = "The provider key pool (keys show their last 4 characters only)",
     .response_doc = "{keys, total}",
     .perm = "providers.read",
     .response = "{keys: [$ProviderKey], total: int}"},
    {.method = "PATCH",
     .pattern = "/admin/provider-keys/{id}",
     .handler = patch,
     .access = ACCESS_ADMIN,
     .rate = "api",
     .body = &patch_schema,
     .tag = "providers",
     .summary = "Change a key's priority, status, feature or label",
     .response_doc = "the key",
     .perm = "providers.manage",
     .response = "$ProviderKey|{id: string}"},
    {.method = "DELETE",
     .pattern = "/admin/provider-keys/{id}",
     .handler = del,
     .access = ACCESS_ADMIN,
     .rate = "api",
     .tag = "providers",
     .summary = "Delete a key; needs ?confirm=true (400 CONFIRMATION_REQUIRED without it)",
     .response_doc = "{status, id}",
     .perm = "providers.manage",
     .response = "{status: 'deleted', id: string}"},
    {.method = "POST",
     .pattern = "/admin/provider-keys/{id}/test",
     .handler = test_key,
     .access = ACCESS_ADMIN,
     .rate = "api",
     .tag = "providers",
     .summary = "Test a key now with a minimal call (a degraded key that passes is active again)",
     .response_doc = "{id, passed, error, key}",
     .perm = "providers.manage",
     .response = "{id: string, passed: bool, error?: string, key?: $ProviderKey}"},
    {.method = "GET",
     .pattern = "/admin/providers/health",
     .handler = health,
     .access = ACCESS_ADMIN,
     .rate = "api",
     .tag = "providers",
     .summary = "Per provider and feature: status, keys by status, the key in use, recent "
                "failures, success rate and p50 latency over the last hour",
     .response_doc = "{status, features, providers, undecryptable}",
     .perm = "providers.read",
     .response = "{status: 'healthy'|'degraded', keys: int, features: {*: {status: string, "
                 "active: int, degraded: int, disabled: int, cooling_down: int, undecryptable: "
                 "int}}, undecryptable: [object], environment_key: bool, local_engine: bool, "
                 "providers?: [object], ...}"},
    {.method = "PUT",
     .pattern = "/users/me/provider-key",
     .handler = personal_put,
     .access = ACCESS_USER,
     .rate = "api",
     .body = &personal_schema,
     .tag = "providers",
     .summary = "Set your personal provider key (used before the shared pool)",
     .response_doc = "{status, provider, base_url, model, key_last4}",
     .response = "{status: 'saved', provider: string, base_url: string, model: string, "
                 "key_last4: string}"},
    {.method = "GET",
     .pattern = "/users/me/provider-key",
     .handler = personal_get,
     .access = ACCESS_USER,
     .rate = "api",
     .tag = "providers",
     .summary = "Your personal provider key (last 4 characters only)",
     .response_doc = "{provider, base_url, model, key_last4, created_at}",
     .response = "{provider: string, base_url: string, model: string, key_last4: string, "
                 "created_at: string}"},
    {.method = "DELETE",
     .pattern = "/users/me/provider-key",
     .handler = personal_delete,
     .access = ACCESS_USER,
     .rate = "api",
     .tag = "providers",
     .summary = "Remove your personal provider key",
     .response_doc = "{status}",
     .response = "{status: 'deleted'}"},
    {NULL},
};
