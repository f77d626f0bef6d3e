/* encoder_cli.h - the sentence-encoder command-line verbs, dispatched from engine_cli:
 * `embed` and `model mktiny --arch bert|mpnet`. */
#ifndef RAGD_ENCODER_CLI_H
#define RAGD_ENCODER_CLI_H

#include <stdint.h>

/* ragd embed --model PATH [--batch N] [--threads N] [--max-seq N] (TEXT... | -): one JSON
 * array per text on stdout (with -, one text per stdin line); a timing line on stderr.
 * EMBEDDING_MAX_SEQ is the default of --max-seq. Returns the exit status (0, 1, 2 usage). */
int encoder_cli_embed(int argc, char **argv);

/* `model mktiny` for an encoder architecture (the arguments already parsed by the caller;
 * vocab_from must be NULL). Returns the exit status. */
int encoder_cli_mktiny(const char *arch, const char *out, uint32_t type, uint64_t seed,
                       const char *shape, const char *vocab_from);

/* One-line descriptions for ragd --help. Cannot fail. */
void encoder_cli_usage(void *file);

#endif
