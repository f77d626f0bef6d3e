/* analytics.c - an organization's support-desk analytics (support/analytics.h). */
#include "support/analytics.h"
#include "support/tickets.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/analytics.h"

/* ---- days ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, char out[11])
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    y += m <= 2;
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)(y % 10000), (unsigned)m % 100u,
             (unsigned)d % 100u);
}

/* The day number of "YYYY-MM-DD" (only the first ten characters are read): 0 with *day, or
 * -1 when s does not start with a real day in that form. */
static int day_parse(const char *s, int64_t *day)
{
    if (!s) return -1;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (s[i] != '-') return -1;
        } else if (!isdigit((unsigned char)s[i])) {
            return -1;
        }
    }
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return -1;
    if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return -1;
    *day = days_from_civil(y, m, d);
    return 0;
}

static int refuse(struct analytics_refusal *ref, const char *code, const char *msg)
{
    ref->code = code;
    snprintf(ref->message, sizeof ref->message, "%s", msg);
    return RAGD_EINVAL;
}

int analytics_range_parse(const char *from, const char *to, int64_t now_ms,
                          struct analytics_range *out, struct analytics_refusal *ref)
{
    memset(out, 0, sizeof *out);
    int64_t f, t = now_ms / 86400000;
    if (to && *to && (strlen(to) != 10 || day_parse(to, &t)))
        return refuse(ref, "INVALID_DATE", "to must be a day in the form YYYY-MM-DD");
    f = t - (ANALYTICS_DEFAULT_DAYS - 1);
    if (from && *from && (strlen(from) != 10 || day_parse(from, &f)))
        return refuse(ref, "INVALID_DATE", "from must be a day in the form YYYY-MM-DD");
    if (f > t) return refuse(ref, "INVALID_RANGE", "from must not be after to");
    if (t - f + 1 > ANALYTICS_MAX_DAYS)
        return refuse(ref, "RANGE_TOO_LONG", "a range covers at most 366 days");
    civil_from_days(f, out->from);
    civil_from_days(t, out->to);
    civil_from_days(t + 1, out->end);
    out->days = (int)(t - f + 1);
    return 0;
}

double analytics_threshold(const struct store_org *o)
{
    struct tickets_rules r; /* one reader of settings.escalation for escalation and analytics */
    tickets_rules_of(o, &r);
    return r.low_confidence.threshold;
}

/* ---- grouping questions by similarity ---- */

enum { MAX_WORDS = 48, MAX_WORD = 40, MAX_SCAN = 1000, EXAMPLE_CHARS = 200 };

static const char *const stop_words[] = {
    "a",     "about", "am",    "an",    "and",  "any",  "are",   "as",  "at",     "be",     "but",
    "by",    "can",   "could", "do",    "does", "for",  "from",  "get", "hello",  "help",   "hey",
    "hi",    "how",   "i",     "if",    "im",   "in",   "is",    "it",  "its",    "just",   "let",
    "like",  "me",    "my",    "need",  "of",   "on",   "or",    "our", "please", "should", "so",
    "some",  "that",  "the",   "there", "this", "to",   "want",  "way", "we",     "what",   "when",
    "where", "which", "who",   "why",   "will", "with", "would", "you", "your",
};

static int is_stop(const char *w)
{
    size_t lo = 0, hi = sizeof stop_words / sizeof stop_words[0];
    while (lo < hi) { /* the list is sorted */
        size_t mid = (lo + hi) / 2;
        int c = strcmp(w, stop_words[mid]);
        if (!c) return 1;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

/* A copy of s cut to at most max characters (code points), on a character boundary. */
static char *cut(const char *s, size_t max)
{
    size_t i = 0, chars = 0;
    while (s[i] && chars < max) {
        i++;
        while ((s[i] & 0xC0) == 0x80)
            i++;
        chars++;
    }
    char *o = xmalloc(i + 1);
    memcpy(o, s, i);
    o[i] = '\0';
    return o;
}

static int cmp_word(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A message's set of words: key (the words, sorted, space-separated) and their hashes,
 * sorted. Returns the number of words (0: nothing to group by). */
static int word_set(const char *body, char *key, size_t keycap, uint64_t *hashes)
{
    char all[MAX_WORDS][MAX_WORD + 1];
    int nall = 0;
    size_t len = strlen(body);
    if (len > MAX_SCAN) len = MAX_SCAN;
    for (size_t i = 0; i < len && nall < MAX_WORDS;) {
        unsigned char c = (unsigned char)body[i];
        if (!(isalnum(c) || c >= 0x80)) {
            i++;
            continue;
        }
        size_t n = 0;
        while (i < len && (isalnum((unsigned char)body[i]) || (unsigned char)body[i] >= 0x80)) {
            if (n < MAX_WORD) all[nall][n++] = (char)tolower((unsigned char)body[i]);
            i++;
        }
        all[nall++][n] = '\0';
    }
    char words[MAX_WORDS][MAX_WORD + 1];
    int nw = 0;
    for (int i = 0; i < nall; i++)
        if (!is_stop(all[i]) && (strlen(all[i]) > 1 || isdigit((unsigned char)all[i][0])))
            memcpy(words[nw++], all[i], MAX_WORD + 1);
    if (!nw) { /* only function words ("hi", "help me"): group by those */
        memcpy(words, all, sizeof words[0] * (size_t)nall);
        nw = nall;
    }
    qsort(words, (size_t)nw, sizeof words[0], cmp_word);
    int k = 0;
    size_t at = 0;
    key[0] = '\0';
    for (int i = 0; i < nw; i++) {
        if (k && !strcmp(words[i], words[i - 1])) continue;
        hashes[k++] = fnv1a(FNV1A_START, words[i], strlen(words[i]));
        at += (size_t)snprintf(key + at, at < keycap ? keycap - at : 0, "%s%s", at ? " " : "",
                               words[i]);
        if (at >= keycap) at = keycap - 1;
    }
    qsort(hashes, (size_t)k, sizeof *hashes, cmp_u64);
    return k;
}

/* Messages with the same word set. */
struct group {
    char *key;
    uint64_t hash;
    uint64_t *words; /* nwords hashes, sorted */
    int nwords;
    int64_t count;
    size_t first; /* order of first appearance */
    char *example;
    double lowest;
    char last_at[32], conversation_id[37];
};

struct grouper {
    struct group *g;
    size_t n, cap;
    size_t *slots; /* open addressing: index + 1, 0 empty */
    size_t nslots;
    int64_t messages;
};

static void grouper_free(struct grouper *gr)
{
    for (size_t i = 0; i < gr->n; i++) {
        free(gr->g[i].key);
        free(gr->g[i].words);
        free(gr->g[i].example);
    }
    free(gr->g);
    free(gr->slots);
}

static void grouper_grow(struct grouper *gr)
{
    size_t ns = gr->nslots ? gr->nslots * 2 : 1024;
    size_t *slots = xcalloc(ns, sizeof *slots);
    for (size_t i = 0; i < gr->n; i++) {
        size_t s = (size_t)gr->g[i].hash & (ns - 1);
        while (slots[s])
            s = (s + 1) & (ns - 1);
        slots[s] = i + 1;
    }
    free(gr->slots);
    gr->slots = slots;
    gr->nslots = ns;
}

/* Counts n messages into the group of word set key (words: its nw hashes, sorted), made with
 * example (cut to EXAMPLE_CHARS) when new; returns the group. */
static struct group *grouper_add_set(struct grouper *gr, const char *key, const uint64_t *words,
                                     int nw, const char *example, int64_t n)
{
    gr->messages += n;
    if ((gr->n + 1) * 2 > gr->nslots) grouper_grow(gr);
    uint64_t h = fnv1a(FNV1A_START, key, strlen(key));
    size_t s = (size_t)h & (gr->nslots - 1);
    while (gr->slots[s]) {
        struct group *g = &gr->g[gr->slots[s] - 1];
        if (g->hash == h && !strcmp(g->key, key)) {
            g->count += n;
            return g;
        }
        s = (s + 1) & (gr->nslots - 1);
    }
    if (gr->n == gr->cap) {
        gr->cap = gr->cap ? gr->cap * 2 : 256;
        gr->g = xrealloc(gr->g, gr->cap * sizeof *gr->g);
    }
    struct group *g = &gr->g[gr->n];
    memset(g, 0, sizeof *g);
    g->key = xstrdup(key);
    g->hash = h;
    g->words = xmalloc(sizeof words[0] * (size_t)nw);
    memcpy(g->words, words, sizeof words[0] * (size_t)nw);
    g->nwords = nw;
    g->count = n;
    g->first = gr->n;
    g->example = cut(example, EXAMPLE_CHARS);
    g->lowest = 2;
    gr->slots[s] = ++gr->n;
    return g;
}

/* Counts n messages with text body into their group; returns the group, or NULL when the
 * text has no words. */
static struct group *grouper_add(struct grouper *gr, const char *body, int64_t n)
{
    char key[1024];
    uint64_t words[MAX_WORDS];
    int nw = word_set(body, key, sizeof key, words);
    if (!nw) return NULL;
    return grouper_add_set(gr, key, words, nw, body, n);
}

/* The same for a group read back from a day's summary: its key (word_set's: distinct words,
 * sorted, space-separated) and example. */
static struct group *grouper_add_key(struct grouper *gr, const char *key, const char *example,
                                     int64_t n)
{
    uint64_t words[MAX_WORDS];
    int nw = 0;
    for (const char *p = key; *p && nw < MAX_WORDS;) {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);
        if (len) words[nw++] = fnv1a(FNV1A_START, p, len);
        p += len + (sp != NULL);
    }
    if (!nw) return NULL;
    qsort(words, (size_t)nw, sizeof *words, cmp_u64);
    return grouper_add_set(gr, key, words, nw, example, n);
}

/* 1 when the word sets of a and b have a Jaccard similarity of at least 0.6. */
static int similar(const struct group *a, const struct group *b)
{
    int i = 0, j = 0, both = 0;
    while (i < a->nwords && j < b->nwords) {
        if (a->words[i] == b->words[j]) {
            both++;
            i++;
            j++;
        } else if (a->words[i] < b->words[j]) {
            i++;
        } else {
            j++;
        }
    }
    int either = a->nwords + b->nwords - both;
    return both * 5 >= either * 3;
}

static int by_count(const void *x, const void *y)
{
    const struct group *a = *(const struct group *const *)x, *b = *(const struct group *const *)y;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return a->first < b->first ? -1 : a->first > b->first;
}

/* Orders indexes into the clusters at base by count, largest first, then by creation. */
static int cluster_by_count(const void *x, const void *y, void *base)
{
    const struct analytics_cluster *cl = base;
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    if (cl[a].count != cl[b].count) return cl[a].count > cl[b].count ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Merges the groups into clusters (see analytics.h) and keeps the max largest: *out (owned)
 * and *n. */
static void cluster(struct grouper *gr, size_t max, struct analytics_cluster **out, size_t *n)
{
    size_t ng = gr->n;
    struct group **order = xcalloc(ng ? ng : 1, sizeof *order);
    for (size_t i = 0; i < ng; i++)
        order[i] = &gr->g[i];
    qsort(order, ng, sizeof *order, by_count);
    if (ng > ANALYTICS_CANDIDATES) ng = ANALYTICS_CANDIDATES;
    struct group **rep = xcalloc(ng ? ng : 1, sizeof *rep);
    struct analytics_cluster *cl = xcalloc(ng ? ng : 1, sizeof *cl);
    size_t nc = 0;
    for (size_t i = 0; i < ng; i++) {
        struct group *g = order[i];
        size_t c = 0;
        while (c < nc && !similar(rep[c], g))
            c++;
        if (c == nc) {
            rep[nc] = g;
            cl[nc].example = g->example;
            cl[nc].lowest_confidence = g->lowest;
            nc++;
        }
        struct analytics_cluster *k = &cl[c];
        k->count += g->count;
        if (g->lowest < k->lowest_confidence) k->lowest_confidence = g->lowest;
        if (strcmp(g->last_at, k->last_at) > 0) {
            memcpy(k->last_at, g->last_at, sizeof k->last_at);
            memcpy(k->conversation_id, g->conversation_id, sizeof k->conversation_id);
        }
    }
    /* Largest first; equal counts in the order the clusters were made (the order of their
     * first groups: larger, then earlier). */
    size_t *idx = xcalloc(nc ? nc : 1, sizeof *idx);
    for (size_t i = 0; i < nc; i++)
        idx[i] = i;
    qsort_r(idx, nc, sizeof *idx, cluster_by_count, cl);
    size_t keep = nc < max ? nc : max;
    struct analytics_cluster *sorted = xcalloc(keep ? keep : 1, sizeof *sorted);
    for (size_t i = 0; i < keep; i++) {
        sorted[i] = cl[idx[i]];
        sorted[i].example = xstrdup(sorted[i].example);
    }
    *out = sorted;
    *n = keep;
    free(idx);
    free(cl);
    free(rep);
    free(order);
}

/* ---- one day ----
 *
 * A day's figures are built from the raw rows once and kept as its summary
 * (store/analytics.h: analytics_days), a JSON object:
 *   "n": [conversations, answered, escalated, handoffs, deflected, visitor messages,
 *         positive, neutral, negative, answers, helpful, not helpful, low confidence,
 *         tokens, tokened answers, agent messages, tickets open, pending, resolved, closed]
 *   "s": the scored visitor messages' score sum
 *   "l": the answers' latencies as text, "value:count" pairs space-separated, ascending
 *        (a day holds a few thousand distinct values: text reads far faster than an array)
 *   "q": the day's question groups in order of first appearance, [key, example, count]
 *   "g": its low-confidence groups, [key, example, count, lowest, last_at, conversation_id]
 * A report then costs one summary per day plus the groups, whatever the traffic behind them;
 * only days written since their last build are summed from the rows again. */

enum { N_FIGURES = 20 };

struct day_build {
    struct grouper questions, gaps;
    char *lat; /* "l" */
    size_t nlat, caplat;
};

static int on_day_agents(void *ud, const char *day, int64_t count)
{
    (void)day;
    *(int64_t *)ud += count;
    return 0;
}

static int on_day_latency(void *ud, int64_t value, int64_t count)
{
    struct day_build *b = ud;
    char pair[48];
    int len = snprintf(pair, sizeof pair, "%s%lld:%lld", b->nlat ? " " : "", (long long)value,
                       (long long)count);
    if (b->nlat + (size_t)len + 1 > b->caplat) {
        b->caplat = (b->nlat + (size_t)len + 1) * 2;
        b->lat = xrealloc(b->lat, b->caplat);
    }
    memcpy(b->lat + b->nlat, pair, (size_t)len + 1);
    b->nlat += (size_t)len;
    return 0;
}

static int on_day_question(void *ud, const char *body, int64_t count, const char *first_at)
{
    (void)first_at;
    struct day_build *b = ud;
    grouper_add(&b->questions, body, count);
    return 0;
}

static int on_day_gap(void *ud, const struct store_agap *g)
{
    struct day_build *b = ud;
    struct group *gr = grouper_add(&b->gaps, g->question ? g->question : "", g->count);
    if (!gr) return 0;
    if (g->lowest < gr->lowest) gr->lowest = g->lowest;
    if (strcmp(g->last_at, gr->last_at) > 0) {
        snprintf(gr->last_at, sizeof gr->last_at, "%s", g->last_at);
        snprintf(gr->conversation_id, sizeof gr->conversation_id, "%s", g->conversation_id);
    }
    return 0;
}

/* Sums org_id's day [day, next) from the raw rows: 0 with *out (owned), or a store error. */
static int day_build(const char *org_id, const char *day, const char *next, double threshold,
                     json_t **out)
{
    *out = NULL;
    struct store_aconvs c;
    struct store_avisits v;
    struct store_aanswers a;
    struct store_atickets t;
    int64_t agents = 0;
    struct day_build b = {0};
    int rc = store_analytics_conversations(org_id, day, next, &c);
    if (!rc) rc = store_analytics_visits(org_id, day, next, &v);
    if (!rc) rc = store_analytics_answers(org_id, day, next, threshold, &a);
    if (!rc) rc = store_analytics_tickets(org_id, day, next, &t);
    if (!rc) rc = store_analytics_agent_days(org_id, day, next, on_day_agents, &agents);
    if (!rc) rc = store_analytics_latencies(org_id, day, next, on_day_latency, &b);
    if (!rc) rc = store_analytics_questions(org_id, day, next, on_day_question, &b);
    if (!rc) rc = store_analytics_gaps(org_id, day, next, threshold, on_day_gap, &b);
    if (!rc) {
        int64_t n[N_FIGURES] = {c.conversations,  c.answered, c.escalated, c.handoffs,
                                c.deflected,      v.messages, v.positive,  v.neutral,
                                v.negative,       a.answers,  a.helpful,   a.not_helpful,
                                a.low_confidence, a.tokens,   a.tokened,   agents,
                                t.open,           t.pending,  t.resolved,  t.closed};
        json_t *nums = json_array(), *q = json_array(), *g = json_array();
        for (int i = 0; i < N_FIGURES; i++)
            json_array_append_new(nums, json_integer(n[i]));
        for (size_t i = 0; i < b.questions.n; i++) {
            const struct group *x = &b.questions.g[i];
            json_array_append_new(q, json_pack("[ssI]", x->key, x->example, (json_int_t)x->count));
        }
        for (size_t i = 0; i < b.gaps.n; i++) {
            const struct group *x = &b.gaps.g[i];
            json_array_append_new(g, json_pack("[ssIfss]", x->key, x->example, (json_int_t)x->count,
                                               x->lowest, x->last_at, x->conversation_id));
        }
        *out = json_pack("{s:o, s:f, s:s, s:o, s:o}", "n", nums, "s", v.score_sum, "l",
                         b.lat ? b.lat : "", "q", q, "g", g);
    }
    free(b.lat);
    grouper_free(&b.questions);
    grouper_free(&b.gaps);
    return rc;
}

/* ---- the report ---- */

struct walk {
    struct analytics_report *r;
    int64_t first_day;
    double threshold;
    json_t **cached; /* per day of the range: its current summary, or NULL */
    struct grouper questions, gaps;
    int64_t *lat_value, *lat_count; /* the latency histogram */
    size_t nlat, caplat;
};

static int on_day_row(void *ud, const struct store_aday_row *d)
{
    struct walk *w = ud;
    int64_t n;
    if (day_parse(d->day, &n) || !d->summary || d->built != d->version ||
        d->threshold != w->threshold)
        return 0;
    n -= w->first_day;
    if (n < 0 || n >= w->r->range.days) return 0;
    json_decref(w->cached[n]);
    w->cached[n] = json_loads(d->summary, 0, NULL); /* NULL (rebuilt) if unreadable */
    return 0;
}

/* Adds count answers that took value ms to the histogram (in any order: latency_sort). */
static int on_latency(void *ud, int64_t value, int64_t count)
{
    struct walk *w = ud;
    if (w->nlat == w->caplat) {
        w->caplat = w->caplat ? w->caplat * 2 : 1024;
        w->lat_value = xrealloc(w->lat_value, w->caplat * sizeof *w->lat_value);
        w->lat_count = xrealloc(w->lat_count, w->caplat * sizeof *w->lat_count);
    }
    w->lat_value[w->nlat] = value;
    w->lat_count[w->nlat++] = count;
    return 0;
}

static int64_t num(json_t *a, size_t i)
{
    return (int64_t)json_integer_value(json_array_get(a, i));
}

/* Adds day summary s into day d and the totals of the report. */
static void apply_day(struct walk *w, struct analytics_day *d, json_t *s)
{
    struct analytics_report *r = w->r;
    json_t *n = json_object_get(s, "n");
    d->conversations = num(n, 0);
    r->conversations += d->conversations;
    r->answered += num(n, 1);
    r->escalated += num(n, 2);
    r->handoffs += num(n, 3);
    r->deflected += num(n, 4);
    d->visitor_messages = num(n, 5);
    d->sentiment[ANALYTICS_POSITIVE] = num(n, 6);
    d->sentiment[ANALYTICS_NEUTRAL] = num(n, 7);
    d->sentiment[ANALYTICS_NEGATIVE] = num(n, 8);
    d->scored = num(n, 6) + num(n, 7) + num(n, 8);
    d->score_sum = json_number_value(json_object_get(s, "s"));
    r->visitor_messages += d->visitor_messages;
    for (int i = 0; i < ANALYTICS_LABELS; i++)
        r->sentiment[i] += d->sentiment[i];
    r->scored += d->scored;
    r->unscored += d->visitor_messages - d->scored;
    r->score_sum += d->score_sum;
    d->answers = num(n, 9);
    d->helpful = num(n, 10);
    d->not_helpful = num(n, 11);
    d->low_confidence = num(n, 12);
    d->tokens = num(n, 13);
    r->answers += d->answers;
    r->helpful += d->helpful;
    r->not_helpful += d->not_helpful;
    r->low_confidence += d->low_confidence;
    r->tokens += d->tokens;
    r->tokened_answers += num(n, 14);
    d->agent_messages = num(n, 15);
    r->agent_messages += d->agent_messages;
    r->tickets_open += num(n, 16);
    r->tickets_pending += num(n, 17);
    r->tickets_resolved += num(n, 18);
    r->tickets_closed += num(n, 19);

    const char *lat = json_string_value(json_object_get(s, "l"));
    for (char *end; lat && *lat; lat = end) {
        int64_t value = strtoll(lat, &end, 10);
        if (*end != ':') break;
        int64_t count = strtoll(end + 1, &end, 10);
        on_latency(w, value, count);
    }
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(s, "q"), i, x)
    {
        const char *key = json_string_value(json_array_get(x, 0));
        const char *ex = json_string_value(json_array_get(x, 1));
        if (key && ex) grouper_add_key(&w->questions, key, ex, num(x, 2));
    }
    json_array_foreach(json_object_get(s, "g"), i, x)
    {
        const char *key = json_string_value(json_array_get(x, 0));
        const char *ex = json_string_value(json_array_get(x, 1));
        const char *last = json_string_value(json_array_get(x, 4));
        const char *conv = json_string_value(json_array_get(x, 5));
        struct group *g = key && ex ? grouper_add_key(&w->gaps, key, ex, num(x, 2)) : NULL;
        if (!g) continue;
        double low = json_number_value(json_array_get(x, 3));
        if (low < g->lowest) g->lowest = low;
        if (last && conv && strcmp(last, g->last_at) > 0) {
            snprintf(g->last_at, sizeof g->last_at, "%s", last);
            snprintf(g->conversation_id, sizeof g->conversation_id, "%s", conv);
        }
    }
}

static int by_value(const void *x, const void *y, void *ud)
{
    const int64_t *v = ud;
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    return v[a] < v[b] ? -1 : v[a] > v[b];
}

/* Puts the histogram in ascending order of value, one entry a value: the total count. */
static int64_t latency_sort(struct walk *w)
{
    size_t *idx = xcalloc(w->nlat ? w->nlat : 1, sizeof *idx);
    for (size_t i = 0; i < w->nlat; i++)
        idx[i] = i;
    qsort_r(idx, w->nlat, sizeof *idx, by_value, w->lat_value);
    int64_t *v = xcalloc(w->nlat ? w->nlat : 1, sizeof *v);
    int64_t *c = xcalloc(w->nlat ? w->nlat : 1, sizeof *c);
    size_t k = 0;
    int64_t n = 0;
    for (size_t i = 0; i < w->nlat; i++) {
        int64_t value = w->lat_value[idx[i]], count = w->lat_count[idx[i]];
        n += count;
        if (k && v[k - 1] == value) {
            c[k - 1] += count;
            continue;
        }
        v[k] = value;
        c[k++] = count;
    }
    free(idx);
    free(w->lat_value);
    free(w->lat_count);
    w->lat_value = v;
    w->lat_count = c;
    w->nlat = k;
    w->caplat = w->nlat ? w->nlat : 1;
    return n;
}

/* The nearest-rank p-th percentile of the histogram (ascending) holding n > 0 values. */
static int64_t percentile(const struct walk *w, int64_t n, int p)
{
    int64_t rank = (p * n + 99) / 100, seen = 0;
    for (size_t i = 0; i < w->nlat; i++) {
        seen += w->lat_count[i];
        if (seen >= rank) return w->lat_value[i];
    }
    return w->nlat ? w->lat_value[w->nlat - 1] : 0;
}

void analytics_report_free(struct analytics_report *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->ntop; i++)
        free(r->top[i].example);
    for (size_t i = 0; i < r->ngaps; i++)
        free(r->gaps[i].example);
    free(r->top);
    free(r->gaps);
    free(r->days);
    memset(r, 0, sizeof *r);
}

/* The summary of day i: the current one read, else built from the rows and kept. */
static int day_summary(const char *org_id, struct walk *w, int i, json_t **out)
{
    struct analytics_report *r = w->r;
    if (w->cached[i]) {
        *out = json_incref(w->cached[i]);
        return 0;
    }
    const char *day = r->days[i].date;
    const char *next = i + 1 < r->range.days ? r->days[i + 1].date : r->range.end;
    /* The version is read before the rows; without it (a database refusing writes) the day
     * is summed for this report only. A failed save leaves the day to be built again. */
    int64_t version = 0;
    int keep = store_analytics_day_version(org_id, day, &version) == 0;
    int rc = day_build(org_id, day, next, w->threshold, out);
    if (rc || !keep) return rc;
    char *text = json_dumps(*out, JSON_COMPACT);
    if (!text) panic("analytics: unserialisable summary");
    (void)store_analytics_day_save(org_id, day, version, w->threshold, text);
    free(text);
    return 0;
}

int analytics_report(const char *org_id, const struct analytics_range *range, double threshold,
                     struct analytics_report *out)
{
    memset(out, 0, sizeof *out);
    RAGD_ASSERT(range->days >= 1 && range->days <= ANALYTICS_MAX_DAYS);
    out->range = *range;
    out->threshold = threshold;
    out->days = xcalloc((size_t)range->days, sizeof *out->days);
    struct walk w = {.r = out, .threshold = threshold};
    if (day_parse(range->from, &w.first_day)) panic("analytics: unparsed range");
    for (int i = 0; i < range->days; i++)
        civil_from_days(w.first_day + i, out->days[i].date);
    w.cached = xcalloc((size_t)range->days, sizeof *w.cached);

    /* Days in order, so that groups are made in the order their questions first came. */
    int rc = store_analytics_days(org_id, range->from, range->to, on_day_row, &w);
    for (int i = 0; !rc && i < range->days; i++) {
        json_t *s = NULL;
        rc = day_summary(org_id, &w, i, &s);
        if (!rc) apply_day(&w, &out->days[i], s);
        json_decref(s);
    }
    if (!rc) {
        int64_t n = latency_sort(&w);
        out->timed_answers = n;
        if (n) {
            out->p50_ms = percentile(&w, n, 50);
            out->p95_ms = percentile(&w, n, 95);
        }
        out->questions = w.questions.messages;
        cluster(&w.questions, ANALYTICS_TOP, &out->top, &out->ntop);
        cluster(&w.gaps, ANALYTICS_GAPS, &out->gaps, &out->ngaps);
    }
    for (int i = 0; i < range->days; i++)
        json_decref(w.cached[i]);
    free(w.cached);
    grouper_free(&w.questions);
    grouper_free(&w.gaps);
    free(w.lat_value);
    free(w.lat_count);
    if (rc) analytics_report_free(out);
    return rc;
}
