/* widget.c - widget keys, sessions and answers from an organization's own documents. */
#include "support/widget.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "knowledge/knowledge.h"
#include "limits/limiter.h"
#include "store/tickets.h"
#include "support/orgs.h"

static int64_t session_minutes = 15, session_max_hours = 24, per_ip_minute = 20,
               per_session_minute = 20;

static const char widget_system_prompt[] =
    "You are the support assistant of this organization, answering its customers. Answer only "
    "from the provided context. If the context doesn't contain the answer, say so and offer to "
    "connect the customer with a person. Cite the context you use by its number, like [1].";

void widget_init(void)
{
    session_minutes = config_int("WIDGET_SESSION_MINUTES", 15, 1, 1440);
    session_max_hours = config_int("WIDGET_SESSION_MAX_HOURS", 24, 1, 720);
    per_ip_minute = config_int("WIDGET_SESSIONS_PER_IP_PER_MINUTE", 20, 1, 100000);
    per_session_minute = config_int("WIDGET_MESSAGES_PER_SESSION_PER_MINUTE", 20, 1, 100000);
}

static int starts(const char *s, const char *p)
{
    return s && !strncmp(s, p, strlen(p));
}

int widget_credential(const char *c)
{
    return starts(c, WIDGET_PK_PREFIX) || starts(c, WIDGET_SK_PREFIX) ||
           starts(c, WIDGET_TOKEN_PREFIX);
}

int widget_origin_valid(const char *s)
{
    const char *h;
    if (starts(s, "https://"))
        h = s + 8;
    else if (starts(s, "http://"))
        h = s + 7;
    else
        return 0;
    size_t n = strlen(s);
    if (n > 200 || !*h) return 0;
    int port = 0;
    for (const char *p = h; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == ':') {
            if (port || p == h || !p[1]) return 0;
            port = 1;
        } else if (port ? !isdigit(c) : !(islower(c) || isdigit(c) || c == '.' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

/* ---- keys ---- */

static void make_secret(const char *prefix, char out[64], char hash[65])
{
    unsigned char raw[24];
    rand_bytes(raw, sizeof raw);
    size_t p = strlen(prefix);
    memcpy(out, prefix, p);
    b64url_encode(raw, sizeof raw, out + p);
    sha256_hex(out, strlen(out), hash);
}

static void newkey(const char *kind, struct widget_newkey *out, char hash[65])
{
    memset(out, 0, sizeof *out);
    make_secret(!strcmp(kind, "secret") ? WIDGET_SK_PREFIX : WIDGET_PK_PREFIX, out->key, hash);
    memcpy(out->prefix, out->key, 10);
    out->prefix[10] = '\0';
}

int widget_key_create(const struct store_org *o, const char *kind, const char *name,
                      const char *const *origins, size_t n, struct widget_newkey *out)
{
    char hash[65];
    newkey(kind, out, hash);
    const struct orgs_plan *p = orgs_plan(o->plan);
    int rc = store_wkey_create(o->id, kind, name, out->prefix, hash, origins, n,
                               p ? p->widget_keys : 3, out->id);
    if (rc) memset(out->key, 0, sizeof out->key);
    return rc;
}

int widget_key_rotate(const char *org_id, const char *key_id, struct widget_newkey *out)
{
    if (!uuid_valid(key_id)) return RAGD_ENOTFOUND;
    char hash[65];
    /* The kind is kept by the store; the prefix says it, so read it first. */
    struct store_wkey *keys;
    size_t n;
    int rc = store_wkeys(org_id, &keys, &n);
    if (rc) return rc;
    const char *kind = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(keys[i].id, key_id) && !keys[i].revoked_at[0]) kind = keys[i].kind;
    if (!kind) {
        store_wkeys_free(keys, n);
        return RAGD_ENOTFOUND;
    }
    newkey(kind, out, hash);
    store_wkeys_free(keys, n);
    rc = store_wkey_rotate(org_id, key_id, out->prefix, hash, out->id);
    if (rc) memset(out->key, 0, sizeof out->key);
    return rc;
}

/* ---- sessions ---- */

static int refuse(struct widget_refusal *ref, int status, const char *code, const char *detail)
{
    *ref = (struct widget_refusal){status, code, detail, 0};
    return RAGD_EPERM;
}

/* Takes one call of key's budget; 0 when allowed, else the seconds to wait. A broken
 * limiter lets the call through (as the rate guard does). */
static int64_t take(const char *key, int64_t limit)
{
    struct limit_result res;
    if (limiter_take(key, limit, 60000, 1, 0, &res)) return 0;
    if (res.allowed) return 0;
    int64_t s = (res.retry_after_ms + 999) / 1000;
    return s > 0 ? s : 1;
}

static int visitor_ok(const char *v)
{
    size_t n = strlen(v);
    if (n < 8 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '_') return 0;
    return 1;
}

/* settings.widget.sessions_per_minute of o, capped by its plan. */
static int64_t org_sessions_per_minute(const struct store_org *o)
{
    const struct orgs_plan *p = orgs_plan(o->plan);
    int64_t cap = p ? p->widget_sessions_per_minute : 30;
    json_error_t je;
    json_t *s = json_loads(o->settings ? o->settings : "{}", 0, &je);
    json_t *v = json_object_get(json_object_get(s, "widget"), "sessions_per_minute");
    int64_t n = json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : cap;
    json_decref(s);
    return n < cap ? n : cap;
}

/* The organization's widget theme: the plan's defaults under its own settings, with its
 * name. */
static json_t *theme_of(const struct store_org *o)
{
    json_t *def = orgs_default_settings(orgs_plan("free"));
    json_t *theme = json_deep_copy(json_object_get(def, "widget"));
    json_decref(def);
    json_error_t je;
    json_t *s = json_loads(o->settings ? o->settings : "{}", 0, &je);
    json_t *w = json_object_get(s, "widget");
    if (json_is_object(w)) json_object_update(theme, w);
    json_decref(s);
    json_object_del(theme, "sessions_per_minute");
    json_object_set_new(theme, "organization_name", json_string(o->name));
    return theme;
}

int widget_session_start(const char *key, const char *origin, const char *visitor_id,
                         const char *ip, struct widget_session *out, struct widget_refusal *ref)
{
    memset(out, 0, sizeof *out);
    if (!starts(key, WIDGET_PK_PREFIX) && !starts(key, WIDGET_SK_PREFIX))
        return refuse(ref, 401, "INVALID_WIDGET_KEY", "Unknown or revoked widget key");
    char hash[65];
    sha256_hex(key, strlen(key), hash);
    struct store_wkey k;
    int rc = store_wkey_lookup(hash, origin, &k);
    if (rc == RAGD_ENOTFOUND)
        return refuse(ref, 401, "INVALID_WIDGET_KEY", "Unknown or revoked widget key");
    if (rc) return rc;
    int secret = !strcmp(k.kind, "secret");
    snprintf(out->kind, sizeof out->kind, "%s", k.kind);
    char key_id[37], org_id[37];
    snprintf(key_id, sizeof key_id, "%s", k.id);
    snprintf(org_id, sizeof org_id, "%s", k.org_id);
    int origin_ok = k.origin_ok;
    store_wkey_clear(&k);
    if (secret && origin)
        return refuse(ref, 403, "SECRET_KEY_FROM_BROWSER",
                      "A secret widget key is for server-to-server calls: use a publishable key "
                      "in web pages");
    if (!secret && !origin)
        return refuse(ref, 403, "ORIGIN_REQUIRED",
                      "A publishable widget key works only from a web page (Origin header)");
    if (!secret && !origin_ok)
        return refuse(ref, 403, "ORIGIN_NOT_ALLOWED",
                      "This site is not on the widget key's list of allowed origins");
    /* The organization from the cache, read with the address's rate. */
    struct store_org_fetch f;
    store_org_fetch_org(org_id, &f);
    char lk[128];
    snprintf(lk, sizeof lk, "widget:sess:ip:%.64s", ip);
    int64_t wait = take(lk, per_ip_minute);
    struct store_org o;
    if ((rc = store_org_fetch_finish(&f, NULL, org_id, &o)))
        return rc == RAGD_ENOTFOUND ? RAGD_EUNAVAIL : rc;
    int on = orgs_feature_on(&o, "widget");
    int64_t org_rate = org_sessions_per_minute(&o);
    json_t *theme = on ? theme_of(&o) : NULL;
    store_org_clear(&o);
    if (!on)
        return refuse(ref, 403, "WIDGET_DISABLED",
                      "The widget is turned off for this organization");
    if (!wait) {
        snprintf(lk, sizeof lk, "widget:sess:org:%s", org_id);
        wait = take(lk, org_rate);
    }
    if (wait) {
        json_decref(theme);
        refuse(ref, 429, "WIDGET_RATE_LIMITED", "Too many new widget sessions; try again shortly");
        ref->retry_after_s = wait;
        return RAGD_EPERM;
    }

    char visitor[65];
    if (visitor_id && visitor_ok(visitor_id)) {
        snprintf(visitor, sizeof visitor, "%s", visitor_id);
    } else {
        unsigned char raw[12];
        rand_bytes(raw, sizeof raw);
        memcpy(visitor, "v_", 2);
        b64url_encode(raw, sizeof raw, visitor + 2);
    }
    make_secret(WIDGET_TOKEN_PREFIX, out->token, hash);
    int64_t now = time_now_ms(), exp = now + session_minutes * 60000;
    rc = store_wsession_create(org_id, key_id, secret ? "" : origin, visitor, ip, hash, exp,
                               out->s.id, out->s.conversation_id);
    if (rc) {
        memset(out->token, 0, sizeof out->token);
        json_decref(theme);
        return rc;
    }
    out->theme = theme;
    snprintf(out->s.org_id, sizeof out->s.org_id, "%s", org_id);
    snprintf(out->s.key_id, sizeof out->s.key_id, "%s", key_id);
    snprintf(out->s.origin, sizeof out->s.origin, "%s", secret ? "" : origin);
    snprintf(out->s.visitor_id, sizeof out->s.visitor_id, "%s", visitor);
    out->s.expires_ms = exp;
    out->s.created_ms = now;
    return 0;
}

int widget_session_check(const char *token, const char *origin, struct widget_session *out,
                         struct widget_refusal *ref)
{
    memset(out, 0, sizeof *out);
    if (!starts(token, WIDGET_TOKEN_PREFIX)) /* no widget credential at all: a bad request */
        return refuse(ref, 400, "WIDGET_SESSION_REQUIRED",
                      "This route takes a widget session token (Authorization: Bearer wst_...) "
                      "from POST /widget/session");
    char hash[65];
    sha256_hex(token, strlen(token), hash);
    int rc = store_wsession_lookup(hash, &out->s);
    if (rc == RAGD_ENOTFOUND)
        return refuse(ref, 401, "INVALID_WIDGET_SESSION", "Unknown or ended widget session");
    if (rc) return rc;
    int64_t now = time_now_ms();
    if (now >= out->s.expires_ms)
        return refuse(ref, 401, "WIDGET_SESSION_EXPIRED",
                      "The widget session has expired; start a new one");
    if (out->s.origin[0] ? !origin || strcmp(origin, out->s.origin) : origin != NULL)
        return refuse(ref, 403, "ORIGIN_MISMATCH", "This widget session belongs to another origin");
    /* Renewed to session_minutes from now, at most once in a fifteenth of that (a minute of
     * the default 15): an idle session ends 14 to 15 minutes after its last request, and a
     * conversation's messages do not each write the session. */
    int64_t life = session_minutes * 60000, exp = now + life,
            cap = out->s.created_ms + session_max_hours * 3600000;
    if (exp > cap) exp = cap;
    if (exp > out->s.expires_ms + (exp < cap ? life / 15 : 0) &&
        !store_wsession_touch(out->s.id, exp))
        out->s.expires_ms = exp;
    return 0;
}

int widget_cors_ok(const struct widget_session *s, const char *origin)
{
    return origin && s->s.origin[0] && !strcmp(origin, s->s.origin);
}

/* ---- answers ---- */

void widget_reply_free(struct widget_reply *r)
{
    free(r->answer);
    for (size_t i = 0; i < r->nsources; i++) {
        free(r->sources[i].title);
        free(r->sources[i].excerpt);
    }
    free(r->sources);
    free(r->sources_json);
    memset(r, 0, sizeof *r);
}

static char *utf8_cut(const char *s, size_t max)
{
    size_t n = strlen(s ? s : "");
    if (n <= max) return xstrdup(s ? s : "");
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return xstrndup(s, max);
}

/* Scores the visitor's message, to be stored with it. A failure is logged: the message is
 * stored and answered all the same. */
static void score_visitor(const char *conv, const char *message, struct widget_reply *out,
                          struct store_wmsg_new *m)
{
    int rc = sentiment_score(message, strlen(message), &out->sentiment);
    if (rc) {
        log_json(LOG_WARN, "widget message not scored",
                 json_pack("{s:s, s:s}", "conversation_id", conv, "error", ragd_strerror(rc)));
        return;
    }
    out->has_sentiment = 1;
    const struct sentiment *st = &out->sentiment;
    m->sentiment_label = sentiment_label_name(st->label);
    m->sentiment_priority = sentiment_priority_name(st->priority);
    m->sentiment_score = st->score;
    m->sentiment_polarity = st->polarity;
}

static void add_action(struct widget_reply *out, const char *name)
{
    for (size_t i = 0; i < out->nactions; i++)
        if (!strcmp(out->actions[i], name)) return;
    if (out->nactions < WIDGET_ACTIONS_MAX) out->actions[out->nactions++] = name;
}

/* The answer's suggested actions (widget.h), under the organization's rules. */
static void suggest(const struct tickets_rules *rules, struct widget_reply *out)
{
    const struct sentiment *st = &out->sentiment;
    if (out->has_sentiment) out->nactions = sentiment_actions(st, out->actions, WIDGET_ACTIONS_MAX);
    if (out->escalation.escalated || (out->has_sentiment && (st->priority >= SENTIMENT_HIGH ||
                                                             (st->cues & SENTIMENT_CUE_HUMAN))))
        add_action(out, "offer_human");
    if (out->confidence < rules->low_confidence.threshold)
        add_action(out, "ask_clarifying_question");
}

int widget_answer(const struct widget_session *s, const char *message, prov_token_fn on_token,
                  void *ud, struct widget_reply *out, struct widget_refusal *ref)
{
    memset(out, 0, sizeof *out);
    const char *org = s->s.org_id, *conv = s->s.conversation_id;
    /* The organization (its plan's allowance, its escalation rules), read once: from the
     * cache with the session's message rate. */
    struct store_org_fetch f;
    store_org_fetch_org(org, &f);
    char lk[96];
    snprintf(lk, sizeof lk, "widget:msg:sess:%s", s->s.id);
    int64_t wait = take(lk, per_session_minute);
    if (wait) {
        store_org_fetch_cancel(&f);
        refuse(ref, 429, "WIDGET_RATE_LIMITED", "Too many messages; wait a moment");
        ref->retry_after_s = wait;
        return RAGD_EPERM;
    }
    struct store_org o;
    int rc = store_org_fetch_finish(&f, NULL, org, &o);
    if (rc) return rc;
    const struct orgs_plan *p = orgs_plan(o.plan);
    rc = store_org_usage_take(org, "widget_messages", "", 1, p ? p->widget_messages_per_day : 200,
                              NULL);
    if (rc) {
        store_org_clear(&o);
        if (rc == RAGD_ELIMIT)
            return refuse(ref, 429, "WIDGET_QUOTA_EXCEEDED",
                          "This organization's widget answers for today are used up");
        return rc;
    }
    struct tickets_rules rules;
    tickets_rules_of(&o, &rules);

    /* The conversation so far (for the prompt), then the visitor's message with its sentiment. */
    struct store_wmsg *hist = NULL;
    size_t nh = 0;
    if (store_wmsgs(conv, 10, &hist, &nh)) nh = 0;
    int64_t t0 = time_now_ms();
    struct store_wmsg_new vm = {
        .role = "visitor", .body = message, .confidence = -1, .tokens = -1, .latency_ms = -1};
    score_visitor(conv, message, out, &vm);
    rc = store_wmsg_add(conv, org, &vm, out->visitor_message_id);
    if (rc) {
        store_wmsgs_free(hist, nh);
        store_org_clear(&o);
        store_org_usage_take(org, "widget_messages", "", -1, 0, NULL); /* not answered */
        return rc;
    }
    struct chat_turn *turns = xcalloc(nh ? nh : 1, sizeof *turns);
    size_t nt = 0;
    for (size_t i = 0; i < nh; i++)
        if (strcmp(hist[i].role, "system"))
            turns[nt++] = (struct chat_turn){strcmp(hist[i].role, "visitor") != 0, hist[i].body};

    /* Retrieval: the organization's own documents, never shared or other organizations'. */
    struct kn_caller caller = {"", org, 0};
    struct kn_filters filters = {.shared = 0};
    struct kn_query q = {.text = message,
                         .top_k = 5,
                         .route = KN_AUTO,
                         .filters = &filters,
                         .w_vector = 0.5,
                         .w_keyword = 0.5,
                         .vector_fallback = 1};
    struct kn_result kr = {0};
    char err[512] = "";
    if (knowledge_search(&caller, &q, &kr, err, sizeof err)) {
        log_json(LOG_WARN, "widget retrieval failed", json_pack("{s:s}", "error", err));
        memset(&kr, 0, sizeof kr);
    }
    struct prov_passage *pass = xcalloc(kr.nhits ? kr.nhits : 1, sizeof *pass);
    for (size_t i = 0; i < kr.nhits; i++) {
        const struct kn_hit *h = &kr.hits[i];
        pass[i] =
            (struct prov_passage){h->chunk.document_id, h->chunk.title, h->chunk.content, h->score};
    }

    prov_provider_t *gen = prov_generator();
    int budget = prov_context_length() - prov_max_tokens();
    if (budget < 128) budget = 128;
    struct prov_message msgs[16];
    char **arena = NULL;
    size_t np_used = 0;
    size_t nm = chat_build_prompt(gen, widget_system_prompt, message, pass, kr.nhits, turns, nt,
                                  budget, msgs, &arena, &np_used);
    char user[48];
    snprintf(user, sizeof user, "widget:%s", org);
    struct prov_request preq = {.messages = msgs,
                                .n_messages = nm,
                                .passages = pass,
                                .n_passages = np_used,
                                .question = message,
                                .task = PROV_TASK_ANSWER,
                                .max_tokens = prov_max_tokens(),
                                .temperature = -1.0,
                                .user_id = user};
    struct prov_result pres = {0};
    char gerr[512] = "";
    rc = prov_generate(gen, &preq, on_token, ud, &pres, gerr, sizeof gerr);
    if (rc && rc != RAGD_ELIMIT && rc != RAGD_ETIMEOUT && gen != prov_extractive()) {
        log_json(LOG_WARN, "widget generation failed; extractive fallback",
                 json_pack("{s:s}", "error", gerr));
        prov_result_free(&pres);
        rc = prov_generate(prov_extractive(), &preq, on_token, ud, &pres, gerr, sizeof gerr);
    }
    if (rc == RAGD_ETIMEOUT) rc = RAGD_ELIMIT;
    if (!rc && pres.stopped) rc = RAGD_EIO;

    if (!rc) {
        out->answer = xstrdup(pres.text ? pres.text : "");
        size_t ns = np_used < 3 ? np_used : 3;
        out->sources = xcalloc(ns ? ns : 1, sizeof *out->sources);
        json_t *sj = json_array();
        for (size_t i = 0; i < ns; i++) {
            const struct kn_hit *h = &kr.hits[i];
            struct widget_source *ws = &out->sources[out->nsources++];
            snprintf(ws->document_id, sizeof ws->document_id, "%s", h->chunk.document_id);
            ws->title = utf8_cut(h->chunk.title, 100);
            ws->excerpt = utf8_cut(h->chunk.content, 200);
            ws->score = h->score;
            json_array_append_new(sj, json_pack("{s:s, s:s, s:s, s:f}", "document_id",
                                                ws->document_id, "title", ws->title, "excerpt",
                                                ws->excerpt, "relevance_score", ws->score));
        }
        out->sources_json = json_dumps(sj, JSON_COMPACT);
        json_decref(sj);
        out->confidence = ns ? 0.9 : 0.3;
        out->tokens = (int64_t)pres.prompt_tokens + pres.completion_tokens;
        out->latency_ms = time_now_ms() - t0;
        struct store_wmsg_new am = {.role = "assistant",
                                    .body = out->answer,
                                    .sources_json = out->sources_json,
                                    .confidence = out->confidence,
                                    .tokens = out->tokens,
                                    .latency_ms = out->latency_ms};
        rc = store_wmsg_add(conv, org, &am, out->message_id);
    }
    /* The rules run on the visitor's message even when no answer could be made. */
    int erc = tickets_after_message(&o, &rules, conv, message,
                                    out->has_sentiment ? &out->sentiment : NULL, &out->escalation);
    if (erc)
        log_json(LOG_WARN, "widget escalation check failed",
                 json_pack("{s:s, s:s}", "conversation_id", conv, "error", ragd_strerror(erc)));
    if (!rc) suggest(&rules, out);
    store_org_clear(&o);
    if (rc) {
        widget_reply_free(out);
        store_org_usage_take(org, "widget_messages", "", -1, 0, NULL); /* not answered */
    }
    prov_result_free(&pres);
    chat_prompt_free(arena);
    free(pass);
    knowledge_result_free(&kr);
    free(turns);
    store_wmsgs_free(hist, nh);
    return rc;
}
