/* tickets.c - escalation rules, the tickets' life cycle and their SLA (support/tickets.h). */
#include "support/tickets.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "ops/notify.h"
#include "support/orgs.h"

/* ---- settings ---- */

static const char *const prio_names[] = {"LOW", "MEDIUM", "HIGH", "URGENT", NULL};
static const char *const default_words[] = {"refund", "cancel",  "legal",
                                            "lawyer", "lawsuit", "chargeback"};
static const int64_t default_first_response[4] = {1440, 480, 120, 30};
static const int64_t default_resolution[4] = {10080, 4320, 1440, 240};

json_t *tickets_default_escalation(void)
{
    json_t *words = json_array();
    for (size_t i = 0; i < sizeof default_words / sizeof default_words[0]; i++)
        json_array_append_new(words, json_string(default_words[i]));
    return json_pack("{s:b, s:s, s:{s:b, s:f, s:i, s:s}, s:{s:b, s:s}, s:{s:b, s:f, s:i, s:s},"
                     " s:{s:b, s:i, s:s}, s:{s:b, s:o, s:s}}",
                     "enabled", 1, "assignment", "round_robin", "sentiment", "enabled", 1,
                     "threshold", -0.4, "consecutive", 2, "priority", "HIGH", "human_request",
                     "enabled", 1, "priority", "MEDIUM", "low_confidence", "enabled", 1,
                     "threshold", 0.5, "consecutive", 2, "priority", "MEDIUM", "not_helpful",
                     "enabled", 1, "count", 2, "priority", "MEDIUM", "keywords", "enabled", 1,
                     "words", words, "priority", "HIGH");
}

static json_t *by_priority(const int64_t v[4])
{
    return json_pack("{s:I, s:I, s:I, s:I}", "LOW", (json_int_t)v[0], "MEDIUM", (json_int_t)v[1],
                     "HIGH", (json_int_t)v[2], "URGENT", (json_int_t)v[3]);
}

json_t *tickets_default_sla(void)
{
    return json_pack("{s:o, s:o}", "first_response_minutes", by_priority(default_first_response),
                     "resolution_minutes", by_priority(default_resolution));
}

static int bad(const char **field, const char *f, char *err, size_t cap, const char *msg)
{
    *field = f;
    snprintf(err, cap, "%s", msg);
    return RAGD_EINVAL;
}

static int prio_of(const char *s)
{
    for (int i = 0; s && prio_names[i]; i++)
        if (!strcmp(s, prio_names[i])) return i;
    return -1;
}

/* A keyword: 1..60 characters of letters, digits, spaces, ' and -. */
static int word_ok(const char *w)
{
    size_t n = strlen(w);
    if (n < 1 || n > 60) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        if (!(isalnum(c) || c == ' ' || c == '-' || c == '\'' || c >= 0x80)) return 0;
    }
    return !isspace((unsigned char)w[0]) && !isspace((unsigned char)w[n - 1]);
}

/* Checks one rule object: the keys it may have and their ranges. */
static int rule_check(const char *name, json_t *v, const char **field, char *err, size_t cap)
{
    static _Thread_local char f[96]; /* the field named in an error, read at once */
    snprintf(f, sizeof f, "settings.escalation.%s", name);
    if (!json_is_object(v)) return bad(field, f, err, cap, "each rule is an object");
    int has_threshold = !strcmp(name, "sentiment") || !strcmp(name, "low_confidence");
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x)
    {
        snprintf(f, sizeof f, "settings.escalation.%s.%s", name, k);
        *field = f;
        if (!strcmp(k, "enabled")) {
            if (!json_is_boolean(x)) return bad(field, f, err, cap, "enabled is true or false");
        } else if (!strcmp(k, "priority")) {
            if (prio_of(json_string_value(x)) < 0)
                return bad(field, f, err, cap, "priority is LOW, MEDIUM, HIGH or URGENT");
        } else if (has_threshold && !strcmp(k, "threshold")) {
            double lo = !strcmp(name, "sentiment") ? -1 : 0;
            if (!json_is_number(x) || json_number_value(x) < lo || json_number_value(x) > 1) {
                snprintf(err, cap, "threshold must be a number from %g to 1", lo);
                return RAGD_EINVAL;
            }
        } else if (has_threshold && !strcmp(k, "consecutive")) {
            if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > 10)
                return bad(field, f, err, cap, "consecutive must be an integer from 1 to 10");
        } else if (!strcmp(name, "not_helpful") && !strcmp(k, "count")) {
            if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > 10)
                return bad(field, f, err, cap, "count must be an integer from 1 to 10");
        } else if (!strcmp(name, "keywords") && !strcmp(k, "words")) {
            if (!json_is_array(x) || json_array_size(x) > TICKETS_KEYWORDS_MAX) {
                snprintf(err, cap, "words must be an array of at most %d keywords",
                         TICKETS_KEYWORDS_MAX);
                return RAGD_EINVAL;
            }
            size_t i;
            json_t *w;
            json_array_foreach(x, i, w)
            {
                if (!json_is_string(w) || !word_ok(json_string_value(w)))
                    return bad(field, f, err, cap,
                               "each keyword is 1 to 60 characters: letters, digits, spaces, "
                               "hyphens, apostrophes");
            }
        } else {
            snprintf(err, cap, "unknown setting '%.64s' of the %s rule", k, name);
            return RAGD_EINVAL;
        }
    }
    return 0;
}

static int sla_table_check(const char *name, json_t *v, const char **field, char *err, size_t cap)
{
    static _Thread_local char f[96]; /* the field named in an error, read at once */
    snprintf(f, sizeof f, "settings.sla.%s", name);
    *field = f;
    if (!json_is_object(v))
        return bad(field, f, err, cap, "an object of minutes by priority (LOW..URGENT)");
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x)
    {
        if (prio_of(k) < 0)
            return bad(field, f, err, cap, "priorities are LOW, MEDIUM, HIGH, URGENT");
        if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > 525600)
            return bad(field, f, err, cap, "minutes must be an integer from 1 to 525600 (a year)");
    }
    return 0;
}

int tickets_settings_check(json_t *esc, json_t *sla, const char **field, char *err, size_t cap)
{
    const char *k;
    json_t *v;
    if (esc) {
        if (!json_is_object(esc))
            return bad(field, "settings.escalation", err, cap, "escalation must be an object");
        json_object_foreach(esc, k, v)
        {
            int rc = 0;
            if (!strcmp(k, "enabled")) {
                if (!json_is_boolean(v))
                    return bad(field, "settings.escalation.enabled", err, cap,
                               "enabled is true or false");
            } else if (!strcmp(k, "assignment")) {
                const char *a = json_string_value(v);
                if (!a || (strcmp(a, "round_robin") && strcmp(a, "unassigned")))
                    return bad(field, "settings.escalation.assignment", err, cap,
                               "assignment is round_robin or unassigned");
            } else if (!strcmp(k, "sentiment") || !strcmp(k, "human_request") ||
                       !strcmp(k, "low_confidence") || !strcmp(k, "not_helpful") ||
                       !strcmp(k, "keywords")) {
                rc = rule_check(k, v, field, err, cap);
            } else {
                *field = "settings.escalation";
                snprintf(err, cap, "unknown escalation setting '%.64s'", k);
                return RAGD_EINVAL;
            }
            if (rc) return rc;
        }
    }
    if (sla) {
        if (!json_is_object(sla))
            return bad(field, "settings.sla", err, cap, "sla must be an object");
        json_object_foreach(sla, k, v)
        {
            int rc = 0;
            if (!strcmp(k, "first_response_minutes") || !strcmp(k, "resolution_minutes")) {
                rc = sla_table_check(k, v, field, err, cap);
            } else {
                *field = "settings.sla";
                snprintf(err, cap, "unknown sla setting '%.64s'", k);
                return RAGD_EINVAL;
            }
            if (rc) return rc;
        }
    }
    return 0;
}

static void get_bool(json_t *o, const char *k, int *out)
{
    json_t *v = json_object_get(o, k);
    if (json_is_boolean(v)) *out = json_is_true(v);
}

static void get_prio(json_t *o, enum sentiment_priority *out)
{
    int p = prio_of(json_string_value(json_object_get(o, "priority")));
    if (p >= 0) *out = (enum sentiment_priority)p;
}

static void get_int(json_t *o, const char *k, int lo, int hi, int *out)
{
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi)
        *out = (int)json_integer_value(v);
}

static void get_num(json_t *o, const char *k, double lo, double hi, double *out)
{
    json_t *v = json_object_get(o, k);
    if (json_is_number(v) && json_number_value(v) >= lo && json_number_value(v) <= hi)
        *out = json_number_value(v);
}

static void lower_copy(char *dst, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++)
        dst[i] = (char)tolower((unsigned char)s[i]);
    dst[i] = '\0';
}

void tickets_rules_of(const struct store_org *o, struct tickets_rules *r)
{
    memset(r, 0, sizeof *r);
    r->enabled = r->round_robin = 1;
    r->sentiment.on = r->human_request.on = r->low_confidence.on = r->not_helpful.on =
        r->keywords.on = 1;
    r->sentiment.threshold = -0.4;
    r->sentiment.consecutive = 2;
    r->sentiment.priority = SENTIMENT_HIGH;
    r->human_request.priority = SENTIMENT_MEDIUM;
    r->low_confidence.threshold = 0.5;
    r->low_confidence.consecutive = 2;
    r->low_confidence.priority = SENTIMENT_MEDIUM;
    r->not_helpful.count = 2;
    r->not_helpful.priority = SENTIMENT_MEDIUM;
    r->keywords.priority = SENTIMENT_HIGH;
    for (size_t i = 0; i < sizeof default_words / sizeof default_words[0]; i++)
        snprintf(r->keywords.words[r->keywords.n++], 64, "%s", default_words[i]);
    memcpy(r->first_response_min, default_first_response, sizeof r->first_response_min);
    memcpy(r->resolution_min, default_resolution, sizeof r->resolution_min);

    json_error_t je;
    json_t *s = json_loads(o && o->settings ? o->settings : "{}", 0, &je);
    json_t *e = json_object_get(s, "escalation");
    if (json_is_object(e)) {
        get_bool(e, "enabled", &r->enabled);
        const char *a = json_string_value(json_object_get(e, "assignment"));
        if (a) r->round_robin = strcmp(a, "unassigned") != 0;
        json_t *x = json_object_get(e, "sentiment");
        get_bool(x, "enabled", &r->sentiment.on);
        get_num(x, "threshold", -1, 1, &r->sentiment.threshold);
        get_int(x, "consecutive", 1, 10, &r->sentiment.consecutive);
        get_prio(x, &r->sentiment.priority);
        x = json_object_get(e, "human_request");
        get_bool(x, "enabled", &r->human_request.on);
        get_prio(x, &r->human_request.priority);
        x = json_object_get(e, "low_confidence");
        get_bool(x, "enabled", &r->low_confidence.on);
        get_num(x, "threshold", 0, 1, &r->low_confidence.threshold);
        get_int(x, "consecutive", 1, 10, &r->low_confidence.consecutive);
        get_prio(x, &r->low_confidence.priority);
        x = json_object_get(e, "not_helpful");
        get_bool(x, "enabled", &r->not_helpful.on);
        get_int(x, "count", 1, 10, &r->not_helpful.count);
        get_prio(x, &r->not_helpful.priority);
        x = json_object_get(e, "keywords");
        get_bool(x, "enabled", &r->keywords.on);
        get_prio(x, &r->keywords.priority);
        json_t *words = json_object_get(x, "words");
        if (json_is_array(words)) {
            r->keywords.n = 0;
            size_t i;
            json_t *w;
            json_array_foreach(words, i, w)
            {
                if (json_is_string(w) && r->keywords.n < TICKETS_KEYWORDS_MAX)
                    lower_copy(r->keywords.words[r->keywords.n++], 64, json_string_value(w));
            }
        }
    }
    json_t *sla = json_object_get(s, "sla");
    for (int t = 0; t < 2; t++) {
        json_t *tab = json_object_get(sla, t ? "resolution_minutes" : "first_response_minutes");
        int64_t *dst = t ? r->resolution_min : r->first_response_min;
        for (int p = 0; p < 4; p++) {
            json_t *v = json_object_get(tab, prio_names[p]);
            if (json_is_integer(v) && json_integer_value(v) > 0) dst[p] = json_integer_value(v);
        }
    }
    json_decref(s);
}

/* ---- text rules ---- */

/* Lower-cases text into words separated by single spaces, with a space at each end, so that
 * " word " finds whole words and phrases. Caller frees. */
static char *words_of(const char *text)
{
    size_t n = strlen(text);
    char *out = xmalloc(n + 3), *o = out;
    *o++ = ' ';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (isalnum(c) || c == '\'' || c >= 0x80) {
            *o++ = (char)tolower(c);
        } else if (o[-1] != ' ') {
            *o++ = ' ';
        }
    }
    if (o[-1] != ' ') *o++ = ' ';
    *o = '\0';
    return out;
}

static int has_phrase(const char *words, const char *phrase)
{
    char buf[80];
    snprintf(buf, sizeof buf, " %s ", phrase);
    return strstr(words, buf) != NULL;
}

int tickets_human_request(const char *text)
{
    if (sentiment_cues(text, strlen(text)) & SENTIMENT_CUE_HUMAN) return 1;
    /* What the lexicon's cue may not catch: a verb of talking followed closely by a person. */
    static const char *const verbs[] = {"talk", "speak", "chat", "connect", "transfer", NULL};
    static const char *const people[] = {
        "human",          "person",   "agent",   "someone", "somebody",
        "representative", "operator", "manager", "staff",   NULL};
    char *w = words_of(text);
    int hit = 0;
    for (int v = 0; verbs[v] && !hit; v++) {
        char vb[24];
        snprintf(vb, sizeof vb, " %s ", verbs[v]);
        for (const char *p = strstr(w, vb); p && !hit; p = strstr(p + 1, vb)) {
            /* the next four words */
            const char *q = p + strlen(vb);
            for (int k = 0; k < 4 && *q && !hit; k++) {
                const char *end = strchr(q, ' ');
                if (!end) break;
                for (int h = 0; people[h]; h++)
                    if ((size_t)(end - q) == strlen(people[h]) && !strncmp(q, people[h], end - q))
                        hit = 1;
                q = end + 1;
            }
        }
    }
    free(w);
    return hit;
}

/* The first of the organization's keywords in text, or NULL. */
static const char *keyword_in(const struct tickets_rules *r, const char *text)
{
    char *w = words_of(text);
    const char *hit = NULL;
    for (int i = 0; i < r->keywords.n && !hit; i++)
        if (has_phrase(w, r->keywords.words[i])) hit = r->keywords.words[i];
    free(w);
    return hit;
}

/* ---- escalation ---- */

static int max_prio(int a, int b)
{
    return a > b ? a : b;
}

static void utf8_cut(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Records the escalation and notifies. */
static int escalate(const char *org_id, const char *conv_id, const struct tickets_rules *r,
                    const char *category, int priority, const char *reason, const char *subject,
                    const char *conv_status, int features_tickets, struct tickets_escalation *out)
{
    char subj[161];
    utf8_cut(subj, sizeof subj, subject && *subject ? subject : reason);
    struct store_escalation e = {.org_id = org_id,
                                 .conv_id = conv_id,
                                 .category = category,
                                 .priority = prio_names[priority],
                                 .subject = subj,
                                 .reason = reason,
                                 .conv_status = conv_status,
                                 .round_robin = r->round_robin,
                                 .create = features_tickets};
    int rc = store_ticket_escalate(&e, &out->t);
    if (rc) return rc;
    out->escalated = 1;
    snprintf(out->category, sizeof out->category, "%s", category);
    if (out->t.created || out->t.raised) {
        json_t *d = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "ticket_id", out->t.ticket_id,
            "organization_id", org_id, "conversation_id", conv_id, "category", out->t.category,
            "priority", out->t.priority, "reason", category, "assigned_to",
            out->t.assigned_to[0] ? json_string(out->t.assigned_to) : json_null(), "assignee_email",
            out->t.assignee_email[0] ? json_string(out->t.assignee_email) : json_null());
        int nrc =
            notify_emit(NULL, out->t.created ? NOTIFY_TICKET_CREATED : NOTIFY_TICKET_ESCALATED, d);
        if (nrc)
            log_json(LOG_WARN, "ticket notification not recorded",
                     json_pack("{s:s, s:s}", "ticket_id", out->t.ticket_id, "error",
                               ragd_strerror(nrc)));
    }
    return 0;
}

/* Loads the organization's rules and whether it has tickets at all. */
static int rules_for(const char *org_id, struct tickets_rules *r, int *tickets_on)
{
    struct store_org o;
    int rc = store_org_read(org_id, &o);
    if (rc) return rc;
    tickets_rules_of(&o, r);
    *tickets_on = orgs_feature_on(&o, "tickets");
    store_org_clear(&o);
    return 0;
}

/* The highest sentiment priority among the visitor messages since the last escalation. */
static int signals_priority(const struct store_esc_signals *g)
{
    int p = SENTIMENT_LOW;
    for (int i = 0; i < g->nvisitor; i++)
        p = max_prio(p, prio_of(g->priority[i]));
    return p;
}

int tickets_after_message(const struct store_org *o, const struct tickets_rules *r,
                          const char *conv_id, const char *text, const struct sentiment *s,
                          struct tickets_escalation *out)
{
    memset(out, 0, sizeof *out);
    if (!r->enabled) return 0;
    int tickets_on = orgs_feature_on(o, "tickets"), rc;
    const char *org_id = o->id;
    struct store_esc_signals g;
    if ((rc = store_esc_signals(conv_id, &g))) return rc;
    int floor = max_prio(signals_priority(&g), s ? (int)s->priority : SENTIMENT_LOW);
    char reason[200];

    if (r->sentiment.on && g.nvisitor >= r->sentiment.consecutive) {
        int all = 1;
        for (int i = 0; i < r->sentiment.consecutive; i++)
            if (isnan(g.polarity[i]) || g.polarity[i] > r->sentiment.threshold) all = 0;
        if (all) {
            snprintf(reason, sizeof reason,
                     "%d consecutive messages with sentiment at or below %.2f",
                     r->sentiment.consecutive, r->sentiment.threshold);
            return escalate(org_id, conv_id, r, "sentiment", max_prio(floor, r->sentiment.priority),
                            reason, text, "escalated", tickets_on, out);
        }
    }
    if (r->human_request.on && tickets_human_request(text))
        return escalate(
            org_id, conv_id, r, "human_request", max_prio(floor, r->human_request.priority),
            "The visitor asked to talk to a person", text, "escalated", tickets_on, out);
    const char *kw = r->keywords.on ? keyword_in(r, text) : NULL;
    if (kw) {
        char cat[80];
        snprintf(cat, sizeof cat, "keyword:%s", kw);
        snprintf(reason, sizeof reason, "The visitor wrote \"%s\"", kw);
        return escalate(org_id, conv_id, r, cat, max_prio(floor, r->keywords.priority), reason,
                        text, "escalated", tickets_on, out);
    }
    if (r->low_confidence.on && g.nanswer >= r->low_confidence.consecutive) {
        int all = 1;
        for (int i = 0; i < r->low_confidence.consecutive; i++)
            if (g.confidence[i] < 0 || g.confidence[i] >= r->low_confidence.threshold) all = 0;
        if (all) {
            snprintf(reason, sizeof reason, "%d consecutive answers with confidence below %.2f",
                     r->low_confidence.consecutive, r->low_confidence.threshold);
            return escalate(org_id, conv_id, r, "low_confidence",
                            max_prio(floor, r->low_confidence.priority), reason, text, "escalated",
                            tickets_on, out);
        }
    }
    if (r->not_helpful.on && g.not_helpful >= r->not_helpful.count) {
        snprintf(reason, sizeof reason, "%d answers marked not helpful", r->not_helpful.count);
        return escalate(org_id, conv_id, r, "not_helpful", max_prio(floor, r->not_helpful.priority),
                        reason, text, "escalated", tickets_on, out);
    }
    return 0;
}

int tickets_after_feedback(const char *org_id, const char *conv_id, struct tickets_escalation *out)
{
    memset(out, 0, sizeof *out);
    struct tickets_rules r;
    int tickets_on = 1;
    int rc = rules_for(org_id, &r, &tickets_on);
    if (rc || !r.enabled || !r.not_helpful.on) return rc;
    struct store_esc_signals g;
    if ((rc = store_esc_signals(conv_id, &g))) return rc;
    if (g.not_helpful < r.not_helpful.count) return 0;
    char reason[200];
    snprintf(reason, sizeof reason, "%d answers marked not helpful", r.not_helpful.count);
    return escalate(org_id, conv_id, &r, "not_helpful",
                    max_prio(signals_priority(&g), r.not_helpful.priority), reason, reason,
                    "escalated", tickets_on, out);
}

int tickets_after_handoff(const char *org_id, const char *conv_id, const char *note,
                          struct tickets_escalation *out)
{
    memset(out, 0, sizeof *out);
    struct tickets_rules r;
    int tickets_on = 1;
    int rc = rules_for(org_id, &r, &tickets_on);
    if (rc || !r.enabled || !r.human_request.on) return rc;
    struct store_esc_signals g;
    if ((rc = store_esc_signals(conv_id, &g))) return rc;
    return escalate(org_id, conv_id, &r, "human_request",
                    max_prio(signals_priority(&g), r.human_request.priority),
                    "The visitor asked to talk to a person (hand-off)",
                    note && *note ? note : "The visitor asked to talk to a person",
                    "handoff_requested", tickets_on, out);
}

/* ---- the life cycle ---- */

int tickets_transition_ok(const char *from, const char *to)
{
    static const struct {
        const char *from, *to;
    } ok[] = {
        {"open", "pending"},  {"open", "resolved"},    {"open", "closed"},
        {"pending", "open"},  {"pending", "resolved"}, {"pending", "closed"},
        {"resolved", "open"}, {"resolved", "closed"},  {"closed", "open"},
    };
    if (!strcmp(from, to)) return 1;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(ok[i].from, from) && !strcmp(ok[i].to, to)) return 1;
    return 0;
}

static int64_t ms_of(const char *iso, int64_t def)
{
    int64_t ms;
    return iso && *iso && !time_parse_iso(iso, &ms) ? ms : def;
}

void tickets_sla_of(const struct store_ticket *t, const struct tickets_rules *r, int64_t now_ms,
                    struct tickets_sla *out)
{
    int p = prio_of(t->priority);
    if (p < 0) p = SENTIMENT_MEDIUM; /* defensive: the table's CHECK allows no other */
    int64_t created = ms_of(t->created_at, now_ms);
    out->first_response_due_ms = created + r->first_response_min[p] * 60000;
    out->resolution_due_ms = created + r->resolution_min[p] * 60000;
    int64_t first = ms_of(t->first_response_at, now_ms);
    int64_t done = ms_of(t->resolved_at, ms_of(t->closed_at, now_ms));
    out->first_response_breached = first > out->first_response_due_ms;
    out->resolution_breached = done > out->resolution_due_ms;
}
