/* grammar.h - constrained decoding: a JSON schema compiled into a pushdown automaton over
 * bytes, and a per-step mask that leaves only the tokens whose bytes continue a valid prefix.
 *
 *   grammar_t *g;        grammar_compile(schema, &g, err, sizeof err);   (or NULL: any object)
 *   grammar_vocab_t *v;  grammar_vocab_create(tok, eos_ids, n_eos, &v);  (once per model)
 *   grammar_state_t *s;  grammar_state_create(g, &s);                    (once per sequence)
 *   per step: grammar_mask(s, v, logits); tok = sample(logits); grammar_accept_token(s, v, tok);
 *
 * Supported schema keywords: type (object, array, string, number, integer, boolean, null, or
 * a list of them), properties, required, additionalProperties (false, true or absent: only
 * the listed properties are generated either way), enum, const, items, minItems, maxItems,
 * minLength, maxLength, anyOf, $ref into the schema's own $defs / definitions (not
 * recursive), and the annotations title, description, default, examples, $schema, $id,
 * $comment. Anything else (pattern, format, oneOf, allOf, minimum, a remote $ref, ...) is
 * refused by grammar_compile with a message naming the keyword, rather than silently
 * generating text the schema would reject. Properties are generated in the order the schema
 * lists them; optional ones may be left out. Whitespace between tokens is one space or a
 * newline with at most GRAMMAR_MAX_WS spaces or tabs of indentation (none before the
 * top-level value) and numbers have at most 15 digits before and after the point and 2 in
 * the exponent, so every value closes; once it is complete only the end-of-sequence tokens
 * are allowed. Strings and arrays without maxLength / maxItems are unbounded: the caller's
 * token limit ends those.
 *
 * A grammar_t is immutable and may be shared by threads; a grammar_state_t belongs to one
 * sequence; a grammar_vocab_t is immutable once built. */
#ifndef RAGD_ENGINE_GRAMMAR_H
#define RAGD_ENGINE_GRAMMAR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"

enum { GRAMMAR_MAX_WS = 12, GRAMMAR_MAX_DEPTH = 32 };

typedef struct grammar grammar_t;
typedef struct grammar_state grammar_state_t;
typedef struct grammar_vocab grammar_vocab_t;

/* Compiles schema (a JSON schema object; NULL: any JSON value whose top level is an object,
 * as response_format json_object asks). Returns 0 with *out (grammar_free), or RAGD_EINVAL
 * with a one-line reason in err for an unsupported keyword or an inconsistent schema. */
int grammar_compile(const json_t *schema, grammar_t **out, char *err, size_t errcap);
void grammar_free(grammar_t *g); /* NULL is a no-op */

/* A matcher at the start of g's value. Returns 0 with *out (grammar_state_free). Cannot fail
 * otherwise. g must outlive the state. */
int grammar_state_create(const grammar_t *g, grammar_state_t **out);
void grammar_state_free(grammar_state_t *s); /* NULL is a no-op */

/* Advances over n bytes. Returns 0, or RAGD_EINVAL when they cannot continue a valid prefix
 * (the state is then unchanged). */
int grammar_accept_bytes(grammar_state_t *s, const char *bytes, size_t n);
/* 1 when the text so far is a complete value (the end may come now), else 0. */
int grammar_can_end(const grammar_state_t *s);
/* 1 when no byte can follow (the value is complete and closed), else 0. */
int grammar_done(const grammar_state_t *s);

/* The token byte strings of t's vocabulary, with eos_ids[0..n_eos) as the tokens that end a
 * sequence. Control, unknown and user-defined tokens other than those are never allowed under
 * a grammar. Returns 0 with *out (grammar_vocab_free) or RAGD_EINVAL. */
int grammar_vocab_create(const tokenizer_t *t, const int32_t *eos_ids, size_t n_eos,
                         grammar_vocab_t **out);
void grammar_vocab_free(grammar_vocab_t *v); /* NULL is a no-op */

/* Sets logits[i] to -INFINITY for every token i (of n_logits; ids beyond the vocabulary
 * included) that cannot come next; the end-of-sequence tokens stay only when grammar_can_end.
 * Returns the number of tokens left; when that would be 0 (cannot happen for a consistent
 * state) the first end-of-sequence token is left so that generation ends. Cannot fail. */
size_t grammar_mask(grammar_state_t *s, const grammar_vocab_t *v, float *logits, size_t n_logits);
/* Advances over token tok: 0, or RAGD_EINVAL when it is not allowed (state unchanged). An
 * end-of-sequence token is accepted when grammar_can_end. */
int grammar_accept_token(grammar_state_t *s, const grammar_vocab_t *v, int32_t tok);

#endif
