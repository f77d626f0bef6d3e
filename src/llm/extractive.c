/* extractive.c - the provider used when no language model is configured: it answers with
 * the sentences of the retrieved passages that best match the question, each cited by the
 * passage number, and says that it is extractive. Slash-command tasks get the same
 * treatment in their formats (flashcards, MCQ and concept maps as JSON). Deterministic. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/util.h"
#include "llm/provider.h"

#define EXTRACTIVE_NOTE                                                                            \
    "(Extractive answer: no language model is configured, so these are the most relevant "         \
    "sentences from the knowledge base.)"

enum { MAX_SENT = 256, MAX_WORDS = 64 };

static const char *const stop[] = {
    "the",     "and",   "for",    "are",      "but",   "not",  "you",   "all",   "any",    "can",
    "had",     "her",   "was",    "one",      "our",   "out",  "has",   "his",   "how",    "its",
    "may",     "new",   "now",    "see",      "two",   "who",  "did",   "get",   "let",    "say",
    "she",     "too",   "use",    "with",     "this",  "that", "from",  "they",  "will",   "would",
    "there",   "their", "what",   "about",    "which", "when", "make",  "like",  "into",   "than",
    "then",    "them",  "these",  "some",     "could", "your", "each",  "does",  "have",   "been",
    "were",    "also",  "only",   "more",     "most",  "such", "where", "while", "should", "other",
    "explain", "tell",  "please", "describe", "why",   "is",   NULL};

static int is_stop(const char *w)
{
    for (const char *const *s = stop; *s; s++)
        if (!strcmp(*s, w)) return 1;
    return 0;
}

/* Lower-cased words of at least 3 ASCII letters/digits, minus stop words. Non-ASCII bytes
 * are kept inside words so other scripts still match themselves. */
static int words(const char *s, size_t n, char out[][32], int max)
{
    int k = 0;
    size_t i = 0;
    while (i < n && k < max) {
        while (i < n && !(isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80))
            i++;
        size_t st = i;
        while (i < n && (isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80))
            i++;
        size_t len = i - st;
        if (len < 3 || len > 31) continue;
        for (size_t j = 0; j < len; j++)
            out[k][j] = (char)tolower((unsigned char)s[st + j]);
        out[k][len] = '\0';
        if (!is_stop(out[k])) k++;
    }
    return k;
}

struct sent {
    const char *s;
    size_t n;
    int passage; /* 0-based */
    double score;
    int order;
};

/* Splits passages into sentences (at ". ", "! ", "? " and line breaks). */
static int split(const struct prov_passage *p, size_t np, struct sent *out, int max)
{
    int k = 0;
    for (size_t i = 0; i < np && k < max; i++) {
        const char *s = p[i].content ? p[i].content : "";
        size_t n = strlen(s), st = 0;
        for (size_t j = 0; j <= n && k < max; j++) {
            int end = j == n || s[j] == '\n' ||
                      ((s[j] == '.' || s[j] == '!' || s[j] == '?') &&
                       (j + 1 == n || s[j + 1] == ' ' || s[j + 1] == '\n'));
            if (!end) continue;
            size_t e = j < n && s[j] != '\n' ? j + 1 : j;
            while (st < e && isspace((unsigned char)s[st]))
                st++;
            /* Markdown decoration at the start of a line is not part of the sentence. */
            while (st < e && (s[st] == '#' || s[st] == '-' || s[st] == '*' || s[st] == '>'))
                st++;
            while (st < e && isspace((unsigned char)s[st]))
                st++;
            if (e > st + 12) {
                out[k] = (struct sent){s + st, e - st, (int)i, 0, k};
                k++;
            }
            st = j + 1;
        }
    }
    return k;
}

static void score(struct sent *ss, int n, const char *question, const struct prov_passage *p)
{
    char q[MAX_WORDS][32], w[MAX_WORDS * 4][32];
    int nq = words(question, strlen(question), q, MAX_WORDS);
    for (int i = 0; i < n; i++) {
        int nw = words(ss[i].s, ss[i].n, w, MAX_WORDS * 4);
        double hit = 0;
        for (int a = 0; a < nq; a++)
            for (int b = 0; b < nw; b++)
                if (!strcmp(q[a], w[b])) {
                    hit += 1;
                    break;
                }
        /* Overlap first, then the passage's rank, then position inside it. */
        ss[i].score = hit * 10 + (nq ? 0 : 1) + 2.0 / (1 + ss[i].passage) +
                      (p[ss[i].passage].score > 0 ? 0.1 * p[ss[i].passage].score : 0) -
                      0.001 * ss[i].order;
    }
}

static int by_score(const void *a, const void *b)
{
    const struct sent *x = a, *y = b;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : x->order - y->order;
}

static int by_order(const void *a, const void *b)
{
    return ((const struct sent *)a)->order - ((const struct sent *)b)->order;
}

static void add_sources(struct sbuf *b, const struct prov_passage *p, size_t np, const int *used)
{
    sb_adds(b, "\n\nSources:");
    for (size_t i = 0; i < np; i++)
        if (used[i])
            sb_printf(b, "\n[%zu] %s", i + 1, p[i].title && *p[i].title ? p[i].title : "Document");
}

/* The best `want` sentences, re-ordered as they appear in the passages. */
static int best(const struct prov_request *req, struct sent *ss, int want)
{
    int n = split(req->passages, req->n_passages, ss, MAX_SENT);
    score(ss, n, req->question ? req->question : "", req->passages);
    qsort(ss, (size_t)n, sizeof *ss, by_score);
    if (n > want) n = want;
    qsort(ss, (size_t)n, sizeof *ss, by_order);
    return n;
}

static void add_text(struct sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sb_add(b, s[i] == '\n' ? " " : s + i, 1);
}

static char *answer(const struct prov_request *req, int want, int bullets)
{
    struct sbuf b;
    sb_init(&b);
    if (!req->n_passages) {
        sb_adds(&b, "I could not find anything about this in the knowledge base. "
                    "(Extractive mode: no language model is configured, so I can only answer "
                    "from the documents that have been uploaded.)");
        return sb_take(&b);
    }
    struct sent *ss = xcalloc(MAX_SENT, sizeof *ss);
    int *used = xcalloc(req->n_passages, sizeof *used);
    int n = best(req, ss, want);
    if (!bullets) sb_adds(&b, "According to the knowledge base:\n\n");
    for (int i = 0; i < n; i++) {
        if (bullets) sb_adds(&b, "- ");
        add_text(&b, ss[i].s, ss[i].n);
        sb_printf(&b, " [%d]%s", ss[i].passage + 1, bullets ? "\n" : " ");
        used[ss[i].passage] = 1;
    }
    while (b.len && (b.s[b.len - 1] == ' ' || b.s[b.len - 1] == '\n'))
        b.len--;
    add_sources(&b, req->passages, req->n_passages, used);
    sb_adds(&b, "\n\n" EXTRACTIVE_NOTE);
    free(used);
    free(ss);
    return sb_take(&b);
}

/* ---- structured tasks ---- */

static json_t *cite(const struct prov_request *req, int passage)
{
    const struct prov_passage *p = &req->passages[passage];
    return json_pack("{s:i, s:s, s:s}", "ref", passage + 1, "title",
                     p->title && *p->title ? p->title : "Document", "document_id",
                     p->document_id ? p->document_id : "");
}

/* "X is Y." gives the front "What is X?"; otherwise a cloze on the longest word. */
static json_t *flashcard(const struct prov_request *req, const struct sent *s)
{
    char *text = xstrndup(s->s, s->n);
    for (char *c = text; *c; c++)
        if (*c == '\n') *c = ' ';
    const char *verbs[] = {" is ", " are ", " means ", " stores ", " uses ", " returns "};
    char *front = NULL;
    for (size_t v = 0; v < sizeof verbs / sizeof verbs[0] && !front; v++) {
        char *at = strstr(text, verbs[v]);
        if (at && at - text >= 3 && at - text < 80)
            front = xasprintf("What%.*s%.*s?", (int)strlen(verbs[v]) - 1, verbs[v],
                              (int)(at - text), text);
    }
    if (!front)
        front = xasprintf("Explain: %.*s%s", (int)(s->n > 80 ? 80 : s->n), text,
                          s->n > 80 ? "..." : "");
    json_t *card =
        json_pack("{s:s, s:s, s:o}", "front", front, "back", text, "source", cite(req, s->passage));
    free(front);
    free(text);
    return card;
}

static char *task_flashcards(const struct prov_request *req)
{
    struct sent *ss = xcalloc(MAX_SENT, sizeof *ss);
    int n = best(req, ss, 5);
    json_t *cards = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(cards, flashcard(req, &ss[i]));
    json_t *o = json_pack("{s:s, s:o, s:s}", "topic", req->question ? req->question : "",
                          "flashcards", cards, "note", EXTRACTIVE_NOTE);
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    free(ss);
    return s;
}

/* A key word of s: the longest non-stop word (ties: first). */
static int keyword(const char *s, size_t n, char out[32])
{
    char w[MAX_WORDS * 4][32];
    int nw = words(s, n, w, MAX_WORDS * 4);
    int bi = -1;
    for (int i = 0; i < nw; i++)
        if (bi < 0 || strlen(w[i]) > strlen(w[bi])) bi = i;
    if (bi < 0) return 0;
    memcpy(out, w[bi], 32);
    return 1;
}

static uint32_t fnv(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static char *task_mcq(const struct prov_request *req)
{
    struct sent *ss = xcalloc(MAX_SENT, sizeof *ss);
    int n = best(req, ss, 1);
    char key[32];
    json_t *o;
    if (!n || !keyword(ss[0].s, ss[0].n, key)) {
        o = json_pack("{s:s, s:s}", "error",
                      "not enough material in the knowledge base for a "
                      "question on this topic",
                      "note", EXTRACTIVE_NOTE);
    } else {
        /* The question blanks the key word out of the sentence (case-insensitively). */
        char *text = xstrndup(ss[0].s, ss[0].n);
        struct sbuf q;
        sb_init(&q);
        sb_adds(&q, "Fill in the blank: ");
        size_t kl = strlen(key);
        for (size_t i = 0; text[i];) {
            if (!strncasecmp(text + i, key, kl)) {
                sb_adds(&q, "_____");
                i += kl;
            } else {
                sb_add(&q, text[i] == '\n' ? " " : text + i, 1);
                i++;
            }
        }
        /* Distractors: other long words from the other passages' sentences. */
        char opts[4][32];
        int no = 0;
        memcpy(opts[no++], key, 32);
        struct sent *all = xcalloc(MAX_SENT, sizeof *all);
        int na = split(req->passages, req->n_passages, all, MAX_SENT);
        char w[MAX_WORDS * 4][32];
        for (int pass = 0; pass < 2 && no < 4; pass++)
            for (int i = 0; i < na && no < 4; i++) {
                int nw = words(all[i].s, all[i].n, w, MAX_WORDS * 4);
                for (int j = 0; j < nw && no < 4; j++) {
                    size_t l = strlen(w[j]);
                    if (l < (pass ? 4u : kl > 6 ? kl - 3 : 4u)) continue;
                    int dup = 0;
                    for (int k = 0; k < no; k++)
                        dup |= !strcmp(opts[k], w[j]);
                    if (!dup && !strstr(q.s, w[j])) memcpy(opts[no++], w[j], 32);
                }
            }
        static const char *const filler[] = {"index", "quota", "token", "cache"};
        for (int f = 0; no < 4 && f < 4; f++) {
            int dup = 0;
            for (int k = 0; k < no; k++)
                dup |= !strcmp(opts[k], filler[f]);
            if (!dup) snprintf(opts[no++], 32, "%s", filler[f]);
        }
        /* Deterministic shuffle so the answer is not always A. */
        int order[4] = {0, 1, 2, 3};
        uint32_t h = fnv(text);
        for (int i = 3; i > 0; i--) {
            int j = (int)(h % (uint32_t)(i + 1));
            h = h * 1103515245u + 12345u;
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        json_t *options = json_object();
        char answer[2] = "A";
        for (int i = 0; i < 4; i++) {
            char letter[2] = {(char)('A' + i), 0};
            json_object_set_new(options, letter, json_string(opts[order[i]]));
            if (order[i] == 0) answer[0] = letter[0];
        }
        char *expl = xasprintf("The passage [%d] says: %s", ss[0].passage + 1, text);
        o = json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:s}", "topic",
                      req->question ? req->question : "", "question", q.s, "options", options,
                      "answer", answer, "explanation", expl, "source", cite(req, ss[0].passage),
                      "note", EXTRACTIVE_NOTE);
        free(expl);
        free(all);
        sb_free(&q);
        free(text);
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    free(ss);
    return s;
}

static char *task_map(const struct prov_request *req)
{
    /* Concepts: the most frequent key words of the passages, each linked to the topic by
     * the first sentence that mentions it. */
    struct sent *all = xcalloc(MAX_SENT, sizeof *all);
    int na = split(req->passages, req->n_passages, all, MAX_SENT);
    enum { MAXC = 128 };
    char(*term)[32] = xcalloc(MAXC, 32);
    int *count = xcalloc(MAXC, sizeof *count), *first = xcalloc(MAXC, sizeof *first);
    int nt = 0;
    char topic_w[MAX_WORDS][32];
    int ntw = words(req->question ? req->question : "", strlen(req->question ? req->question : ""),
                    topic_w, MAX_WORDS);
    char w[MAX_WORDS * 4][32];
    for (int i = 0; i < na; i++) {
        int nw = words(all[i].s, all[i].n, w, MAX_WORDS * 4);
        for (int j = 0; j < nw; j++) {
            if (strlen(w[j]) < 4) continue;
            int skip = 0;
            for (int t = 0; t < ntw; t++)
                skip |= !strcmp(topic_w[t], w[j]);
            if (skip) continue;
            int k = 0;
            while (k < nt && strcmp(term[k], w[j]))
                k++;
            if (k == nt) {
                if (nt == MAXC) continue;
                memcpy(term[nt], w[j], 32);
                first[nt] = i;
                nt++;
            }
            count[k]++;
        }
    }
    json_t *nodes = json_array(), *edges = json_array();
    const char *topic = req->question && *req->question ? req->question : "topic";
    json_array_append_new(nodes, json_pack("{s:s, s:s}", "id", topic, "type", "central"));
    for (int pick = 0; pick < 8; pick++) {
        int bk = -1;
        for (int k = 0; k < nt; k++)
            if (count[k] > 0 && (bk < 0 || count[k] > count[bk])) bk = k;
        if (bk < 0) break;
        const struct sent *s = &all[first[bk]];
        char *rel = xstrndup(s->s, s->n > 160 ? 160 : s->n);
        for (char *c = rel; *c; c++)
            if (*c == '\n') *c = ' ';
        json_array_append_new(nodes, json_pack("{s:s, s:s, s:i}", "id", term[bk], "type", "concept",
                                               "mentions", count[bk]));
        json_array_append_new(edges,
                              json_pack("{s:s, s:s, s:s, s:o}", "from", topic, "to", term[bk],
                                        "label", rel, "source", cite(req, s->passage)));
        free(rel);
        count[bk] = 0;
    }
    json_t *o = json_pack("{s:s, s:o, s:o, s:s}", "topic", topic, "nodes", nodes, "edges", edges,
                          "note", EXTRACTIVE_NOTE);
    char *out = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    free(term);
    free(count);
    free(first);
    free(all);
    return out;
}

/* ---- provider ---- */

/* A structured answer (a JSON object with "flashcards", or "nodes" and "edges") without its
 * last items until its text is at most max bytes or one item is left. Takes text, returns
 * the text to use (text itself when it is not such an object). */
static char *shrink_json(char *text, size_t max)
{
    json_error_t je;
    json_t *o = text[0] == '{' ? json_loads(text, 0, &je) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        return text;
    }
    json_t *cards = json_object_get(o, "flashcards");
    json_t *nodes = json_object_get(o, "nodes"), *edges = json_object_get(o, "edges");
    char *out = NULL;
    for (;;) {
        free(out);
        out = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (!out || strlen(out) <= max) break;
        if (json_array_size(cards) > 1) {
            json_array_remove(cards, json_array_size(cards) - 1);
        } else if (json_array_size(edges) > 1) {
            /* node i + 1 is the concept of edge i */
            json_array_remove(edges, json_array_size(edges) - 1);
            if (json_array_size(nodes) > json_array_size(edges) + 1)
                json_array_remove(nodes, json_array_size(nodes) - 1);
        } else {
            break;
        }
    }
    json_decref(o);
    if (!out) return text;
    free(text);
    return out;
}

static int ex_generate(void *self, const struct prov_request *req, prov_token_fn on_token, void *ud,
                       struct prov_result *res, char *err, size_t errcap)
{
    (void)self;
    (void)err;
    (void)errcap;
    memset(res, 0, sizeof *res);
    char *text;
    switch (req->task) {
    case PROV_TASK_FLASHCARD:
        text = task_flashcards(req);
        break;
    case PROV_TASK_MCQ:
        text = task_mcq(req);
        break;
    case PROV_TASK_MAP:
        text = task_map(req);
        break;
    case PROV_TASK_HIGHYIELD:
        text = answer(req, 6, 1);
        break;
    case PROV_TASK_EXPLAIN:
        text = answer(req, 8, 0);
        break;
    default:
        text = answer(req, 3, 0);
        break;
    }
    size_t n = strlen(text);
    if (req->max_tokens > 0 && (size_t)prov_estimate_tokens(text, n) > (size_t)req->max_tokens) {
        /* An answer counts as many tokens as its estimate: structured output gives up items
         * until it fits, anything else is cut to max_tokens' worth on a UTF-8 boundary
         * (structured output that still does not fit is then shown as text). */
        res->truncated = 1;
        text = shrink_json(text, (size_t)req->max_tokens * 4);
        n = strlen(text);
    }
    if (req->max_tokens > 0 && (size_t)prov_estimate_tokens(text, n) > (size_t)req->max_tokens) {
        n = (size_t)req->max_tokens * 4;
        while (n && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;
        text[n] = '\0';
        res->truncated = 1;
    }
    res->text = text;
    /* Stream word by word so clients see the same events as with a model. */
    for (size_t i = 0; on_token && i < n;) {
        size_t j = i;
        while (j < n && text[j] != ' ')
            j++;
        if (j < n) j++;
        if (on_token(ud, text + i, j - i)) {
            res->stopped = 1;
            break;
        }
        i = j;
    }
    int prompt = 0;
    for (size_t i = 0; i < req->n_messages; i++)
        prompt += prov_estimate_tokens(req->messages[i].content, strlen(req->messages[i].content));
    res->prompt_tokens = prompt;
    res->completion_tokens = prov_estimate_tokens(text, n);
    snprintf(res->model, sizeof res->model, "extractive");
    return 0;
}

static int ex_count(void *self, const char *text, size_t len)
{
    (void)self;
    return prov_estimate_tokens(text, len);
}

static const char *ex_model(void *self)
{
    (void)self;
    return "extractive";
}

static json_t *ex_health(void *self)
{
    (void)self;
    return json_pack("{s:s, s:s, s:s}", "status", "healthy", "provider", "extractive", "detail",
                     "no language model configured; answers quote the knowledge base");
}

static void ex_free(void *self)
{
    (void)self;
}

static const struct prov_provider_ops extractive_ops = {
    .name = "extractive",
    .generate = ex_generate,
    .count_tokens = ex_count,
    .model = ex_model,
    .health = ex_health,
    .free = ex_free,
};

prov_provider_t *prov_extractive_create(void)
{
    prov_provider_t *p = xcalloc(1, sizeof *p);
    p->ops = &extractive_ops;
    return p;
}
