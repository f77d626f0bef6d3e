/* model.c - the model scorer: a sequence-classification checkpoint run by the encoder.
 *
 * SENTIMENT_MODEL names a Hugging Face folder or a GGUF file with a classification head (see
 * engine/encoder.h). Its labels are mapped to the three classes by name (sentiment_label_parse:
 * POSITIVE / NEG / "4 stars" ...); unnamed labels LABEL_0.. are read as NEGATIVE, POSITIVE
 * (two labels) or NEGATIVE, NEUTRAL, POSITIVE (three), the order sentiment checkpoints use.
 * A model whose labels cannot be mapped is refused at start. The label is the class with the
 * highest summed probability, score that probability, polarity p(positive) - p(negative). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/mem.h"
#include "engine/encoder.h"
#include "sentiment/sentiment_int.h"

struct model {
    encoder_t *enc;
    int n_labels;
    enum sentiment_label *cls; /* [n_labels] */
};

static void model_close(void *state)
{
    struct model *m = state;
    if (!m) return;
    encoder_free(m->enc);
    free(m->cls);
    free(m);
}

static int model_open(void **state, char *err, size_t errcap)
{
    const char *path = config_str("SENTIMENT_MODEL", "");
    if (!path[0])
        return ragd_errf(err, errcap, RAGD_EINVAL,
                         "SENTIMENT_SCORER=model needs SENTIMENT_MODEL (a Hugging Face folder or "
                         "a GGUF file with a sequence-classification head)");
    struct model *m = xcalloc(1, sizeof *m);
    char why[256] = "";
    struct encoder_opts o = {.max_seq = (int)config_int("SENTIMENT_MAX_SEQ", 256, 0, 8192),
                             .n_threads = (int)config_int("SENTIMENT_THREADS", 1, 0, 1024)};
    int rc = encoder_load(path, &o, &m->enc, why, sizeof why);
    if (rc) {
        rc = ragd_errf(err, errcap, rc, "SENTIMENT_MODEL %s: %s", path, why);
        goto fail;
    }
    m->n_labels = encoder_n_labels(m->enc);
    if (m->n_labels < 2) {
        rc = ragd_errf(err, errcap, RAGD_EINVAL,
                       "SENTIMENT_MODEL %s has no classification head with two or more labels",
                       path);
        goto fail;
    }
    m->cls = xcalloc((size_t)m->n_labels, sizeof *m->cls);
    int unnamed = 0;
    for (int i = 0; i < m->n_labels; i++) {
        char want[24];
        snprintf(want, sizeof want, "LABEL_%d", i);
        if (!strcmp(encoder_label(m->enc, i), want))
            unnamed++;
        else if (sentiment_label_parse(encoder_label(m->enc, i), &m->cls[i])) {
            rc = ragd_errf(err, errcap, RAGD_EINVAL,
                           "SENTIMENT_MODEL %s: label '%.40s' is not positive, neutral or "
                           "negative",
                           path, encoder_label(m->enc, i));
            goto fail;
        }
    }
    if (unnamed) {
        if (unnamed != m->n_labels || m->n_labels > 3) {
            rc = ragd_errf(err, errcap, RAGD_EINVAL,
                           "SENTIMENT_MODEL %s: %d unnamed labels cannot be mapped (name them "
                           "in config.json id2label)",
                           path, unnamed);
            goto fail;
        }
        m->cls[0] = SENTIMENT_NEGATIVE;
        m->cls[m->n_labels - 1] = SENTIMENT_POSITIVE;
        if (m->n_labels == 3) m->cls[1] = SENTIMENT_NEUTRAL;
    }
    *state = m;
    return 0;
fail:
    model_close(m);
    return rc;
}

static int model_score(void *state, const char *text, size_t len, struct sentiment *out)
{
    struct model *m = state;
    char *t = xstrndup(text, len);
    float probs[64], *p = m->n_labels <= 64 ? probs : xmalloc((size_t)m->n_labels * sizeof *p);
    const char *texts[1] = {t};
    int rc = encoder_classify(m->enc, texts, 1, NULL, p);
    if (!rc) {
        double by[3] = {0, 0, 0};
        for (int i = 0; i < m->n_labels; i++)
            by[m->cls[i]] += p[i];
        enum sentiment_label best = SENTIMENT_NEUTRAL;
        for (int c = 0; c < 3; c++)
            if (by[c] > by[best]) best = (enum sentiment_label)c;
        out->label = best;
        out->score = by[best];
        out->polarity = sentiment_polarity_of(by[SENTIMENT_NEGATIVE], by[SENTIMENT_NEUTRAL],
                                              by[SENTIMENT_POSITIVE]);
    }
    if (p != probs) free(p);
    free(t);
    return rc;
}

const struct sentiment_ops sentiment_model_ops = {"model", model_open, model_score, model_close};
