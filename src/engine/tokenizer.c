/* tokenizer.c - vocabulary tables, byte-level BPE encoding, special-token splitting and
 * decoding (whole and streaming). WordPiece lives in tokenizer_wordpiece.c, the
 * pre-tokenizers in tokenizer_pre.c. */
#include "engine/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "engine/tokenizer_int.h"
#include "engine/unicode.h"

/* ---- hashing ---- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a final mix */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static size_t table_size(size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    return cap;
}

int32_t tok_lookup(const struct tokenizer *t, const char *s, size_t len)
{
    size_t i = hash_bytes(s, len) & t->tok_hash_mask;
    for (;;) {
        int32_t id = t->tok_hash[i];
        if (id < 0) return -1;
        size_t tl;
        const char *tt = tok_text(t, id, &tl);
        if (tl == len && memcmp(tt, s, len) == 0) return id;
        i = (i + 1) & t->tok_hash_mask;
    }
}

static void tok_hash_build(struct tokenizer *t)
{
    size_t cap = table_size(t->n_vocab);
    t->tok_hash = xmalloc(cap * sizeof *t->tok_hash);
    memset(t->tok_hash, 0xff, cap * sizeof *t->tok_hash);
    t->tok_hash_mask = cap - 1;
    for (size_t id = 0; id < t->n_vocab; id++) {
        size_t len;
        const char *s = tok_text(t, (int32_t)id, &len);
        size_t i = hash_bytes(s, len) & t->tok_hash_mask;
        for (;;) {
            int32_t cur = t->tok_hash[i];
            if (cur < 0) {
                t->tok_hash[i] = (int32_t)id;
                break;
            }
            size_t cl;
            const char *cs = tok_text(t, cur, &cl);
            if (cl == len && memcmp(cs, s, len) == 0)
                break; /* duplicate text: the lowest id keeps it */
            i = (i + 1) & t->tok_hash_mask;
        }
    }
}

static const struct merge_slot *merge_find(const struct tokenizer *t, int32_t left, int32_t right)
{
    if (!t->merges) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    size_t i = hash_u64(key) & t->merges_mask;
    for (;;) {
        const struct merge_slot *m = &t->merges[i];
        if (m->key == key) return m;
        if (m->key == MERGE_EMPTY) return NULL;
        i = (i + 1) & t->merges_mask;
    }
}

/* ---- GPT-2 byte <-> unicode map ---- */

/* Bytes that print as themselves ('!'..'~', '¡'..'¬', '®'..'ÿ') keep their code point; the
 * others get 256, 257, ... in byte order. */
static uint32_t byte_to_cp(unsigned b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    unsigned k = 0;
    for (unsigned x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) k++;
    return 256 + k;
}

static void byte_map_init(struct byte_map *m)
{
    for (int i = 0; i < 324; i++)
        m->inv[i] = -1;
    for (unsigned b = 0; b < 256; b++) {
        uint32_t cp = byte_to_cp(b);
        char tmp[4];
        m->len[b] = (uint8_t)unicode_encode(cp, tmp);
        memcpy(m->utf8[b], tmp, m->len[b]);
        m->inv[cp] = (int16_t)b;
    }
}

/* Writes the bytes a byte-level vocabulary text stands for into out (room for len bytes:
 * the result is never longer). Characters outside the map are kept as they are. */
static size_t unmap_bytes(const struct byte_map *m, const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = unicode_decode((const uint8_t *)s + i, len - i, &cp);
        if (cp < 324 && m->inv[cp] >= 0)
            out[o++] = (char)m->inv[cp];
        else {
            memcpy(out + o, s + i, l);
            o += l;
        }
        i += l;
    }
    return o;
}

/* ---- creation ---- */

static int valid_special(int32_t id, size_t n_vocab)
{
    return id == -1 || (id >= 0 && (size_t)id < n_vocab);
}

static int is_special_type(int32_t type)
{
    return type == TOK_TYPE_CONTROL || type == TOK_TYPE_USER_DEFINED || type == TOK_TYPE_UNKNOWN;
}

struct special_key {
    uint8_t first;
    size_t len;
    int32_t id;
};

static int special_cmp(const void *a, const void *b)
{
    const struct special_key *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1; /* longest first */
    return x->id < y->id ? -1 : (x->id > y->id);
}

static void special_build(struct tokenizer *t)
{
    size_t n = 0;
    for (size_t id = 0; id < t->n_vocab; id++) {
        size_t len = t->text_off[id + 1] - t->text_off[id];
        if (is_special_type(t->types[id]) && len > 0) n++;
    }
    struct special_key *keys = xmalloc((n ? n : 1) * sizeof *keys);
    n = 0;
    for (size_t id = 0; id < t->n_vocab; id++) {
        size_t len = t->text_off[id + 1] - t->text_off[id];
        if (is_special_type(t->types[id]) && len > 0) {
            keys[n].first = (uint8_t)t->text[t->text_off[id]];
            keys[n].len = len;
            keys[n].id = (int32_t)id;
            n++;
        }
    }
    qsort(keys, n, sizeof *keys, special_cmp);
    t->special = xmalloc((n ? n : 1) * sizeof *t->special);
    t->n_special = n;
    size_t j = 0;
    for (unsigned b = 0; b < 256; b++) {
        t->special_start[b] = (uint32_t)j;
        while (j < n && keys[j].first == b)
            j++;
    }
    t->special_start[256] = (uint32_t)j;
    for (size_t i = 0; i < n; i++)
        t->special[i] = keys[i].id;
    free(keys);
}

/* Copies vocabulary, types and ids; builds the text hash and the special-token index. */
static int create_common(const struct tokenizer_spec *spec, int kind, struct tokenizer **out)
{
    if (!spec || !out || !spec->tokens || spec->n_vocab == 0 || spec->n_vocab > INT32_MAX)
        return RAGD_EINVAL;
    size_t n = spec->n_vocab;
    if (!valid_special(spec->bos_id, n) || !valid_special(spec->eos_id, n) ||
        !valid_special(spec->unk_id, n) || !valid_special(spec->pad_id, n) ||
        !valid_special(spec->sep_id, n) || !valid_special(spec->cls_id, n) ||
        !valid_special(spec->mask_id, n))
        return RAGD_EINVAL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!spec->tokens[i]) return RAGD_EINVAL;
        size_t len = spec->tokens_len ? spec->tokens_len[i] : strlen(spec->tokens[i]);
        if (len > ((size_t)1 << 20)) return RAGD_EINVAL;
        if (spec->types && (spec->types[i] < TOK_TYPE_UNDEFINED || spec->types[i] > TOK_TYPE_BYTE))
            return RAGD_EINVAL;
        total += len;
    }
    struct tokenizer *t = xcalloc(1, sizeof *t);
    t->kind = kind;
    t->n_vocab = n;
    t->text = xmalloc(total + 1);
    t->text_off = xmalloc((n + 1) * sizeof *t->text_off);
    t->types = xmalloc(n * sizeof *t->types);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = spec->tokens_len ? spec->tokens_len[i] : strlen(spec->tokens[i]);
        t->text_off[i] = o;
        memcpy(t->text + o, spec->tokens[i], len);
        o += len;
        t->types[i] = spec->types ? spec->types[i] : TOK_TYPE_NORMAL;
    }
    t->text_off[n] = o;
    t->text[o] = '\0';
    t->bos_id = spec->bos_id, t->eos_id = spec->eos_id, t->unk_id = spec->unk_id;
    t->pad_id = spec->pad_id, t->sep_id = spec->sep_id, t->cls_id = spec->cls_id;
    t->mask_id = spec->mask_id;
    t->add_bos = spec->add_bos, t->add_eos = spec->add_eos;
    t->lowercase = spec->lowercase;
    t->max_chars_per_word =
        spec->max_input_chars_per_word > 0 ? spec->max_input_chars_per_word : 100;
    for (int b = 0; b < 256; b++)
        t->byte_id[b] = -1;
    tok_hash_build(t);
    special_build(t);
    *out = t;
    return 0;
}

/* Fills t->bytes: what each token stands for once decoded. Byte-level BPE undoes the byte
 * map for ordinary tokens; control, user-defined and unknown tokens are kept as written. */
static void bytes_build(struct tokenizer *t, const struct byte_map *map)
{
    size_t total = t->text_off[t->n_vocab];
    t->bytes = xmalloc(total + 1);
    t->bytes_off = xmalloc((t->n_vocab + 1) * sizeof *t->bytes_off);
    size_t o = 0;
    t->max_token_bytes = 0;
    for (size_t id = 0; id < t->n_vocab; id++) {
        size_t len;
        const char *s = tok_text(t, (int32_t)id, &len);
        t->bytes_off[id] = o;
        size_t w;
        if (map && !is_special_type(t->types[id]))
            w = unmap_bytes(map, s, len, t->bytes + o);
        else {
            memcpy(t->bytes + o, s, len);
            w = len;
        }
        o += w;
        if (w > t->max_token_bytes) t->max_token_bytes = w;
    }
    t->bytes_off[t->n_vocab] = o;
    t->bytes[o] = '\0';
}

static int merges_build(struct tokenizer *t, const struct tokenizer_spec *spec)
{
    if (spec->n_merges == 0) return 0;
    if (!spec->merges || spec->n_merges > INT32_MAX) return RAGD_EINVAL;
    size_t cap = table_size(spec->n_merges);
    t->merges = xmalloc(cap * sizeof *t->merges);
    for (size_t i = 0; i < cap; i++)
        t->merges[i].key = MERGE_EMPTY;
    t->merges_mask = cap - 1;
    char *buf = NULL;
    size_t buf_cap = 0;
    for (size_t r = 0; r < spec->n_merges; r++) {
        const char *m = spec->merges[r];
        if (!m) goto invalid;
        size_t len = spec->merges_len ? spec->merges_len[r] : strlen(m);
        const char *sp = memchr(m, ' ', len);
        if (!sp || sp == m || sp == m + len - 1) goto invalid;
        size_t ll = (size_t)(sp - m), rl = len - ll - 1;
        int32_t left = tok_lookup(t, m, ll), right = tok_lookup(t, sp + 1, rl);
        if (ll + rl > buf_cap) {
            buf_cap = ll + rl;
            buf = xrealloc(buf, buf_cap);
        }
        memcpy(buf, m, ll);
        memcpy(buf + ll, sp + 1, rl);
        int32_t result = tok_lookup(t, buf, ll + rl);
        /* A merge whose parts or result are not in the vocabulary can never apply; one that
         * would spell a special token is dropped, so plain text cannot turn into one. */
        if (left < 0 || right < 0 || result < 0 || is_special_type(t->types[result])) continue;
        uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
        size_t i = hash_u64(key) & t->merges_mask;
        while (t->merges[i].key != MERGE_EMPTY && t->merges[i].key != key)
            i = (i + 1) & t->merges_mask;
        if (t->merges[i].key == key) continue; /* a repeated merge keeps its first (best) rank */
        t->merges[i].key = key;
        t->merges[i].rank = (int32_t)r;
        t->merges[i].result = result;
        t->n_merges++;
    }
    free(buf);
    return 0;
invalid:
    free(buf);
    return RAGD_EINVAL;
}

int tokenizer_create_bpe(const struct tokenizer_spec *spec, tokenizer_t **out)
{
    if (!spec || !out) return RAGD_EINVAL;
    int pre = tok_pre_from_name(spec->pre);
    if (!pre) return RAGD_EINVAL;
    struct tokenizer *t;
    int rc = create_common(spec, TOK_KIND_BPE, &t);
    if (rc) return rc;
    t->pre = pre;
    t->ignore_merges = (pre == TOK_PRE_LLAMA3);
    byte_map_init(&t->bmap);
    for (int b = 0; b < 256; b++)
        t->byte_id[b] = tok_lookup(t, t->bmap.utf8[b], t->bmap.len[b]);
    bytes_build(t, &t->bmap);
    rc = merges_build(t, spec);
    if (rc) {
        tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* llama.cpp's BERT converter writes WordPiece vocabularies in a SentencePiece-like form:
 * word starts carry U+2581 and continuations lose their "##". Recognised by having the
 * first and none of the second; returns 1 for that form. */
static int phantom_space_form(const struct tokenizer_spec *spec)
{
    size_t marked = 0, hashed = 0;
    for (size_t i = 0; i < spec->n_vocab; i++) {
        if (!spec->tokens[i]) return 0;
        size_t len = spec->tokens_len ? spec->tokens_len[i] : strlen(spec->tokens[i]);
        const char *t = spec->tokens[i];
        if (len >= 3 && memcmp(t, "\xe2\x96\x81", 3) == 0) marked++;
        if (len >= 2 && t[0] == '#' && t[1] == '#') hashed++;
    }
    return marked > 0 && hashed == 0;
}

int tokenizer_create_wordpiece(const struct tokenizer_spec *spec, tokenizer_t **out)
{
    if (!spec || !out || !spec->tokens || spec->n_vocab == 0 || spec->n_vocab > INT32_MAX)
        return RAGD_EINVAL;
    if (spec->unk_id < 0) /* WordPiece needs somewhere to put words it cannot split */
        return RAGD_EINVAL;
    struct tokenizer *t;
    int rc;
    if (phantom_space_form(spec)) {
        /* back to "word" / "##piece"; bracketed and special tokens stay as they are */
        size_t n = spec->n_vocab;
        char **tok = xmalloc(n * sizeof *tok);
        size_t *len = xmalloc(n * sizeof *len);
        for (size_t i = 0; i < n; i++) {
            const char *s = spec->tokens[i];
            size_t l = spec->tokens_len ? spec->tokens_len[i] : strlen(s);
            int type = spec->types ? spec->types[i] : TOK_TYPE_NORMAL;
            if (l >= 3 && memcmp(s, "\xe2\x96\x81", 3) == 0) {
                tok[i] = xstrndup(s + 3, l - 3), len[i] = l - 3;
            } else if (is_special_type(type) || (l >= 2 && s[0] == '[' && s[l - 1] == ']')) {
                tok[i] = xstrndup(s, l), len[i] = l;
            } else {
                tok[i] = xmalloc(l + 3);
                memcpy(tok[i], "##", 2);
                memcpy(tok[i] + 2, s, l);
                tok[i][l + 2] = '\0';
                len[i] = l + 2;
            }
        }
        struct tokenizer_spec conv = *spec;
        conv.tokens = (const char *const *)tok;
        conv.tokens_len = len;
        rc = create_common(&conv, TOK_KIND_WORDPIECE, &t);
        for (size_t i = 0; i < n; i++)
            free(tok[i]);
        free(tok);
        free(len);
    } else {
        rc = create_common(spec, TOK_KIND_WORDPIECE, &t);
    }
    if (rc) return rc;
    bytes_build(t, NULL);
    *out = t;
    return 0;
}

void tokenizer_free(tokenizer_t *t)
{
    if (!t) return;
    free(t->special);
    free(t->merges);
    free(t->tok_hash);
    free(t->bytes_off);
    free(t->bytes);
    free(t->types);
    free(t->text_off);
    free(t->text);
    free(t);
}

/* ---- encoding ---- */

int id_vec_push(struct id_vec *a, int32_t id)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *v = try_realloc(a->v, cap * sizeof *v);
        if (!v) return RAGD_ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return 0;
}

/* Scratch space of one BPE encode call, reused across its words. */
struct bpe_sym {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
};
struct bpe_cand {
    int32_t rank;
    int32_t left; /* symbol index */
    int32_t left_id, right_id;
};
struct bpe_work {
    struct bpe_sym *sym;
    size_t sym_cap;
    struct bpe_cand *heap;
    size_t heap_n, heap_cap;
    char *mapped; /* the word in byte-level form (Llama 3's whole-word lookup) */
    size_t mapped_cap;
};

static int cand_less(const struct bpe_cand *a, const struct bpe_cand *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

static int heap_push(struct bpe_work *w, struct bpe_cand c)
{
    if (w->heap_n == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
        struct bpe_cand *h = try_realloc(w->heap, cap * sizeof *h);
        if (!h) return RAGD_ENOMEM;
        w->heap = h;
        w->heap_cap = cap;
    }
    size_t i = w->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &w->heap[p])) break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = c;
    return 0;
}

static struct bpe_cand heap_pop(struct bpe_work *w)
{
    struct bpe_cand top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct bpe_cand *best = &last;
        if (l < n && cand_less(&w->heap[l], best)) m = l, best = &w->heap[l];
        if (r < n && cand_less(&w->heap[r], best)) m = r;
        if (m == i) break;
        w->heap[i] = w->heap[m];
        i = m;
    }
    if (n > 0) w->heap[i] = last;
    return top;
}

static int try_pair(const struct tokenizer *t, struct bpe_work *w, int32_t left)
{
    int32_t right = w->sym[left].next;
    if (right < 0) return 0;
    const struct merge_slot *m = merge_find(t, w->sym[left].id, w->sym[right].id);
    if (!m) return 0;
    struct bpe_cand c = {m->rank, left, w->sym[left].id, w->sym[right].id};
    return heap_push(w, c);
}

/* Byte-level BPE over one pre-token: start from byte tokens, then repeatedly apply the
 * lowest-ranked merge present (leftmost among equals) until none applies. */
static int bpe_word(const struct tokenizer *t, struct bpe_work *w, const uint8_t *s, size_t n,
                    struct id_vec *out)
{
    if (t->ignore_merges && n > 1) {
        size_t need = 2 * n + 2;
        if (need > w->mapped_cap) {
            char *m = try_realloc(w->mapped, need);
            if (!m) return RAGD_ENOMEM;
            w->mapped = m;
            w->mapped_cap = need;
        }
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(w->mapped + o, t->bmap.utf8[s[i]], 2);
            o += t->bmap.len[s[i]];
        }
        int32_t id = tok_lookup(t, w->mapped, o);
        if (id >= 0 && !is_special_type(t->types[id])) return id_vec_push(out, id);
    }
    if (n > INT32_MAX) return RAGD_ERANGE;
    if (n > w->sym_cap) {
        struct bpe_sym *sym = try_realloc(w->sym, n * sizeof *sym);
        if (!sym) return RAGD_ENOMEM;
        w->sym = sym;
        w->sym_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[s[i]];
        if (id < 0) {
            if (t->unk_id < 0) return RAGD_EINVAL; /* the vocabulary cannot spell this byte */
            id = t->unk_id;
        }
        w->sym[i].id = id;
        w->sym[i].prev = (int32_t)i - 1;
        w->sym[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    w->heap_n = 0;
    int rc;
    for (size_t i = 0; i + 1 < n; i++)
        if ((rc = try_pair(t, w, (int32_t)i))) return rc;
    while (w->heap_n > 0) {
        struct bpe_cand c = heap_pop(w);
        struct bpe_sym *l = &w->sym[c.left];
        if (l->id != c.left_id || l->next < 0 || w->sym[l->next].id != c.right_id)
            continue; /* stale: one side has merged since */
        const struct merge_slot *m = merge_find(t, c.left_id, c.right_id);
        int32_t r = l->next;
        l->id = m->result;
        l->next = w->sym[r].next;
        if (l->next >= 0) w->sym[l->next].prev = c.left;
        w->sym[r].id = -1;
        if (l->prev >= 0 && (rc = try_pair(t, w, l->prev))) return rc;
        if ((rc = try_pair(t, w, c.left))) return rc;
    }
    for (int32_t i = 0; i >= 0; i = w->sym[i].next)
        if ((rc = id_vec_push(out, w->sym[i].id))) return rc;
    return 0;
}

static int bpe_segment(const struct tokenizer *t, struct bpe_work *w, const char *text, size_t len,
                       struct id_vec *out)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t pos = 0;
    while (pos < len) {
        size_t end = tok_pre_next(t->pre, s, len, pos);
        int rc = bpe_word(t, w, s + pos, end - pos, out);
        if (rc) return rc;
        pos = end;
    }
    return 0;
}

/* The longest special token that text[pos..len) starts with, or -1. User-defined tokens
 * always count (as Hugging Face and llama.cpp treat them); control and unknown ones only
 * when parse_special is set. */
static int32_t special_at(const struct tokenizer *t, const char *text, size_t len, size_t pos,
                          int parse_special, size_t *mlen)
{
    uint8_t b = (uint8_t)text[pos];
    for (uint32_t j = t->special_start[b]; j < t->special_start[b + 1]; j++) {
        int32_t id = t->special[j];
        if (!parse_special && t->types[id] != TOK_TYPE_USER_DEFINED) continue;
        size_t sl;
        const char *ss = tok_text(t, id, &sl);
        if (sl <= len - pos && memcmp(ss, text + pos, sl) == 0) {
            *mlen = sl;
            return id;
        }
    }
    return -1;
}

int tokenizer_encode(const tokenizer_t *t, const char *text, size_t len, int flags, int32_t **ids,
                     size_t *n_ids)
{
    if (!t || !ids || !n_ids || (!text && len > 0)) return RAGD_EINVAL;
    if ((flags & TOKENIZE_PLAIN) && (flags & TOKENIZE_PARSE_SPECIAL)) return RAGD_EINVAL;
    struct id_vec out = {0};
    struct bpe_work w = {0};
    int rc = 0;
    int parse_special = (flags & TOKENIZE_PARSE_SPECIAL) != 0;
    int match_special = t->n_special && !(flags & TOKENIZE_PLAIN);
    int add = (flags & TOKENIZE_ADD_SPECIAL) != 0;
    int wp = t->kind == TOK_KIND_WORDPIECE;
    int32_t first = wp ? t->cls_id : (t->add_bos ? t->bos_id : -1);
    int32_t last = wp ? t->sep_id : (t->add_eos ? t->eos_id : -1);
    if (add && first >= 0 && (rc = id_vec_push(&out, first))) goto fail;
    size_t seg = 0, pos = 0;
    while (pos <= len) {
        size_t mlen = 0;
        int32_t sid = -1;
        if (pos < len && match_special) sid = special_at(t, text, len, pos, parse_special, &mlen);
        if (sid < 0 && pos < len) {
            pos++;
            continue;
        }
        if (pos > seg) {
            rc = wp ? wordpiece_encode_segment(t, text + seg, pos - seg, &out)
                    : bpe_segment(t, &w, text + seg, pos - seg, &out);
            if (rc) goto fail;
        }
        if (sid < 0) break; /* pos == len */
        if ((rc = id_vec_push(&out, sid))) goto fail;
        pos += mlen;
        seg = pos;
    }
    if (add && last >= 0 && (rc = id_vec_push(&out, last))) goto fail;
    free(w.sym);
    free(w.heap);
    free(w.mapped);
    if (!out.v) { /* an empty result still gets a pointer the caller can free */
        out.v = try_malloc(sizeof *out.v);
        if (!out.v) return RAGD_ENOMEM;
    }
    *ids = out.v;
    *n_ids = out.n;
    return 0;
fail:
    free(w.sym);
    free(w.heap);
    free(w.mapped);
    free(out.v);
    return rc;
}

/* ---- decoding ---- */

int tokenizer_token_bytes(const tokenizer_t *t, int32_t id, const char **bytes, size_t *len)
{
    if (!t || id < 0 || (size_t)id >= t->n_vocab) return RAGD_ERANGE;
    *bytes = t->bytes + t->bytes_off[id];
    *len = t->bytes_off[id + 1] - t->bytes_off[id];
    return 0;
}

/* The bytes to emit for id at position index of a decoded sequence: WordPiece joins words
 * with a space and glues "##" continuations; BPE tokens carry their own spaces. */
static void piece_for(const struct tokenizer *t, int32_t id, size_t index, const char **p,
                      size_t *n, int *space)
{
    tokenizer_token_bytes(t, id, p, n);
    *space = 0;
    if (t->kind != TOK_KIND_WORDPIECE) return;
    if (*n >= 2 && (*p)[0] == '#' && (*p)[1] == '#' && t->types[id] == TOK_TYPE_NORMAL) {
        *p += 2;
        *n -= 2;
    } else if (index > 0) {
        *space = 1;
    }
}

int tokenizer_decode(const tokenizer_t *t, const int32_t *ids, size_t n_ids, int skip_special,
                     char **text, size_t *len)
{
    if (!t || !text || !len || (!ids && n_ids > 0)) return RAGD_EINVAL;
    size_t total = 1, emitted = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= t->n_vocab) return RAGD_ERANGE;
        total += t->bytes_off[ids[i] + 1] - t->bytes_off[ids[i]] + 1;
    }
    char *buf = try_malloc(total);
    if (!buf) return RAGD_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (skip_special && t->types[ids[i]] == TOK_TYPE_CONTROL) continue;
        const char *p;
        size_t n;
        int space;
        piece_for(t, ids[i], emitted++, &p, &n, &space);
        if (space) buf[o++] = ' ';
        memcpy(buf + o, p, n);
        o += n;
    }
    buf[o] = '\0';
    *text = buf;
    *len = o;
    return 0;
}

size_t tokenizer_n_vocab(const tokenizer_t *t)
{
    return t ? t->n_vocab : 0;
}

size_t tokenizer_max_token_bytes(const tokenizer_t *t)
{
    return t ? t->max_token_bytes + 2 : 0; /* + a WordPiece joining space, to be safe */
}

int32_t tokenizer_special_id(const tokenizer_t *t, const char *which)
{
    if (!t || !which) return -1;
    static const char *const names[] = {"bos", "eos", "unk", "pad", "sep", "cls", "mask"};
    const int32_t ids[] = {t->bos_id, t->eos_id, t->unk_id, t->pad_id,
                           t->sep_id, t->cls_id, t->mask_id};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(which, names[i]) == 0) return ids[i];
    return -1;
}

int32_t tokenizer_find(const tokenizer_t *t, const char *piece, size_t len)
{
    if (!t || (!piece && len > 0)) return -1;
    return tok_lookup(t, piece ? piece : "", len);
}

int tokenizer_token_type(const tokenizer_t *t, int32_t id)
{
    if (!t || id < 0 || (size_t)id >= t->n_vocab) return RAGD_ERANGE;
    return t->types[id];
}

int tokenizer_is_wordpiece(const tokenizer_t *t)
{
    return t && t->kind == TOK_KIND_WORDPIECE;
}

/* ---- streaming ---- */

int tokenizer_stream_push(const tokenizer_t *t, struct tok_stream *s, int32_t id, int skip_special,
                          char *out, size_t out_cap)
{
    if (!t || !s || (!out && out_cap > 0)) return RAGD_EINVAL;
    if (id < 0 || (size_t)id >= t->n_vocab) return RAGD_ERANGE;
    if (s->n_pending > sizeof s->pending) return RAGD_EINVAL;
    const char *p = "";
    size_t n = 0;
    int space = 0;
    if (!(skip_special && t->types[id] == TOK_TYPE_CONTROL))
        piece_for(t, id, s->n_tokens, &p, &n, &space);
    size_t total = s->n_pending + (size_t)space + n;
    if (total > out_cap || total > INT32_MAX) return RAGD_ERANGE;
    if (!(skip_special && t->types[id] == TOK_TYPE_CONTROL)) s->n_tokens++;
    memcpy(out, s->pending, s->n_pending);
    size_t o = s->n_pending;
    if (space) out[o++] = ' ';
    memcpy(out + o, p, n);
    size_t hold = unicode_incomplete_tail((const uint8_t *)out, total);
    memcpy(s->pending, out + total - hold, hold);
    s->n_pending = hold;
    return (int)(total - hold);
}

int tokenizer_stream_flush(struct tok_stream *s, char *out, size_t out_cap)
{
    if (!s || s->n_pending > sizeof s->pending) return RAGD_EINVAL;
    if (s->n_pending > out_cap) return RAGD_ERANGE;
    size_t n = s->n_pending;
    memcpy(out, s->pending, n);
    s->n_pending = 0;
    return (int)n;
}
