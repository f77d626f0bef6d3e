/* tokenizer_load.c - specs from the files models are published with: BERT's vocab.txt and
 * Hugging Face's tokenizer.json (parsed with jansson, the only JSON in the engine). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "engine/tokenizer.h"

/* A spec with the arrays it points to. spec comes first: tokenizer_spec_free casts back. */
struct spec_store {
    struct tokenizer_spec spec;
    char **tokens;
    size_t *tokens_len;
    int32_t *types;
    size_t n;
    char **merges;
    size_t n_merges;
    char *pre;
    int is_bpe;
};

static struct spec_store *store_new(size_t n)
{
    struct spec_store *st = xcalloc(1, sizeof *st);
    st->tokens = xcalloc(n ? n : 1, sizeof *st->tokens);
    st->tokens_len = xcalloc(n ? n : 1, sizeof *st->tokens_len);
    st->types = xcalloc(n ? n : 1, sizeof *st->types);
    st->n = n;
    for (size_t i = 0; i < n; i++)
        st->types[i] = TOK_TYPE_NORMAL;
    struct tokenizer_spec *s = &st->spec;
    s->bos_id = s->eos_id = s->unk_id = s->pad_id = s->sep_id = s->cls_id = s->mask_id = -1;
    return st;
}

static void store_publish(struct spec_store *st)
{
    struct tokenizer_spec *s = &st->spec;
    s->tokens = (const char *const *)st->tokens;
    s->tokens_len = st->tokens_len;
    s->types = st->types;
    s->n_vocab = st->n;
    s->merges = (const char *const *)st->merges;
    s->merges_len = NULL;
    s->n_merges = st->n_merges;
    s->pre = st->pre;
}

void tokenizer_spec_free(struct tokenizer_spec *spec)
{
    if (!spec) return;
    struct spec_store *st = (struct spec_store *)spec;
    for (size_t i = 0; i < st->n; i++)
        free(st->tokens[i]);
    for (size_t i = 0; i < st->n_merges; i++)
        free(st->merges[i]);
    free(st->tokens);
    free(st->tokens_len);
    free(st->types);
    free(st->merges);
    free(st->pre);
    free(st);
}

int tokenizer_spec_is_bpe(const struct tokenizer_spec *spec)
{
    return spec && ((const struct spec_store *)spec)->is_bpe;
}

static int32_t find(const struct spec_store *st, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < st->n; i++)
        if (st->tokens[i] && st->tokens_len[i] == len && memcmp(st->tokens[i], name, len) == 0)
            return (int32_t)i;
    return -1;
}

/* Sets an unset special id by name and types the token as control. */
static void name_special(struct spec_store *st, int32_t *id, const char *name)
{
    if (*id >= 0) return;
    *id = find(st, name);
    if (*id >= 0) st->types[*id] = TOK_TYPE_CONTROL;
}

/* The usual special tokens of WordPiece models, by name (see tokenizer.h). */
static void name_specials(struct spec_store *st)
{
    struct tokenizer_spec *s = &st->spec;
    int roberta = find(st, "<s>") >= 0 && find(st, "</s>") >= 0;
    name_special(st, &s->unk_id, "[UNK]");
    name_special(st, &s->unk_id, "<unk>");
    if (roberta) {
        name_special(st, &s->cls_id, "<s>");
        name_special(st, &s->sep_id, "</s>");
        name_special(st, &s->pad_id, "<pad>");
        name_special(st, &s->mask_id, "<mask>");
    }
    name_special(st, &s->cls_id, "[CLS]");
    name_special(st, &s->sep_id, "[SEP]");
    name_special(st, &s->pad_id, "[PAD]");
    name_special(st, &s->mask_id, "[MASK]");
    /* the BERT names are special in an MPNet vocabulary too */
    int32_t other = -1;
    const char *const names[] = {"[UNK]", "[CLS]", "[SEP]", "[PAD]",  "[MASK]",
                                 "<s>",   "</s>",  "<pad>", "<mask>", "<unk>"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        other = -1;
        name_special(st, &other, names[i]);
    }
}

/* ---- vocab.txt ---- */

int tokenizer_spec_from_vocab_txt(const char *buf, size_t len, struct tokenizer_spec **out)
{
    if (!out || (!buf && len > 0)) return RAGD_EINVAL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n') n++;
    if (len > 0 && buf[len - 1] != '\n') n++; /* last line without a newline */
    if (n == 0 || n > INT32_MAX) return RAGD_EFORMAT;
    struct spec_store *st = store_new(n);
    size_t line = 0, start = 0;
    for (size_t i = 0; i <= len && line < n; i++) {
        if (i < len && buf[i] != '\n') continue;
        size_t l = i - start;
        if (l > 0 && buf[start + l - 1] == '\r') l--;
        st->tokens[line] = xstrndup(buf + start, l);
        st->tokens_len[line] = l;
        line++;
        start = i + 1;
    }
    name_specials(st);
    st->spec.lowercase = 1;
    store_publish(st);
    *out = &st->spec;
    return 0;
}

/* ---- tokenizer.json ---- */

static int set_token(struct spec_store *st, json_int_t id, const char *s, size_t len)
{
    if (id < 0 || (size_t)id >= st->n) return RAGD_EFORMAT;
    if (st->tokens[id]) { /* an added token repeating a vocabulary entry must agree */
        if (st->tokens_len[id] != len || memcmp(st->tokens[id], s, len) != 0) return RAGD_EFORMAT;
        return 0;
    }
    st->tokens[id] = xstrndup(s, len);
    st->tokens_len[id] = len;
    return 0;
}

static int32_t special_by_name(struct spec_store *st, json_t *name)
{
    if (!json_is_string(name)) return -1;
    int32_t id = find(st, json_string_value(name));
    if (id >= 0) st->types[id] = TOK_TYPE_CONTROL;
    return id;
}

/* cls/sep (or bos for BPE) from the post-processor. */
static void read_post_processor(struct spec_store *st, json_t *pp)
{
    struct tokenizer_spec *s = &st->spec;
    const char *type = json_string_value(json_object_get(pp, "type"));
    if (!type) return;
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        s->cls_id = special_by_name(st, json_array_get(json_object_get(pp, "cls"), 0));
        s->sep_id = special_by_name(st, json_array_get(json_object_get(pp, "sep"), 0));
    } else if (strcmp(type, "TemplateProcessing") == 0) {
        json_t *single = json_object_get(pp, "single");
        size_t n = json_array_size(single);
        if (n == 0) return;
        json_t *first = json_object_get(json_array_get(single, 0), "SpecialToken");
        json_t *last = json_object_get(json_array_get(single, n - 1), "SpecialToken");
        int32_t f = first ? special_by_name(st, json_object_get(first, "id")) : -1;
        int32_t l = (last && n > 1) ? special_by_name(st, json_object_get(last, "id")) : -1;
        if (st->is_bpe) {
            s->bos_id = f, s->add_bos = f >= 0;
            s->eos_id = l, s->add_eos = l >= 0;
        } else {
            s->cls_id = f;
            s->sep_id = l;
        }
    } else if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(pp, "processors");
        for (size_t i = 0; i < json_array_size(list); i++)
            read_post_processor(st, json_array_get(list, i));
    }
}

/* BertNormalizer / Lowercase anywhere in the normalizer (possibly a Sequence). */
static int read_lowercase(json_t *norm)
{
    const char *type = json_string_value(json_object_get(norm, "type"));
    if (!type) return 0;
    if (strcmp(type, "BertNormalizer") == 0) {
        json_t *lc = json_object_get(norm, "lowercase");
        return lc ? json_is_true(lc) : 1; /* Hugging Face's default is to lower-case */
    }
    if (strcmp(type, "Lowercase") == 0) return 1;
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(norm, "normalizers");
        for (size_t i = 0; i < json_array_size(list); i++)
            if (read_lowercase(json_array_get(list, i))) return 1;
    }
    return 0;
}

/* Recognises the published split regexes; returns the pre name or NULL. */
static const char *read_pre(json_t *pt)
{
    const char *type = json_string_value(json_object_get(pt, "type"));
    if (!type) return NULL;
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(pt, "pretokenizers");
        for (size_t i = 0; i < json_array_size(list); i++) {
            const char *p = read_pre(json_array_get(list, i));
            if (p) return p;
        }
        return NULL;
    }
    if (strcmp(type, "Split") == 0) {
        const char *re =
            json_string_value(json_object_get(json_object_get(pt, "pattern"), "Regex"));
        if (!re || !strstr(re, "\\p{L}")) return NULL;
        if (strstr(re, "\\p{N}{1,3}")) return "llama-bpe";
        if (strstr(re, "\\p{N}|")) return "qwen2";
        if (strstr(re, "?\\p{N}+")) return "gpt-2";
        return NULL;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        json_t *ur = json_object_get(pt, "use_regex");
        if (!ur || json_is_true(ur)) return "gpt-2";
    }
    return NULL;
}

static int read_merges(struct spec_store *st, json_t *merges)
{
    size_t n = json_array_size(merges);
    st->merges = xcalloc(n ? n : 1, sizeof *st->merges);
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(merges, i);
        if (json_is_string(m)) {
            st->merges[i] = xstrndup(json_string_value(m), json_string_length(m));
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            st->merges[i] = xasprintf("%s %s", json_string_value(json_array_get(m, 0)),
                                      json_string_value(json_array_get(m, 1)));
        } else {
            return RAGD_EFORMAT;
        }
        st->n_merges = i + 1;
    }
    return 0;
}

int tokenizer_spec_from_hf_json(const char *buf, size_t len, struct tokenizer_spec **out)
{
    if (!out || (!buf && len > 0)) return RAGD_EINVAL;
    json_error_t jerr;
    json_t *root = json_loadb(buf ? buf : "", len, 0, &jerr);
    if (!root) return RAGD_EFORMAT;
    struct spec_store *st = NULL;
    int rc = RAGD_EFORMAT;
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *added = json_object_get(root, "added_tokens");
    if (!json_is_object(model) || !json_is_object(vocab) || (added && !json_is_array(added)))
        goto done;
    const char *type = json_string_value(json_object_get(model, "type"));
    int is_bpe;
    if (type)
        is_bpe = strcmp(type, "BPE") == 0;
    else
        is_bpe = json_object_get(model, "merges") != NULL;
    if (type && !is_bpe && strcmp(type, "WordPiece") != 0) {
        rc = RAGD_ENOTSUP;
        goto done;
    }
    /* Ids must be dense: count entries, bound the largest id before allocating. */
    size_t entries = json_object_size(vocab) + json_array_size(added);
    json_int_t max_id = -1;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val)
    {
        if (!json_is_integer(val) || json_integer_value(val) < 0) goto done;
        if (json_integer_value(val) > max_id) max_id = json_integer_value(val);
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *id = json_object_get(json_array_get(added, i), "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0) goto done;
        if (json_integer_value(id) > max_id) max_id = json_integer_value(id);
    }
    if (max_id < 0 || (size_t)max_id >= entries || max_id >= INT32_MAX) goto done;
    st = store_new((size_t)max_id + 1);
    st->is_bpe = is_bpe;
    json_object_foreach(vocab, key, val)
    {
        if ((rc = set_token(st, json_integer_value(val), key, strlen(key)))) goto done;
    }
    rc = RAGD_EFORMAT;
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        json_t *content = json_object_get(a, "content");
        if (!json_is_string(content)) goto done;
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        if (set_token(st, id, json_string_value(content), json_string_length(content))) goto done;
        st->types[id] =
            json_is_true(json_object_get(a, "special")) ? TOK_TYPE_CONTROL : TOK_TYPE_USER_DEFINED;
    }
    for (size_t i = 0; i < st->n; i++)
        if (!st->tokens[i]) goto done; /* a hole */
    struct tokenizer_spec *s = &st->spec;
    if (is_bpe) {
        if ((rc = read_merges(st, json_object_get(model, "merges")))) goto done;
        const char *pre = read_pre(json_object_get(root, "pre_tokenizer"));
        if (!pre) {
            rc = RAGD_ENOTSUP;
            goto done;
        }
        st->pre = xstrdup(pre);
        read_post_processor(st, json_object_get(root, "post_processor"));
    } else {
        json_t *prefix = json_object_get(model, "continuing_subword_prefix");
        if (prefix && (!json_is_string(prefix) || strcmp(json_string_value(prefix), "##") != 0)) {
            rc = RAGD_ENOTSUP;
            goto done;
        }
        s->unk_id = special_by_name(st, json_object_get(model, "unk_token"));
        json_t *maxc = json_object_get(model, "max_input_chars_per_word");
        if (json_is_integer(maxc) && json_integer_value(maxc) > 0 &&
            json_integer_value(maxc) < INT32_MAX)
            s->max_input_chars_per_word = (int)json_integer_value(maxc);
        s->lowercase = read_lowercase(json_object_get(root, "normalizer"));
        read_post_processor(st, json_object_get(root, "post_processor"));
        json_t *pad = json_object_get(json_object_get(root, "padding"), "pad_id");
        if (json_is_integer(pad) && json_integer_value(pad) >= 0 &&
            (size_t)json_integer_value(pad) < st->n)
            s->pad_id = (int32_t)json_integer_value(pad);
        name_specials(st);
        if (s->unk_id < 0) {
            rc = RAGD_EFORMAT;
            goto done;
        }
    }
    store_publish(st);
    *out = &st->spec;
    st = NULL;
    rc = 0;
done:
    if (st) tokenizer_spec_free(&st->spec);
    json_decref(root);
    return rc;
}
