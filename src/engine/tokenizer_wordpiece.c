/* tokenizer_wordpiece.c - BERT's basic tokenizer followed by greedy longest-match-first
 * WordPiece:
 *   1. clean: drop NUL, U+FFFD, invalid bytes and control characters (category C except
 *      \t \n \r); other whitespace (White_Space, as Hugging Face's tokenizers) -> ' '
 *   2. put spaces around CJK ideographs
 *   3. split on whitespace; when lower-casing: NFD, drop Mn marks (accents), lower-case
 *   4. split every punctuation character into its own word
 *   5. each word: longest vocabulary prefix, then longest "##" continuation, and so on;
 *      a word that cannot be covered, or has more than max_input_chars_per_word
 *      characters, becomes [UNK]. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "engine/tokenizer_int.h"
#include "engine/unicode.h"

struct wp_work {
    uint32_t *norm; /* one word after step 3 */
    size_t norm_cap;
    char *utf8; /* one piece in UTF-8, with "##" room in front */
    size_t utf8_cap;
    size_t *off; /* byte offset of each character of the piece, plus the end */
    size_t off_cap;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = try_realloc(*p, c * elem);
    if (!q) return RAGD_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Greedy longest-match-first over one piece of n code points. */
static int wordpiece_piece(const struct tokenizer *t, struct wp_work *w, const uint32_t *cp,
                           size_t n, struct id_vec *out)
{
    if (n == 0) return 0;
    if (n > (size_t)t->max_chars_per_word) return id_vec_push(out, t->unk_id);
    int rc;
    if ((rc = grow((void **)&w->utf8, &w->utf8_cap, 4 * n + 2, 1)) ||
        (rc = grow((void **)&w->off, &w->off_cap, n + 1, sizeof *w->off)))
        return rc;
    /* utf8[0..2) is reserved for "##" */
    size_t o = 2;
    for (size_t i = 0; i < n; i++) {
        w->off[i] = o;
        o += unicode_encode(cp[i], w->utf8 + o);
    }
    w->off[n] = o;
    size_t first = out->n, start = 0;
    while (start < n) {
        int32_t found = -1;
        size_t end = n;
        for (; end > start; end--) {
            char *s = w->utf8 + w->off[start];
            size_t len = w->off[end] - w->off[start];
            if (start > 0) { /* continuation: look up "##" + piece, written in place */
                s -= 2;
                len += 2;
                char save0 = s[0], save1 = s[1];
                s[0] = '#', s[1] = '#';
                found = tok_lookup(t, s, len);
                s[0] = save0, s[1] = save1;
            } else {
                found = tok_lookup(t, s, len);
            }
            if (found >= 0) break;
        }
        if (found < 0) { /* the whole word becomes [UNK] */
            out->n = first;
            return id_vec_push(out, t->unk_id);
        }
        if ((rc = id_vec_push(out, found))) return rc;
        start = end;
    }
    return 0;
}

/* Steps 3 to 5 for one whitespace-separated word. */
static int wordpiece_word(const struct tokenizer *t, struct wp_work *w, const uint32_t *cp,
                          size_t n, struct id_vec *out)
{
    const uint32_t *word = cp;
    size_t wn = n;
    int rc;
    if (t->lowercase) {
        if ((rc = grow((void **)&w->norm, &w->norm_cap, 4 * n, sizeof *w->norm))) return rc;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            size_t d = unicode_nfd_char(cp[i], w->norm + k, 4);
            if (d == 0) /* defensive: canonical decompositions are at most 4 long */
                w->norm[k] = cp[i], d = 1;
            k += d;
        }
        /* canonical ordering of combining marks, so the stripped result matches NFD */
        for (size_t i = 1; i < k; i++) {
            uint32_t c = w->norm[i];
            int cc = unicode_ccc(c);
            if (cc == 0) continue;
            size_t j = i;
            while (j > 0 && unicode_ccc(w->norm[j - 1]) > cc) {
                w->norm[j] = w->norm[j - 1];
                j--;
            }
            w->norm[j] = c;
        }
        size_t m = 0;
        for (size_t i = 0; i < k; i++) {
            if (unicode_flags(w->norm[i]) & UNI_MARK_NS) continue;
            w->norm[m++] = unicode_tolower(w->norm[i]);
        }
        word = w->norm;
        wn = m;
    }
    size_t run = 0;
    for (size_t i = 0; i < wn; i++) {
        if (!(unicode_flags(word[i]) & UNI_PUNCT)) continue;
        if ((rc = wordpiece_piece(t, w, word + run, i - run, out))) return rc;
        if ((rc = wordpiece_piece(t, w, word + i, 1, out))) return rc;
        run = i + 1;
    }
    return wordpiece_piece(t, w, word + run, wn - run, out);
}

int wordpiece_encode_segment(const struct tokenizer *t, const char *text, size_t n,
                             struct id_vec *out)
{
    if (n > SIZE_MAX / (3 * sizeof(uint32_t)) - 1) return RAGD_ERANGE;
    /* steps 1 and 2: at most three code points (' ' c ' ') per input byte */
    uint32_t *cp = try_malloc((3 * n + 1) * sizeof *cp);
    if (!cp) return RAGD_ENOMEM;
    size_t k = 0;
    const uint8_t *s = (const uint8_t *)text;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        i += unicode_decode(s + i, n - i, &c);
        if (c == UNICODE_INVALID || c == 0 || c == 0xFFFD) continue;
        unsigned f = unicode_flags(c);
        /* control before whitespace, as Hugging Face's BertNormalizer filters: \v, \f and
         * U+0085 are removed, not spaces */
        if (f & UNI_CONTROL) {
            continue;
        } else if (f & UNI_SPACE) {
            cp[k++] = ' ';
        } else if (f & UNI_CJK) {
            cp[k++] = ' ';
            cp[k++] = c;
            cp[k++] = ' ';
        } else {
            cp[k++] = c;
        }
    }
    struct wp_work w = {0};
    int rc = 0;
    size_t start = 0;
    for (size_t i = 0; i <= k; i++) {
        if (i < k && cp[i] != ' ') continue;
        if (i > start && (rc = wordpiece_word(t, &w, cp + start, i - start, out))) break;
        start = i + 1;
    }
    free(w.norm);
    free(w.utf8);
    free(w.off);
    free(cp);
    return rc;
}
