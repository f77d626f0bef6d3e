#include "engine/chatml.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"

struct sbuf {
    char *p;
    size_t len, cap;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    if (n) /* s may be NULL when n is 0 */
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void puts_(struct sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

char *chatml_format(const struct chatml_msg *msgs, size_t n, int add_assistant, int thinking)
{
    struct sbuf b = {0};
    put(&b, "", 0);
    for (size_t i = 0; i < n; i++) {
        puts_(&b, "<|im_start|>");
        puts_(&b, msgs[i].role);
        puts_(&b, "\n");
        if (msgs[i].n_parts)
            for (size_t k = 0; k < msgs[i].n_parts; k++)
                puts_(&b, msgs[i].parts[k].text);
        else
            puts_(&b, msgs[i].content);
        puts_(&b, "<|im_end|>\n");
    }
    if (add_assistant) {
        puts_(&b, "<|im_start|>assistant\n");
        if (!thinking) puts_(&b, "<think>\n\n</think>\n\n");
    }
    return b.p;
}

/* ---- tokens ---- */

struct ids {
    int32_t *v;
    size_t n, cap;
};

static void ids_push(struct ids *a, const int32_t *v, size_t n)
{
    if (a->n + n > a->cap) {
        a->cap = (a->n + n) * 2 + 16;
        a->v = xrealloc(a->v, a->cap * sizeof *a->v);
    }
    if (n) memcpy(a->v + a->n, v, n * sizeof *v);
    a->n += n;
}

static int push_text(struct ids *a, const tokenizer_t *t, const char *s, size_t len, int flags)
{
    int32_t *v;
    size_t n;
    int rc = tokenizer_encode(t, s, len, flags, &v, &n);
    if (rc) return rc;
    ids_push(a, v, n);
    free(v);
    return 0;
}

/* A marker as its control token, or as text when the vocabulary has no such entry. */
static int push_marker(struct ids *a, const tokenizer_t *t, const char *marker)
{
    int32_t id = tokenizer_find(t, marker, strlen(marker));
    if (id < 0) return push_text(a, t, marker, strlen(marker), TOKENIZE_PLAIN);
    ids_push(a, &id, 1);
    return 0;
}

int chatml_encode(const tokenizer_t *t, const struct chatml_msg *msgs, size_t n, int add_assistant,
                  int thinking, int32_t **ids, size_t *n_ids)
{
    struct ids a = {0};
    struct sbuf turn = {0};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!msgs[i].role || (!msgs[i].content && !msgs[i].n_parts)) {
            rc = RAGD_EINVAL;
            break;
        }
        if (msgs[i].n_parts) {
            /* "{role}\n" then each part as plain text or template text */
            turn.len = 0;
            put(&turn, "", 0);
            puts_(&turn, msgs[i].role);
            puts_(&turn, "\n");
            if ((rc = push_marker(&a, t, "<|im_start|>")) ||
                (rc = push_text(&a, t, turn.p, turn.len, TOKENIZE_PLAIN)))
                break;
            for (size_t k = 0; k < msgs[i].n_parts && !rc; k++) {
                const struct chatml_part *pt = &msgs[i].parts[k];
                if (!pt->text) {
                    rc = RAGD_EINVAL;
                } else if (pt->text[0]) {
                    rc =
                        push_text(&a, t, pt->text, strlen(pt->text), pt->tmpl ? 0 : TOKENIZE_PLAIN);
                }
            }
            if (!rc && !(rc = push_marker(&a, t, "<|im_end|>"))) rc = push_text(&a, t, "\n", 1, 0);
            continue;
        }
        /* "{role}\n{content}" is one piece of text, tokenized as before the markers were
         * inserted as ids, so an ordinary prompt keeps its tokens */
        turn.len = 0;
        put(&turn, "", 0);
        puts_(&turn, msgs[i].role);
        puts_(&turn, "\n");
        puts_(&turn, msgs[i].content);
        if (!(rc = push_marker(&a, t, "<|im_start|>")) &&
            !(rc = push_text(&a, t, turn.p, turn.len, TOKENIZE_PLAIN)) &&
            !(rc = push_marker(&a, t, "<|im_end|>")))
            rc = push_text(&a, t, "\n", 1, 0);
    }
    if (!rc && add_assistant && !(rc = push_marker(&a, t, "<|im_start|>"))) {
        /* the template's own text: its "<think>" is Qwen3's user-defined token */
        const char *opener = thinking ? "assistant\n" : "assistant\n<think>\n\n</think>\n\n";
        rc = push_text(&a, t, opener, strlen(opener), 0);
    }
    free(turn.p);
    if (rc) {
        free(a.v);
        return rc;
    }
    if (!a.v) a.v = xmalloc(sizeof *a.v); /* an empty prompt still gets a pointer to free */
    *ids = a.v;
    *n_ids = a.n;
    return 0;
}

int chatml_encode_template(const tokenizer_t *t, const char *text, int32_t **ids, size_t *n_ids)
{
    return tokenizer_encode(t, text, strlen(text), 0, ids, n_ids);
}

/* ---- text ---- */

static const char *find(const char *h, size_t hlen, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hlen; i++)
        if (!memcmp(h + i, needle, n)) return h + i;
    return NULL;
}

char *chatml_strip_thinking(const char *text, size_t len, size_t *out_len)
{
    struct sbuf b = {0};
    put(&b, "", 0);
    const char *p = text, *end = text + len;
    int skip_ws = 0;
    while (p < end) {
        const char *open = find(p, (size_t)(end - p), "<think>");
        const char *seg_end = open ? open : end;
        if (skip_ws)
            while (p < seg_end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
                p++;
        put(&b, p, (size_t)(seg_end - p));
        if (!open) break;
        const char *close = find(open, (size_t)(end - open), "</think>");
        if (!close) break;
        p = close + strlen("</think>");
        skip_ws = 1;
    }
    if (out_len) *out_len = b.len;
    return b.p;
}
