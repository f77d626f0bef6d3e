/* analytics.c - an organization's support-desk analytics (support/analytics.h). */
#include "support/analytics.h"

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
    json_error_t je;
    json_t *s = json_loads(o->settings ? o->settings : "{}", 0, &je);
    json_t *v = json_object_get(json_object_get(s, "escalation"), "low_confidence");
    double t = json_is_number(v) ? json_number_value(v) : ANALYTICS_LOW_CONFIDENCE;
    json_decref(s);
    return t >= 0 && t <= 1 ? t : ANALYTICS_LOW_CONFIDENCE;
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

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
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
        hashes[k++] = fnv(words[i], strlen(words[i]));
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
    uint64_t words[MAX_WORDS];
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

/* Counts n messages with text body into their group; returns the group, or NULL when the
 * text has no words. */
static struct group *grouper_add(struct grouper *gr, const char *body, int64_t n)
{
    char key[1024];
    uint64_t words[MAX_WORDS];
    int nw = word_set(body, key, sizeof key, words);
    if (!nw) return NULL;
    gr->messages += n;
    if ((gr->n + 1) * 2 > gr->nslots) grouper_grow(gr);
    uint64_t h = fnv(key, strlen(key));
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
    memcpy(g->words, words, sizeof words[0] * (size_t)nw);
    g->nwords = nw;
    g->count = n;
    g->first = gr->n;
    g->example = cut(body, EXAMPLE_CHARS);
    g->lowest = 2;
    gr->slots[s] = ++gr->n;
    return g;
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

/* ---- the report ---- */

struct walk {
    struct analytics_report *r;
    int64_t first_day;
    struct grouper questions, gaps;
    int64_t *lat_value, *lat_count; /* the latency histogram, ascending */
    size_t nlat, caplat;
};

static int on_agent_day(void *ud, const char *day, int64_t count)
{
    struct walk *w = ud;
    int64_t d;
    if (day_parse(day, &d)) return 0;
    d -= w->first_day;
    if (d >= 0 && d < w->r->range.days) {
        w->r->days[d].agent_messages += count;
        w->r->agent_messages += count;
    }
    return 0;
}

static int on_question(void *ud, const char *body, int64_t count, const char *first_at)
{
    struct walk *w = ud;
    grouper_add(&w->questions, body, count);
    return 0;
}

static int on_gap(void *ud, const struct store_agap *g)
{
    struct walk *w = ud;
    struct group *gr = grouper_add(&w->gaps, g->question ? g->question : "", g->count);
    if (!gr) return 0;
    if (g->lowest < gr->lowest) gr->lowest = g->lowest;
    if (strcmp(g->last_at, gr->last_at) > 0) {
        snprintf(gr->last_at, sizeof gr->last_at, "%s", g->last_at);
        snprintf(gr->conversation_id, sizeof gr->conversation_id, "%s", g->conversation_id);
    }
    return 0;
}

static int on_latency(void *ud, int64_t value, int64_t count)
{
    struct walk *w = ud;
    if (w->nlat == w->caplat) {
        w->caplat = w->caplat ? w->caplat * 2 : 256;
        w->lat_value = xrealloc(w->lat_value, w->caplat * sizeof *w->lat_value);
        w->lat_count = xrealloc(w->lat_count, w->caplat * sizeof *w->lat_count);
    }
    w->lat_value[w->nlat] = value;
    w->lat_count[w->nlat++] = count;
    return 0;
}

/* The nearest-rank p-th percentile of the histogram holding n > 0 values. */
static int64_t percentile(const struct walk *w, int64_t n, int p)
{
    int64_t rank = (p * n + 99) / 100, seen = 0;
    for (size_t i = 0; i < w->nlat; i++) {
        seen += w->lat_count[i];
        if (seen >= rank) return w->lat_value[i];
    }
    return w->nlat ? w->lat_value[w->nlat - 1] : 0;
}

/* Sums one day [day, next) into d and the totals of r. */
static int sum_day(const char *org_id, struct analytics_report *r, struct analytics_day *d,
                   const char *next)
{
    struct store_aconvs c;
    struct store_avisits v;
    struct store_aanswers a;
    int rc = store_analytics_conversations(org_id, d->date, next, &c);
    if (!rc) rc = store_analytics_visits(org_id, d->date, next, &v);
    if (!rc) rc = store_analytics_answers(org_id, d->date, next, r->threshold, &a);
    if (rc) return rc;
    d->conversations = c.conversations;
    r->conversations += c.conversations;
    r->answered += c.answered;
    r->escalated += c.escalated;
    r->handoffs += c.handoffs;
    r->deflected += c.deflected;
    d->visitor_messages = v.messages;
    d->sentiment[ANALYTICS_POSITIVE] = v.positive;
    d->sentiment[ANALYTICS_NEUTRAL] = v.neutral;
    d->sentiment[ANALYTICS_NEGATIVE] = v.negative;
    d->scored = v.positive + v.neutral + v.negative;
    d->score_sum = v.score_sum;
    r->visitor_messages += v.messages;
    for (int i = 0; i < ANALYTICS_LABELS; i++)
        r->sentiment[i] += d->sentiment[i];
    r->scored += d->scored;
    r->unscored += v.messages - d->scored;
    r->score_sum += v.score_sum;
    d->answers = a.answers;
    d->helpful = a.helpful;
    d->not_helpful = a.not_helpful;
    d->low_confidence = a.low_confidence;
    d->tokens = a.tokens;
    r->answers += a.answers;
    r->helpful += a.helpful;
    r->not_helpful += a.not_helpful;
    r->low_confidence += a.low_confidence;
    r->tokens += a.tokens;
    r->tokened_answers += a.tokened;
    return 0;
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

int analytics_report(const char *org_id, const struct analytics_range *range, double threshold,
                     struct analytics_report *out)
{
    memset(out, 0, sizeof *out);
    RAGD_ASSERT(range->days >= 1 && range->days <= ANALYTICS_MAX_DAYS);
    out->range = *range;
    out->threshold = threshold;
    out->days = xcalloc((size_t)range->days, sizeof *out->days);
    struct walk w = {.r = out};
    if (day_parse(range->from, &w.first_day)) panic("analytics: unparsed range");
    for (int i = 0; i < range->days; i++)
        civil_from_days(w.first_day + i, out->days[i].date);

    /* Day by day: each sum is one index range without a sort. */
    int rc = 0;
    for (int i = 0; !rc && i < range->days; i++)
        rc = sum_day(org_id, out, &out->days[i],
                     i + 1 < range->days ? out->days[i + 1].date : range->end);
    const char *from = range->from, *to = range->end;
    struct store_atickets t = {0};
    if (!rc) rc = store_analytics_tickets(org_id, from, to, &t);
    if (!rc) rc = store_analytics_agent_days(org_id, from, to, on_agent_day, &w);
    if (!rc) rc = store_analytics_latencies(org_id, from, to, on_latency, &w);
    if (!rc) rc = store_analytics_questions(org_id, from, to, on_question, &w);
    if (!rc) rc = store_analytics_gaps(org_id, from, to, threshold, on_gap, &w);
    if (!rc) {
        out->tickets_open = t.open;
        out->tickets_pending = t.pending;
        out->tickets_resolved = t.resolved;
        out->tickets_closed = t.closed;
        int64_t n = 0;
        for (size_t i = 0; i < w.nlat; i++)
            n += w.lat_count[i];
        out->timed_answers = n;
        if (n) {
            out->p50_ms = percentile(&w, n, 50);
            out->p95_ms = percentile(&w, n, 95);
        }
        out->questions = w.questions.messages;
        cluster(&w.questions, ANALYTICS_TOP, &out->top, &out->ntop);
        cluster(&w.gaps, ANALYTICS_GAPS, &out->gaps, &out->ngaps);
    }
    grouper_free(&w.questions);
    grouper_free(&w.gaps);
    free(w.lat_value);
    free(w.lat_count);
    if (rc) analytics_report_free(out);
    return rc;
}
