#include "engine/grammar.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"

/* ---- the compiled schema ----
 *
 * A tree of nodes. K_LITERAL matches one of a set of exact byte strings (enum, const,
 * booleans, null); K_ANYOF forks the matcher into one thread per alternative; K_ANY is any
 * JSON value, resolved by its first byte into one of the static nodes below. */

enum kind { K_ANY, K_OBJECT, K_ARRAY, K_STRING, K_NUMBER, K_INTEGER, K_LITERAL, K_ANYOF };

enum { MAX_PROPS = 64, MAX_LITERALS = 64, MAX_ALTS = 16, MAX_SCHEMA_DEPTH = 16, MAX_REFS = 64 };

struct node {
    enum kind k;
    size_t n;          /* properties, literals or alternatives */
    char **text;       /* K_OBJECT: the keys as JSON strings with quotes; K_LITERAL: JSON texts */
    size_t *len;       /* [n] lengths of text */
    struct node **sub; /* K_OBJECT: property values [n]; K_ANYOF: alternatives [n] */
    uint64_t required; /* K_OBJECT: bit i = property i is required */
    int open;          /* K_OBJECT without listed properties: any keys, any values */
    const struct node *items; /* K_ARRAY */
    long min, max;            /* K_ARRAY items, K_STRING characters; max -1: unbounded */
};

struct grammar {
    struct node *root;
    struct node **all; /* every allocated node, for grammar_free */
    size_t n_all, cap_all;
};

static struct node any_node = {.k = K_ANY};
static struct node any_object = {.k = K_OBJECT, .open = 1};
static struct node any_array = {.k = K_ARRAY, .items = &any_node, .max = -1};
static struct node any_string = {.k = K_STRING, .max = -1};
static struct node any_number = {.k = K_NUMBER};
static char kw_true[] = "true", kw_false[] = "false", kw_null[] = "null";
static char *kw_text[] = {kw_true, kw_false, kw_null};
static size_t kw_len[] = {4, 5, 4};
static struct node keywords = {.k = K_LITERAL, .n = 3, .text = kw_text, .len = kw_len};

/* ---- the matcher ----
 *
 * A thread is a stack of frames, one per value being read; a state is a set of threads (more
 * than one only inside anyOf alternatives that the bytes so far do not tell apart). */

enum {
    ST_START, /* a value is expected; whitespace allowed */
    O_OPEN,   /* after '{' */
    O_KEY,    /* inside a listed key: cand = keys still possible, aux = bytes matched */
    O_COLON,  /* after a key */
    O_AFTER,  /* after a member's value */
    O_COMMA,  /* after ',' */
    A_OPEN,
    A_AFTER,
    A_COMMA,
    S_IN,  /* inside a string, at a character boundary */
    S_ESC, /* after a backslash */
    S_HEX, /* inside \uXXXX: aux = digits read << 16 | value so far */
    S_UTF, /* inside a multi-byte character: aux = bytes left | lo << 8 | hi << 16 */
    L_IN,  /* inside a literal: cand = literals still possible, cnt = bytes matched */
    N_MINUS,
    N_ZERO,
    N_INT,
    N_DOT,
    N_FRAC,
    N_E,
    N_ESIGN,
    N_EXP,
};

enum { MAX_THREADS = 16, MAX_DIGITS = 15, MAX_EXP_DIGITS = 2 };

struct frame {
    const struct node *n;
    uint64_t cand;
    uint32_t cnt; /* object: next property index; array: items; string: characters */
    uint32_t aux; /* object: current property index; string: escape / UTF-8 progress */
    uint8_t st, ws;
};

struct thread {
    int depth;
    struct frame f[GRAMMAR_MAX_DEPTH];
};

struct mstate {
    int n;
    struct thread t[MAX_THREADS];
};

enum { M_FAIL, M_OK, M_FORK };

struct grammar_state {
    const grammar_t *g;
    struct mstate cur, a, b;
    int ended; /* an end-of-sequence token was accepted */
};

static void copy_thread(struct thread *dst, const struct thread *src)
{
    dst->depth = src->depth;
    memcpy(dst->f, src->f, (size_t)src->depth * sizeof src->f[0]);
}

static void copy_state(struct mstate *dst, const struct mstate *src)
{
    dst->n = src->n;
    for (int i = 0; i < src->n; i++)
        copy_thread(&dst->t[i], &src->t[i]);
}

static int is_ws(unsigned c)
{
    return c == ' ' || c == '\n' || c == '\t';
}

/* Whitespace between tokens takes one of two shapes: one space, or a newline and at most
 * GRAMMAR_MAX_WS spaces or tabs of indentation. f->ws: 0 none yet, 1 one space, 2 + k a
 * newline and k indentation bytes. */
static int take_ws(struct frame *f, unsigned c)
{
    if (c == '\n') {
        if (f->ws) return M_FAIL;
        f->ws = 2;
        return M_OK;
    }
    if (f->ws == 0 && c == ' ') {
        f->ws = 1;
        return M_OK;
    }
    if (f->ws < 2 || f->ws - 2 >= GRAMMAR_MAX_WS) return M_FAIL;
    f->ws++;
    return M_OK;
}

static int is_digit(unsigned c)
{
    return c >= '0' && c <= '9';
}

static int push(struct thread *t, const struct node *n, int st)
{
    if (t->depth >= GRAMMAR_MAX_DEPTH) return M_FAIL;
    t->f[t->depth++] = (struct frame){.n = n, .st = (uint8_t)st};
    return M_OK;
}

static int required_left(const struct node *n, uint32_t from)
{
    return from < 64 && (n->required >> from) != 0;
}

/* The listed keys that may come next: from the next index up to the first required one. */
static uint64_t key_candidates(const struct node *n, uint32_t from)
{
    uint64_t c = 0;
    for (uint32_t i = from; i < n->n; i++) {
        c |= 1ull << i;
        if (n->required >> i & 1) break;
    }
    return c;
}

static int hexval(unsigned c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* A number frame that may end here (the next byte decides). */
static int number_terminal(const struct frame *f)
{
    return f->st == N_ZERO || f->st == N_INT || f->st == N_FRAC || f->st == N_EXP;
}

static int literal_complete(const struct frame *f)
{
    for (size_t i = 0; i < f->n->n; i++)
        if ((f->cand >> i & 1) && f->n->len[i] == f->cnt) return 1;
    return 0;
}

/* Feeds byte c to thread t. M_OK: consumed; M_FAIL: t cannot take c; M_FORK: c is waiting
 * at an anyOf that must be split first (t is left ready for that). */
static int run(struct thread *t, unsigned c)
{
    for (;;) {
        if (t->depth == 0) return M_FAIL; /* the value is complete: nothing may follow */
        struct frame *f = &t->f[t->depth - 1];
        const struct node *n = f->n;
        int ws = is_ws(c);
        switch (f->st) {
        case ST_START:
            if (ws) /* none before the top-level value */
                return t->depth == 1 ? M_FAIL : take_ws(f, c);
            switch (n->k) {
            case K_ANYOF:
                return M_FORK;
            case K_ANY:
                f->n = c == '{'                           ? &any_object
                       : c == '['                         ? &any_array
                       : c == '"'                         ? &any_string
                       : c == '-' || is_digit(c)          ? &any_number
                       : c == 't' || c == 'f' || c == 'n' ? &keywords
                                                          : NULL;
                if (!f->n) return M_FAIL;
                continue;
            case K_OBJECT:
                if (c != '{') return M_FAIL;
                f->st = O_OPEN;
                f->ws = 0;
                return M_OK;
            case K_ARRAY:
                if (c != '[') return M_FAIL;
                f->st = A_OPEN;
                f->ws = 0;
                return M_OK;
            case K_STRING:
                if (c != '"') return M_FAIL;
                f->st = S_IN;
                return M_OK;
            case K_NUMBER:
            case K_INTEGER:
                if (c == '-')
                    f->st = N_MINUS;
                else if (c == '0')
                    f->st = N_ZERO;
                else if (is_digit(c))
                    f->st = N_INT, f->cnt = 1;
                else
                    return M_FAIL;
                return M_OK;
            case K_LITERAL:
                f->cand = 0;
                for (size_t i = 0; i < n->n; i++)
                    if (n->len[i] && (unsigned char)n->text[i][0] == c) f->cand |= 1ull << i;
                if (!f->cand) return M_FAIL;
                f->st = L_IN;
                f->cnt = 1;
                return M_OK;
            }
            return M_FAIL;
        case O_OPEN:
        case O_COMMA:
            if (ws) return take_ws(f, c);
            f->ws = 0;
            if (c == '}' && f->st == O_OPEN && (n->open || !required_left(n, f->cnt))) {
                t->depth--;
                return M_OK;
            }
            if (c != '"') return M_FAIL;
            if (n->open) {
                f->st = O_COLON;
                if (push(t, &any_string, S_IN) != M_OK) return M_FAIL;
                return M_OK;
            }
            f->cand = key_candidates(n, f->cnt);
            if (!f->cand) return M_FAIL;
            f->st = O_KEY;
            f->aux = 1;
            return M_OK;
        case O_KEY: {
            uint64_t next = 0;
            uint32_t pos = f->aux;
            for (size_t i = 0; i < n->n; i++)
                if ((f->cand >> i & 1) && pos < n->len[i] && (unsigned char)n->text[i][pos] == c)
                    next |= 1ull << i;
            if (!next) return M_FAIL;
            f->cand = next;
            f->aux = pos + 1;
            if (c == '"') {
                for (size_t i = 0; i < n->n; i++) {
                    if ((next >> i & 1) && n->len[i] == pos + 1) {
                        f->st = O_COLON;
                        f->aux = (uint32_t)i;
                        f->cnt = (uint32_t)i + 1;
                        break;
                    }
                }
            }
            return M_OK;
        }
        case O_COLON:
            if (ws) return take_ws(f, c);
            if (c != ':') return M_FAIL;
            f->ws = 0;
            f->st = O_AFTER;
            return push(t, n->open ? &any_node : n->sub[f->aux], ST_START);
        case O_AFTER:
            if (ws) return take_ws(f, c);
            f->ws = 0;
            if (c == ',') {
                if (!n->open && !key_candidates(n, f->cnt)) return M_FAIL;
                f->st = O_COMMA;
                return M_OK;
            }
            if (c == '}' && (n->open || !required_left(n, f->cnt))) {
                t->depth--;
                return M_OK;
            }
            return M_FAIL;
        case A_OPEN:
            if (ws) return take_ws(f, c);
            if (c == ']') {
                if (n->min > 0) return M_FAIL;
                t->depth--;
                return M_OK;
            }
            if (n->max == 0) return M_FAIL;
            f->ws = 0;
            f->st = A_AFTER;
            f->cnt = 1;
            if (push(t, n->items, ST_START) != M_OK) return M_FAIL;
            continue;
        case A_AFTER:
            if (ws) return take_ws(f, c);
            f->ws = 0;
            if (c == ',') {
                if (n->max >= 0 && f->cnt >= (uint32_t)n->max) return M_FAIL;
                f->st = A_COMMA;
                return M_OK;
            }
            if (c == ']' && f->cnt >= (uint32_t)n->min) {
                t->depth--;
                return M_OK;
            }
            return M_FAIL;
        case A_COMMA:
            f->st = A_AFTER;
            f->cnt++;
            if (push(t, n->items, ST_START) != M_OK) return M_FAIL;
            continue;
        case S_IN:
            if (c == '"') {
                if ((long)f->cnt < n->min) return M_FAIL;
                t->depth--;
                return M_OK;
            }
            if (n->max >= 0 && (long)f->cnt >= n->max) return M_FAIL;
            if (c < 0x20) return M_FAIL;
            f->cnt++;
            if (c == '\\') {
                f->st = S_ESC;
            } else if (c >= 0x80) {
                unsigned need, lo = 0x80, hi = 0xbf;
                if (c >= 0xc2 && c <= 0xdf)
                    need = 1;
                else if (c >= 0xe0 && c <= 0xef)
                    need = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
                else if (c >= 0xf0 && c <= 0xf4)
                    need = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
                else
                    return M_FAIL;
                f->st = S_UTF;
                f->aux = need | lo << 8 | hi << 16;
            }
            return M_OK;
        case S_UTF: {
            unsigned lo = f->aux >> 8 & 0xff, hi = f->aux >> 16 & 0xff, need = f->aux & 0xff;
            if (c < lo || c > hi) return M_FAIL;
            if (--need == 0)
                f->st = S_IN;
            else
                f->aux = need | 0x80u << 8 | 0xbfu << 16;
            return M_OK;
        }
        case S_ESC:
            if (c == 'u') {
                f->st = S_HEX;
                f->aux = 0;
                return M_OK;
            }
            if (!strchr("\"\\/bfnrt", (int)c) || !c) return M_FAIL;
            f->st = S_IN;
            return M_OK;
        case S_HEX: {
            int h = hexval(c);
            if (h < 0) return M_FAIL;
            uint32_t k = (f->aux >> 16) + 1, v = (f->aux & 0xffff) * 16 + (uint32_t)h;
            if (k == 2 && v >= 0xd8 && v <= 0xdf) return M_FAIL; /* no surrogates */
            if (k == 4) {
                if (v == 0) return M_FAIL; /* no NUL */
                f->st = S_IN;
            } else {
                f->aux = k << 16 | v;
            }
            return M_OK;
        }
        case L_IN: {
            uint64_t next = 0;
            for (size_t i = 0; i < n->n; i++)
                if ((f->cand >> i & 1) && f->cnt < n->len[i] &&
                    (unsigned char)n->text[i][f->cnt] == c)
                    next |= 1ull << i;
            if (next) {
                f->cand = next;
                f->cnt++;
                return M_OK;
            }
            if (!literal_complete(f)) return M_FAIL;
            t->depth--;
            continue;
        }
        case N_MINUS:
            if (c == '0')
                f->st = N_ZERO;
            else if (is_digit(c))
                f->st = N_INT, f->cnt = 1;
            else
                return M_FAIL;
            return M_OK;
        case N_ZERO:
        case N_INT:
        case N_FRAC:
        case N_EXP:
            if (is_digit(c) && f->st != N_ZERO) {
                if (f->cnt >= (f->st == N_EXP ? MAX_EXP_DIGITS : MAX_DIGITS)) return M_FAIL;
                f->cnt++;
                return M_OK;
            }
            if (n->k == K_NUMBER && c == '.' && (f->st == N_ZERO || f->st == N_INT)) {
                f->st = N_DOT;
                return M_OK;
            }
            if (n->k == K_NUMBER && (c == 'e' || c == 'E') && f->st != N_EXP) {
                f->st = N_E;
                return M_OK;
            }
            t->depth--; /* the number ended before c */
            continue;
        case N_DOT:
            if (!is_digit(c)) return M_FAIL;
            f->st = N_FRAC;
            f->cnt = 1;
            return M_OK;
        case N_E:
            if (c == '+' || c == '-') {
                f->st = N_ESIGN;
                return M_OK;
            }
            /* fall through */
        case N_ESIGN:
            if (!is_digit(c)) return M_FAIL;
            f->st = N_EXP;
            f->cnt = 1;
            return M_OK;
        }
        return M_FAIL; /* defensive: no other state exists */
    }
}

/* Feeds c to a copy of thread in and appends what survives to out. */
static void feed(const struct thread *in, unsigned c, struct mstate *out)
{
    struct thread t;
    copy_thread(&t, in);
    int r = run(&t, c);
    if (r == M_FORK) {
        const struct node *n = t.f[t.depth - 1].n;
        for (size_t i = 0; i < n->n && out->n < MAX_THREADS; i++) {
            struct thread u;
            copy_thread(&u, &t);
            u.f[u.depth - 1].n = n->sub[i];
            feed(&u, c, out);
        }
        return;
    }
    /* More live alternatives than MAX_THREADS are dropped: schemas whose anyOf branches stay
     * indistinguishable that long are refused by no rule, but are not seen in practice. */
    if (r == M_OK && out->n < MAX_THREADS) copy_thread(&out->t[out->n++], &t);
}

/* Feeds p[0..n) from *from into the scratch states; returns the result (from itself when n
 * is 0) or NULL when the bytes cannot continue. */
static const struct mstate *advance(grammar_state_t *s, const struct mstate *from,
                                    const unsigned char *p, size_t n)
{
    const struct mstate *cur = from;
    struct mstate *buf[2] = {&s->a, &s->b};
    for (size_t i = 0; i < n; i++) {
        struct mstate *nx = buf[i & 1];
        nx->n = 0;
        for (int j = 0; j < cur->n; j++)
            feed(&cur->t[j], p[i], nx);
        if (!nx->n) return NULL;
        cur = nx;
    }
    return cur;
}

/* 1 when p[0..n) can continue the state. The usual single thread is walked in place on one
 * copy; the general path takes over at an anyOf. */
static int continues(grammar_state_t *s, const unsigned char *p, size_t n)
{
    if (s->cur.n != 1) return advance(s, &s->cur, p, n) != NULL;
    struct thread *t = &s->a.t[0];
    copy_thread(t, &s->cur.t[0]);
    for (size_t i = 0; i < n; i++) {
        int r = run(t, p[i]);
        if (r == M_FAIL) return 0;
        if (r == M_FORK) {
            s->b.n = 1;
            copy_thread(&s->b.t[0], t);
            return advance(s, &s->b, p + i, n - i) != NULL; /* reads b, writes a first */
        }
    }
    return 1;
}

int grammar_state_create(const grammar_t *g, grammar_state_t **out)
{
    grammar_state_t *s = xcalloc(1, sizeof *s);
    s->g = g;
    s->cur.n = 1;
    push(&s->cur.t[0], g->root, ST_START);
    *out = s;
    return 0;
}

void grammar_state_free(grammar_state_t *s)
{
    free(s);
}

int grammar_accept_bytes(grammar_state_t *s, const char *bytes, size_t n)
{
    if (s->ended && n) return RAGD_EINVAL;
    const struct mstate *r = advance(s, &s->cur, (const unsigned char *)bytes, n);
    if (!r) return RAGD_EINVAL;
    if (r != &s->cur) copy_state(&s->cur, r);
    return 0;
}

int grammar_can_end(const grammar_state_t *s)
{
    for (int i = 0; i < s->cur.n; i++) {
        const struct thread *t = &s->cur.t[i];
        if (t->depth == 0) return 1;
        if (t->depth == 1) {
            const struct frame *f = &t->f[0];
            if ((f->n->k == K_NUMBER || f->n->k == K_INTEGER) && number_terminal(f)) return 1;
            if (f->st == L_IN && literal_complete(f)) return 1;
        }
    }
    return 0;
}

int grammar_done(const grammar_state_t *s)
{
    if (s->ended) return 1;
    grammar_state_t *m = (grammar_state_t *)s; /* scratch only: cur is not changed */
    for (unsigned c = 0; c < 256; c++) {
        unsigned char b = (unsigned char)c;
        if (advance(m, &s->cur, &b, 1)) return 0;
    }
    return 1;
}

/* ---- the vocabulary ---- */

enum { T_BAD, T_TEXT, T_EOS };

struct grammar_vocab {
    size_t n;
    const char **bytes; /* [n] owned by the tokenizer */
    size_t *len;        /* [n] */
    uint8_t *kind;      /* [n] T_* */
    uint8_t *b0;        /* [n] first byte (kept here: the bytes themselves are scattered) */
    int32_t *plain;     /* [n] characters when the token is plain string text, else -1 */
    int32_t first_eos;
};

/* Characters of b[0..n) when every byte is ordinary string content (no quote, backslash or
 * control byte; complete, valid UTF-8), else -1. */
static int32_t plain_chars(const unsigned char *b, size_t n)
{
    int32_t chars = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = b[i];
        size_t k;
        if (c < 0x20 || c == '"' || c == '\\') return -1;
        if (c < 0x80)
            k = 1;
        else if (c >= 0xc2 && c <= 0xdf)
            k = 2;
        else if (c >= 0xe0 && c <= 0xef)
            k = 3;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 4;
        else
            return -1;
        if (i + k > n) return -1;
        for (size_t j = 1; j < k; j++)
            if ((b[i + j] & 0xc0) != 0x80) return -1;
        if ((c == 0xe0 && b[i + 1] < 0xa0) || (c == 0xed && b[i + 1] > 0x9f) ||
            (c == 0xf0 && b[i + 1] < 0x90) || (c == 0xf4 && b[i + 1] > 0x8f))
            return -1;
        i += k;
        chars++;
    }
    return chars;
}

int grammar_vocab_create(const tokenizer_t *t, const int32_t *eos_ids, size_t n_eos,
                         grammar_vocab_t **out)
{
    size_t n = tokenizer_n_vocab(t);
    if (!n) return RAGD_EINVAL;
    grammar_vocab_t *v = xcalloc(1, sizeof *v);
    v->n = n;
    v->bytes = xcalloc(n, sizeof *v->bytes);
    v->len = xcalloc(n, sizeof *v->len);
    v->kind = xcalloc(n, 1);
    v->b0 = xcalloc(n, 1);
    v->plain = xmalloc(n * sizeof *v->plain);
    v->first_eos = -1;
    for (size_t i = 0; i < n; i++) {
        int type = tokenizer_token_type(t, (int32_t)i);
        v->plain[i] = -1;
        if (tokenizer_token_bytes(t, (int32_t)i, &v->bytes[i], &v->len[i])) {
            v->bytes[i] = NULL;
            v->len[i] = 0;
            continue;
        }
        if ((type == TOK_TYPE_NORMAL || type == TOK_TYPE_BYTE || type == TOK_TYPE_UNDEFINED) &&
            v->len[i]) {
            v->kind[i] = T_TEXT;
            v->b0[i] = (uint8_t)v->bytes[i][0];
            v->plain[i] = plain_chars((const unsigned char *)v->bytes[i], v->len[i]);
        }
    }
    for (size_t i = 0; i < n_eos; i++) {
        if (eos_ids[i] < 0 || (size_t)eos_ids[i] >= n) continue;
        v->kind[eos_ids[i]] = T_EOS;
        if (v->first_eos < 0) v->first_eos = eos_ids[i];
    }
    *out = v;
    return 0;
}

void grammar_vocab_free(grammar_vocab_t *v)
{
    if (!v) return;
    free(v->bytes);
    free(v->len);
    free(v->kind);
    free(v->b0);
    free(v->plain);
    free(v);
}

size_t grammar_mask(grammar_state_t *s, const grammar_vocab_t *v, float *logits, size_t n_logits)
{
    unsigned char first[256];
    int any_byte = 0;
    for (unsigned c = 0; c < 256; c++) {
        unsigned char b = (unsigned char)c;
        first[c] = !s->ended && advance(s, &s->cur, &b, 1) != NULL;
        any_byte |= first[c];
    }
    int can_end = grammar_can_end(s) || s->ended;
    /* Inside a string with no escape or character pending, a token of plain text is allowed
     * when it fits the length left: no need to walk it. */
    long room = -1;
    if (s->cur.n == 1 && s->cur.t[0].depth > 0) {
        const struct frame *f = &s->cur.t[0].f[s->cur.t[0].depth - 1];
        if (f->st == S_IN) room = f->n->max < 0 ? (long)INT32_MAX : f->n->max - (long)f->cnt;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n_logits; i++) {
        int keep = 0;
        if (i < v->n) {
            if (v->kind[i] == T_EOS) {
                keep = can_end;
            } else if (v->kind[i] == T_TEXT && any_byte && first[v->b0[i]]) {
                if (v->len[i] == 1)
                    keep = 1;
                else if (room >= 0 && v->plain[i] >= 0 && v->plain[i] <= room)
                    keep = 1;
                else
                    keep = continues(s, (const unsigned char *)v->bytes[i], v->len[i]);
            }
        }
        if (keep)
            kept++;
        else
            logits[i] = -INFINITY;
    }
    if (!kept && v->first_eos >= 0 && (size_t)v->first_eos < n_logits) {
        logits[v->first_eos] = 0;
        kept = 1;
    }
    return kept;
}

int grammar_accept_token(grammar_state_t *s, const grammar_vocab_t *v, int32_t tok)
{
    if (tok < 0 || (size_t)tok >= v->n) return RAGD_EINVAL;
    if (v->kind[tok] == T_EOS) {
        if (!grammar_can_end(s) && !s->ended) return RAGD_EINVAL;
        s->ended = 1;
        return 0;
    }
    if (v->kind[tok] != T_TEXT) return RAGD_EINVAL;
    return grammar_accept_bytes(s, v->bytes[tok], v->len[tok]);
}

/* ---- the schema compiler ---- */

static struct node *new_node(struct grammar *g, enum kind k)
{
    if (g->n_all == g->cap_all) {
        g->cap_all = g->cap_all ? g->cap_all * 2 : 16;
        g->all = xrealloc(g->all, g->cap_all * sizeof *g->all);
    }
    struct node *n = xcalloc(1, sizeof *n);
    n->k = k;
    n->max = -1;
    g->all[g->n_all++] = n;
    return n;
}

void grammar_free(grammar_t *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->n_all; i++) {
        struct node *n = g->all[i];
        if (n->text)
            for (size_t j = 0; j < n->n; j++)
                free(n->text[j]);
        free(n->text);
        free(n->len);
        free(n->sub);
        free(n);
    }
    free(g->all);
    free(g);
}

struct cctx {
    struct grammar *g;
    const json_t *root; /* for $ref */
    /* $ref targets: those being compiled (a reference back to one is recursion, refused) and
     * those compiled, whose node is shared by every reference, so that a schema's size
     * bounds the work */
    const json_t *active[MAX_SCHEMA_DEPTH + 2];
    int n_active;
    const json_t *done[MAX_REFS];
    struct node *done_node[MAX_REFS];
    int n_done;
    char *err;
    size_t errcap;
};

static const char *const known_keywords[] = {
    "type",     "properties",  "required",  "additionalProperties",
    "enum",     "const",       "items",     "minItems",
    "maxItems", "minLength",   "maxLength", "anyOf",
    "title",    "description", "default",   "examples",
    "$schema",  "$id",         "$comment",  "$ref",
    "$defs",    "definitions", NULL};

static int compile(struct cctx *c, const json_t *s, const char *path, int depth, struct node **out);

static int literal_node(struct cctx *c, const json_t *values, const char *path, const char *kw,
                        struct node **out)
{
    size_t n = json_array_size(values);
    if (!n || n > MAX_LITERALS)
        return ragd_errf(c->err, c->errcap, RAGD_EINVAL, "%s at %s must list 1 to %d values", kw,
                         path, MAX_LITERALS);
    struct node *l = new_node(c->g, K_LITERAL);
    l->text = xcalloc(n, sizeof *l->text);
    l->len = xcalloc(n, sizeof *l->len);
    l->n = n;
    for (size_t i = 0; i < n; i++) {
        l->text[i] =
            json_dumps(json_array_get(values, i), JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        if (!l->text[i]) l->text[i] = xstrdup("null"); /* defensive: jansson only fails on OOM */
        l->len[i] = strlen(l->text[i]);
    }
    *out = l;
    return 0;
}

static int get_count(struct cctx *c, const json_t *s, const char *key, const char *path, long *v)
{
    const json_t *x = json_object_get(s, key);
    if (!x) return 0;
    if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > 1000000)
        return ragd_errf(c->err, c->errcap, RAGD_EINVAL,
                         "%s at %s must be an integer from 0 to 1000000", key, path);
    *v = (long)json_integer_value(x);
    return 0;
}

static int object_node(struct cctx *c, const json_t *s, const char *path, int depth,
                       struct node **out)
{
    const json_t *props = json_object_get(s, "properties");
    const json_t *req = json_object_get(s, "required");
    const json_t *add = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props))
        return ragd_errf(c->err, c->errcap, RAGD_EINVAL, "properties at %s must be an object",
                         path);
    if (add && !json_is_boolean(add))
        return ragd_errf(c->err, c->errcap, RAGD_EINVAL,
                         "additionalProperties at %s must be true or false (a schema for "
                         "additional properties is not supported)",
                         path);
    if (req && !json_is_array(req))
        return ragd_errf(c->err, c->errcap, RAGD_EINVAL, "required at %s must be an array", path);
    size_t n = props ? json_object_size(props) : 0;
    if (n > MAX_PROPS)
        return ragd_errf(c->err, c->errcap, RAGD_EINVAL,
                         "the object at %s lists more than %d properties", path, MAX_PROPS);
    struct node *o = new_node(c->g, K_OBJECT);
    o->open = !props && !json_is_false(add);
    o->n = n;
    o->text = xcalloc(n ? n : 1, sizeof *o->text);
    o->len = xcalloc(n ? n : 1, sizeof *o->len);
    o->sub = xcalloc(n ? n : 1, sizeof *o->sub);
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)props, key, v)
    {
        json_t *ks = json_string(key);
        o->text[i] = json_dumps(ks, JSON_ENCODE_ANY);
        json_decref(ks);
        if (!o->text[i]) /* not valid UTF-8 */
            return ragd_errf(c->err, c->errcap, RAGD_EINVAL, "a property name at %s is invalid",
                             path);
        o->len[i] = strlen(o->text[i]);
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%s", path, key);
        int rc = compile(c, v, sub, depth + 1, &o->sub[i]);
        if (rc) return rc;
        i++;
    }
    size_t k;
    json_array_foreach((json_t *)req, k, v)
    {
        const char *name = json_string_value(v);
        size_t j = 0; /* the property's position in listing order */
        const char *pk;
        json_t *pv;
        int found = 0;
        json_object_foreach((json_t *)props, pk, pv)
        {
            if (name && !strcmp(pk, name)) {
                found = 1;
                break;
            }
            j++;
        }
        if (!found)
            return ragd_errf(c->err, c->errcap, RAGD_EINVAL,
                             "required property '%s' at %s is not in properties", name ? name : "?",
                             path);
        o->required |= 1ull << j;
    }
    *out = o;
    return 0;
}

static int typed_node(struct cctx *c, const json_t *s, const char *type, const char *path,
                      int depth, struct node **out)
{
    if (!strcmp(type, "object")) return object_node(c, s, path, depth, out);
    if (!strcmp(type, "array")) {
        struct node *a = new_node(c->g, K_ARRAY);
        int rc;
        if ((rc = get_count(c, s, "minItems", path, &a->min)) ||
            (rc = get_count(c, s, "maxItems", path, &a->max)))
            return rc;
        if (a->max >= 0 && a->min > a->max)
            return ragd_errf(c->err, c->errcap, RAGD_EINVAL, "minItems > maxItems at %s", path);
        const json_t *items = json_object_get(s, "items");
        if (items) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.items", path);
            struct node *it;
            if ((rc = compile(c, items, sub, depth + 1, &it))) return rc;
            a->items = it;
        } else {
            a->items = &any_node;
        }
        *out = a;
        return 0;
    }
    if (!strcmp(type, "string")) {
        struct node *str = new_node(c->g, K_STRING);
        int rc;
        if ((rc = get_count(c, s, "minLength", path, &str->min)) ||
            (rc = get_count(c, s, "maxLength", path, &str->max)))
            return rc;
        if (str->max >= 0 && str->min > str->max)
            return ragd_errf(c->err, c->errcap, RAGD_EINVAL, "minLength > maxLength at %s", path);
        *out = str;
        return 0;
    }
    if (!strcmp(type, "number")) {
        *out = new_node(c->g, K_NUMBER);
        return 0;
    }
    if (!strcmp(type, "integer")) {
        *out = new_node(c->g, K_INTEGER);
        return 0;
    }
    if (!strcmp(type, "boolean") || !strcmp(type, "null")) {
        json_t *vals = !strcmp(type, "null") ? json_pack("[n]") : json_pack("[bb]", 1, 0);
        int rc = literal_node(c, vals, path, "type", out);
        json_decref(vals);
        return rc;
    }
    return ragd_errf(c->err, c->errcap, RAGD_EINVAL, "type '%s' at %s is not a JSON schema type",
                     type, path);
}

static int compile(struct cctx *c, const json_t *s, const char *path, int depth, struct node **out)
{
    if (depth > MAX_SCHEMA_DEPTH)
        return ragd_errf(c->err, c->errcap, RAGD_EINVAL, "the schema nests deeper than %d levels",
                         MAX_SCHEMA_DEPTH);
    if (json_is_true(s)) {
        *out = &any_node;
        return 0;
    }
    if (!json_is_object(s))
        return ragd_errf(c->err, c->errcap, RAGD_EINVAL, "the schema at %s must be an object",
                         path);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)s, key, v)
    {
        int known = 0;
        for (size_t i = 0; known_keywords[i]; i++)
            known |= !strcmp(key, known_keywords[i]);
        if (!known)
            return ragd_errf(c->err, c->errcap, RAGD_EINVAL,
                             "the schema keyword '%s' at %s is not supported", key, path);
    }
    const json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        /* a reference into the schema's own $defs / definitions (or the root); a recursive
         * one ends at the nesting limit */
        const char *r = json_string_value(ref);
        const json_t *to = NULL;
        if (r && !strcmp(r, "#"))
            to = c->root;
        else if (r && !strncmp(r, "#/$defs/", 8))
            to = json_object_get(json_object_get(c->root, "$defs"), r + 8);
        else if (r && !strncmp(r, "#/definitions/", 14))
            to = json_object_get(json_object_get(c->root, "definitions"), r + 14);
        if (!to)
            return ragd_errf(c->err, c->errcap, RAGD_EINVAL,
                             "$ref at %s must point into the schema's own $defs or "
                             "definitions (#/$defs/NAME)",
                             path);
        static const char *const beside[] = {"type",  "properties", "items",    "enum",
                                             "const", "anyOf",      "required", NULL};
        for (size_t i = 0; beside[i]; i++)
            if (json_object_get(s, beside[i]))
                return ragd_errf(c->err, c->errcap, RAGD_EINVAL,
                                 "$ref at %s must stand alone (not beside %s)", path, beside[i]);
        for (int i = 0; i < c->n_done; i++) {
            if (c->done[i] == to) {
                *out = c->done_node[i];
                return 0;
            }
        }
        for (int i = 0; i < c->n_active; i++)
            if (c->active[i] == to)
                return ragd_errf(c->err, c->errcap, RAGD_EINVAL,
                                 "$ref '%s' at %s is recursive, which is not supported", r, path);
        if (c->n_done == MAX_REFS || c->n_active >= MAX_SCHEMA_DEPTH + 2)
            return ragd_errf(c->err, c->errcap, RAGD_EINVAL,
                             "the schema has more than %d $ref targets", MAX_REFS);
        c->active[c->n_active++] = to;
        int rc = compile(c, to, r, depth + 1, out);
        c->n_active--;
        if (rc) return rc;
        c->done[c->n_done] = to;
        c->done_node[c->n_done++] = *out;
        return 0;
    }
    const json_t *cst = json_object_get(s, "const"), *en = json_object_get(s, "enum");
    if (cst) {
        json_t *vals = json_pack("[O]", cst);
        int rc = literal_node(c, vals, path, "const", out);
        json_decref(vals);
        return rc;
    }
    if (en) {
        if (!json_is_array(en))
            return ragd_errf(c->err, c->errcap, RAGD_EINVAL, "enum at %s must be an array", path);
        return literal_node(c, en, path, "enum", out);
    }
    const json_t *any = json_object_get(s, "anyOf");
    if (any) {
        size_t n = json_array_size(any);
        if (!json_is_array(any) || !n || n > MAX_ALTS)
            return ragd_errf(c->err, c->errcap, RAGD_EINVAL,
                             "anyOf at %s must list 1 to %d schemas", path, MAX_ALTS);
        if (json_object_get(s, "type") || json_object_get(s, "properties") ||
            json_object_get(s, "items"))
            return ragd_errf(c->err, c->errcap, RAGD_EINVAL,
                             "anyOf at %s must stand alone (put type, properties and items "
                             "inside its alternatives)",
                             path);
        struct node *a = new_node(c->g, K_ANYOF);
        a->n = n;
        a->sub = xcalloc(n, sizeof *a->sub);
        for (size_t i = 0; i < n; i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.anyOf[%zu]", path, i);
            int rc = compile(c, json_array_get(any, i), sub, depth + 1, &a->sub[i]);
            if (rc) return rc;
        }
        *out = a;
        return 0;
    }
    const json_t *type = json_object_get(s, "type");
    if (json_is_string(type)) return typed_node(c, s, json_string_value(type), path, depth, out);
    if (json_is_array(type)) {
        size_t n = json_array_size(type);
        if (!n || n > 7)
            return ragd_errf(c->err, c->errcap, RAGD_EINVAL, "type at %s lists 1 to 7 types", path);
        struct node *a = new_node(c->g, K_ANYOF);
        a->n = n;
        a->sub = xcalloc(n, sizeof *a->sub);
        for (size_t i = 0; i < n; i++) {
            const char *t = json_string_value(json_array_get(type, i));
            if (!t)
                return ragd_errf(c->err, c->errcap, RAGD_EINVAL,
                                 "type at %s must be a string or an array of strings", path);
            int rc = typed_node(c, s, t, path, depth, &a->sub[i]);
            if (rc) return rc;
        }
        *out = a;
        return 0;
    }
    if (type)
        return ragd_errf(c->err, c->errcap, RAGD_EINVAL,
                         "type at %s must be a string or an array of strings", path);
    if (json_object_get(s, "properties") || json_object_get(s, "required"))
        return object_node(c, s, path, depth, out);
    if (json_object_get(s, "items")) return typed_node(c, s, "array", path, depth, out);
    *out = &any_node;
    return 0;
}

int grammar_compile(const json_t *schema, grammar_t **out, char *err, size_t errcap)
{
    struct grammar *g = xcalloc(1, sizeof *g);
    if (!schema) {
        g->root = &any_object;
        *out = g;
        return 0;
    }
    struct cctx c = {.g = g, .root = schema, .err = err, .errcap = errcap};
    int rc = compile(&c, schema, "$", 0, &g->root);
    if (rc) {
        grammar_free(g);
        return rc;
    }
    *out = g;
    return 0;
}
