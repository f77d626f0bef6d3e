/* stripe.c - Stripe: the Stripe-Signature check and the Checkout, customer-portal and
 * cancellation calls (form-encoded, Bearer STRIPE_API_KEY). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/payprov.h"
#include "core/config.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"

/* ---- signature ---- */

int stripe_sig_parse(const char *header, struct stripe_sig *out)
{
    memset(out, 0, sizeof *out);
    out->t = -1;
    const char *p = header;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        const char *eq = memchr(p, '=', n);
        if (eq) {
            size_t klen = (size_t)(eq - p), vlen = n - klen - 1;
            const char *v = eq + 1;
            while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (klen == 1 && *p == 't' && vlen && vlen <= 12 && out->t < 0) {
                int64_t t = 0;
                size_t i = 0;
                for (; i < vlen && v[i] >= '0' && v[i] <= '9'; i++)
                    t = t * 10 + (v[i] - '0');
                if (i == vlen) out->t = t;
            } else if (klen == 2 && p[0] == 'v' && p[1] == '1' && out->nv1 < PAYSIG_MAX_V1) {
                if (!payprov_hex32(v, vlen, out->v1[out->nv1])) out->nv1++;
            }
        }
        p = end ? end + 1 : NULL;
    }
    return out->t >= 0 && out->nv1 > 0 ? 0 : RAGD_EFORMAT;
}

int stripe_sig_verify(const char *secret, const char *header, const char *body, size_t len,
                      int64_t now_s, int64_t tolerance_s)
{
    if (!secret || !*secret) return RAGD_EINVAL;
    struct stripe_sig sig;
    if (!header || stripe_sig_parse(header, &sig)) return RAGD_EFORMAT;
    char ts[24];
    int tn = snprintf(ts, sizeof ts, "%lld.", (long long)sig.t);
    size_t mlen = (size_t)tn + len;
    char *msg = xmalloc(mlen + 1);
    memcpy(msg, ts, (size_t)tn);
    if (len) memcpy(msg + tn, body, len);
    unsigned char mac[32];
    int rc = hmac_sha256(secret, strlen(secret), msg, mlen, mac);
    free(msg);
    if (rc) return RAGD_EINVAL;
    int ok = 0;
    for (int i = 0; i < sig.nv1; i++)
        ok |= !ct_memcmp(mac, sig.v1[i], 32);
    if (!ok) return RAGD_EPERM;
    int64_t d = now_s - sig.t;
    if (d > tolerance_s || -d > tolerance_s) return RAGD_ERANGE;
    return 0;
}

/* ---- API calls ---- */

static const char *base(void)
{
    return config_str("STRIPE_API_BASE", "https://api.stripe.com");
}

int stripe_configured(void)
{
    const char *k = config_str("STRIPE_API_KEY", NULL);
    return k && *k;
}

/* Posts form to path; on a 2xx answer *out holds the JSON object. */
static int post(const char *path, const char *form, json_t **out, char *err, size_t errcap)
{
    *out = NULL;
    if (!stripe_configured())
        return ragd_errf(err, errcap, RAGD_EUNAVAIL, "Stripe is not configured");
    char *auth = xasprintf("Bearer %s", config_str("STRIPE_API_KEY", ""));
    struct payprov_reply rep;
    int rc = payprov_http("POST", base(), path, auth, "application/x-www-form-urlencoded", form,
                          &rep, err, errcap);
    explicit_bzero(auth, strlen(auth));
    free(auth);
    if (rc) return rc;
    if (rep.status >= 200 && rep.status < 300 && json_is_object(rep.body)) {
        *out = rep.body;
        return 0;
    }
    const char *msg =
        json_string_value(json_object_get(json_object_get(rep.body, "error"), "message"));
    rc = ragd_errf(err, errcap, rep.status >= 500 || rep.status < 200 ? RAGD_EUNAVAIL : RAGD_EINVAL,
                   "Stripe answered HTTP %ld%s%.200s", rep.status, msg ? ": " : "", msg ? msg : "");
    json_decref(rep.body);
    return rc;
}

static int id_and_url(json_t *o, char *id, size_t idcap, char **url, char *err, size_t errcap)
{
    const char *i = json_string_value(json_object_get(o, "id"));
    const char *u = json_string_value(json_object_get(o, "url"));
    if (!u || (id && !i))
        return ragd_errf(err, errcap, RAGD_EFORMAT, "Stripe's answer has no id or url");
    if (id) snprintf(id, idcap, "%s", i);
    *url = xstrdup(u);
    return 0;
}

int stripe_checkout_create(const struct payprov_checkout *co, char session_id[128], char **url,
                           char *err, size_t errcap)
{
    struct sbuf f;
    sb_init(&f);
    char amount[24], cur[8];
    snprintf(amount, sizeof amount, "%lld", (long long)co->amount_cents);
    snprintf(cur, sizeof cur, "%s", co->currency);
    for (char *c = cur; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    payprov_form_add(&f, "mode", "subscription");
    payprov_form_add(&f, "success_url", co->success_url);
    payprov_form_add(&f, "cancel_url", co->cancel_url);
    payprov_form_add(&f, "client_reference_id", co->user_id);
    if (co->customer_id && *co->customer_id)
        payprov_form_add(&f, "customer", co->customer_id);
    else if (co->email && *co->email)
        payprov_form_add(&f, "customer_email", co->email);
    payprov_form_add(&f, "line_items[0][quantity]", "1");
    payprov_form_add(&f, "line_items[0][price_data][currency]", cur);
    payprov_form_add(&f, "line_items[0][price_data][unit_amount]", amount);
    payprov_form_add(&f, "line_items[0][price_data][recurring][interval]",
                     !strcmp(co->cycle, "yearly") ? "year" : "month");
    payprov_form_add(&f, "line_items[0][price_data][product_data][name]", co->plan_name);
    static const char *const prefixes[] = {"metadata", "subscription_data[metadata]"};
    for (int i = 0; i < 2; i++) {
        char k[64];
        snprintf(k, sizeof k, "%s[user_id]", prefixes[i]);
        payprov_form_add(&f, k, co->user_id);
        snprintf(k, sizeof k, "%s[plan_type]", prefixes[i]);
        payprov_form_add(&f, k, co->plan_type);
        snprintf(k, sizeof k, "%s[billing_cycle]", prefixes[i]);
        payprov_form_add(&f, k, co->cycle);
    }
    char *form = sb_take(&f);
    json_t *o;
    int rc = post("/v1/checkout/sessions", form, &o, err, errcap);
    free(form);
    if (rc) return rc;
    rc = id_and_url(o, session_id, 128, url, err, errcap);
    json_decref(o);
    return rc;
}

int stripe_portal_create(const char *customer_id, const char *return_url, char **url, char *err,
                         size_t errcap)
{
    struct sbuf f;
    sb_init(&f);
    payprov_form_add(&f, "customer", customer_id);
    payprov_form_add(&f, "return_url", return_url);
    char *form = sb_take(&f);
    json_t *o;
    int rc = post("/v1/billing_portal/sessions", form, &o, err, errcap);
    free(form);
    if (rc) return rc;
    rc = id_and_url(o, NULL, 0, url, err, errcap);
    json_decref(o);
    return rc;
}

int stripe_cancel(const char *subscription_id, char *err, size_t errcap)
{
    struct sbuf p;
    sb_init(&p);
    sb_adds(&p, "/v1/subscriptions/");
    struct sbuf enc;
    sb_init(&enc);
    payprov_form_add(&enc, "x", subscription_id); /* "x=<percent-encoded id>" */
    sb_adds(&p, enc.s + 2);
    sb_free(&enc);
    char *path = sb_take(&p);
    json_t *o;
    int rc = post(path, "cancel_at_period_end=true", &o, err, errcap);
    free(path);
    json_decref(o);
    return rc;
}
