#include "engine/tok_gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"

static int32_t special(const gguf_t *g, const char *key, size_t n_vocab)
{
    uint32_t v;
    if (gguf_get_u32(g, key, &v) || v >= n_vocab) return -1;
    return (int32_t)v;
}

/* Pointers and lengths of a string array's elements (views into the file). */
static int str_array(const struct gguf_value *a, const char ***ptrs, size_t **lens)
{
    if (a->v.arr.elem_type != GGUF_TYPE_STRING) return RAGD_EFORMAT;
    size_t n = (size_t)a->v.arr.n;
    *ptrs = xmalloc((n ? n : 1) * sizeof **ptrs);
    *lens = xmalloc((n ? n : 1) * sizeof **lens);
    for (size_t i = 0; i < n; i++) {
        (*ptrs)[i] = a->v.arr.items[i].v.str.ptr;
        (*lens)[i] = a->v.arr.items[i].v.str.len;
    }
    return 0;
}

int tok_gguf_load(const gguf_t *g, tokenizer_t **out, char *err, size_t err_len)
{
    char *model = NULL, *pre = NULL;
    const char **toks = NULL, **merges = NULL;
    size_t *tok_lens = NULL, *merge_lens = NULL;
    int32_t *types = NULL;
    const struct gguf_value *a;
    int rc = gguf_get_str(g, "tokenizer.ggml.model", &model);
    if (rc)
        return ragd_errf(err, err_len, rc == RAGD_ENOTFOUND ? RAGD_ENOTFOUND : RAGD_EFORMAT,
                         "tokenizer: tokenizer.ggml.model missing or invalid");
    int bpe = !strcmp(model, "gpt2"), wordpiece = !strcmp(model, "bert");
    if (!bpe && !wordpiece) {
        rc = ragd_errf(err, err_len, RAGD_ENOTSUP,
                       "tokenizer: model '%s' is not supported "
                       "(gpt2, bert)",
                       model);
        goto done;
    }
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", &a) || str_array(a, &toks, &tok_lens) ||
        a->v.arr.n == 0) {
        rc = ragd_errf(err, err_len, RAGD_EFORMAT,
                       "tokenizer: tokenizer.ggml.tokens missing or "
                       "not an array of strings");
        goto done;
    }
    size_t n_vocab = (size_t)a->v.arr.n;
    if (gguf_get_arr(g, "tokenizer.ggml.token_type", &a) == 0) {
        if (a->v.arr.n != n_vocab || !a->v.arr.raw) {
            rc = ragd_errf(err, err_len, RAGD_EFORMAT,
                           "tokenizer: token_type has %llu entries for "
                           "%zu tokens",
                           (unsigned long long)a->v.arr.n, n_vocab);
            goto done;
        }
        types = xmalloc(n_vocab * sizeof *types);
        for (size_t i = 0; i < n_vocab; i++)
            types[i] = (int32_t)gguf_arr_i64(a, i);
    }
    size_t n_merges = 0;
    if (gguf_get_arr(g, "tokenizer.ggml.merges", &a) == 0) {
        if (str_array(a, &merges, &merge_lens)) {
            rc = ragd_errf(err, err_len, RAGD_EFORMAT, "tokenizer: merges must be strings");
            goto done;
        }
        n_merges = (size_t)a->v.arr.n;
    }
    if (gguf_get_str(g, "tokenizer.ggml.pre", &pre)) pre = xstrdup(bpe ? "gpt-2" : "default");
    struct tokenizer_spec spec = {
        .tokens = toks,
        .tokens_len = tok_lens,
        .types = types,
        .n_vocab = n_vocab,
        .merges = merges,
        .merges_len = merge_lens,
        .n_merges = n_merges,
        .pre = pre,
        .bos_id = special(g, "tokenizer.ggml.bos_token_id", n_vocab),
        .eos_id = special(g, "tokenizer.ggml.eos_token_id", n_vocab),
        .unk_id = special(g, "tokenizer.ggml.unknown_token_id", n_vocab),
        .pad_id = special(g, "tokenizer.ggml.padding_token_id", n_vocab),
        .sep_id = special(g, "tokenizer.ggml.seperator_token_id", n_vocab),
        .cls_id = special(g, "tokenizer.ggml.cls_token_id", n_vocab),
        .mask_id = special(g, "tokenizer.ggml.mask_token_id", n_vocab),
    };
    int flag;
    spec.add_bos = gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &flag) == 0 ? flag : wordpiece;
    spec.add_eos = gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &flag) == 0 ? flag : wordpiece;
    spec.lowercase = wordpiece;
    rc = bpe ? tokenizer_create_bpe(&spec, out) : tokenizer_create_wordpiece(&spec, out);
    if (rc)
        ragd_errf(err, err_len, rc,
                  "tokenizer: cannot build the %s tokenizer (pre-tokenizer '%s'): "
                  "%s",
                  model, pre, ragd_strerror(rc));
done:
    free(pre);
    free(types);
    free(merges);
    free(merge_lens);
    free(toks);
    free(tok_lens);
    free(model);
    return rc;
}
