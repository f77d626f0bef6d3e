/* razorpay.c - Razorpay: the X-Razorpay-Signature check and the plan, subscription and
 * cancellation calls (JSON bodies, Basic RAZORPAY_KEY_ID:RAZORPAY_KEY_SECRET). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/payprov.h"
#include "core/config.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"

/* ---- signature ---- */

int razorpay_sig_verify(const char *secret, const char *header, const char *body, size_t len)
{
    if (!secret || !*secret) return RAGD_EINVAL;
    unsigned char want[32], mac[32];
    if (!header) return RAGD_EFORMAT;
    size_t n = strlen(header);
    while (n && (header[n - 1] == ' ' || header[n - 1] == '\t'))
        n--;
    while (n && (*header == ' ' || *header == '\t'))
        header++, n--;
    if (payprov_hex32(header, n, want)) return RAGD_EFORMAT;
    if (hmac_sha256(secret, strlen(secret), body, len, mac)) return RAGD_EINVAL;
    return ct_memcmp(mac, want, 32) ? RAGD_EPERM : 0;
}

/* ---- API calls ---- */

int razorpay_configured(void)
{
    const char *id = config_str("RAZORPAY_KEY_ID", NULL);
    const char *sec = config_str("RAZORPAY_KEY_SECRET", NULL);
    return id && *id && sec && *sec;
}

/* Posts the JSON body (stolen) to path; on a 2xx answer *out holds the JSON object. */
static int post(const char *path, json_t *body, json_t **out, char *err, size_t errcap)
{
    *out = NULL;
    if (!razorpay_configured()) {
        json_decref(body);
        return ragd_errf(err, errcap, RAGD_EUNAVAIL, "Razorpay is not configured");
    }
    char *cred = xasprintf("%s:%s", config_str("RAZORPAY_KEY_ID", ""),
                           config_str("RAZORPAY_KEY_SECRET", ""));
    size_t cl = strlen(cred);
    char *b64 = xmalloc(4 * (cl / 3 + 1) + 8);
    b64_encode(cred, cl, b64);
    char *auth = xasprintf("Basic %s", b64);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) panic("json_dumps failed");
    struct payprov_reply rep;
    int rc = payprov_http("POST", config_str("RAZORPAY_API_BASE", "https://api.razorpay.com"), path,
                          auth, "application/json", text, &rep, err, errcap);
    explicit_bzero(cred, cl);
    explicit_bzero(b64, strlen(b64));
    explicit_bzero(auth, strlen(auth));
    free(cred);
    free(b64);
    free(auth);
    free(text);
    if (rc) return rc;
    if (rep.status >= 200 && rep.status < 300 && json_is_object(rep.body)) {
        *out = rep.body;
        return 0;
    }
    const char *msg =
        json_string_value(json_object_get(json_object_get(rep.body, "error"), "description"));
    rc = ragd_errf(err, errcap, rep.status >= 500 || rep.status < 200 ? RAGD_EUNAVAIL : RAGD_EINVAL,
                   "Razorpay answered HTTP %ld%s%.200s", rep.status, msg ? ": " : "",
                   msg ? msg : "");
    json_decref(rep.body);
    return rc;
}

static int take_id(json_t *o, char id[128], char *err, size_t errcap)
{
    const char *i = json_string_value(json_object_get(o, "id"));
    if (!i) return ragd_errf(err, errcap, RAGD_EFORMAT, "Razorpay's answer has no id");
    snprintf(id, 128, "%s", i);
    return 0;
}

int razorpay_plan_create(const struct payprov_checkout *co, char plan_id[128], char *err,
                         size_t errcap)
{
    int yearly = !strcmp(co->cycle, "yearly");
    json_t *b = json_pack(
        "{s:s, s:i, s:{s:s, s:I, s:s}, s:{s:s, s:s}}", "period", yearly ? "yearly" : "monthly",
        "interval", 1, "item", "name", co->plan_name, "amount", (json_int_t)co->amount_cents,
        "currency", co->currency, "notes", "plan_type", co->plan_type, "billing_cycle", co->cycle);
    json_t *o;
    int rc = post("/v1/plans", b, &o, err, errcap);
    if (rc) return rc;
    rc = take_id(o, plan_id, err, errcap);
    json_decref(o);
    return rc;
}

int razorpay_subscription_create(const struct payprov_checkout *co, char subscription_id[128],
                                 char **url, char *err, size_t errcap)
{
    int yearly = !strcmp(co->cycle, "yearly");
    json_t *b =
        json_pack("{s:s, s:i, s:i, s:{s:s, s:s, s:s}}", "plan_id", co->provider_plan, "total_count",
                  yearly ? 10 : 120, "customer_notify", 1, "notes", "user_id", co->user_id,
                  "plan_type", co->plan_type, "billing_cycle", co->cycle);
    json_t *o;
    int rc = post("/v1/subscriptions", b, &o, err, errcap);
    if (rc) return rc;
    const char *u = json_string_value(json_object_get(o, "short_url"));
    rc = take_id(o, subscription_id, err, errcap);
    if (!rc && !u) rc = ragd_errf(err, errcap, RAGD_EFORMAT, "Razorpay's answer has no short_url");
    if (!rc) *url = xstrdup(u);
    json_decref(o);
    return rc;
}

int razorpay_cancel(const char *subscription_id, char *err, size_t errcap)
{
    for (const char *c = subscription_id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return ragd_errf(err, errcap, RAGD_EINVAL, "bad subscription id");
    char *path = xasprintf("/v1/subscriptions/%s/cancel", subscription_id);
    json_t *o;
    int rc = post(path, json_pack("{s:i}", "cancel_at_cycle_end", 1), &o, err, errcap);
    free(path);
    json_decref(o);
    return rc;
}
