/* chunk.h - split extracted text into overlapping chunks for retrieval.
 *
 * Input is the text made by extract.h: blocks separated by a blank line, lines by "\n".
 * A chunk is a byte range of that text, so the caller copies text[start..end) and keeps
 * the offsets to point back into the document. Chunks never cut a UTF-8 sequence.
 *
 * Where a chunk ends, in order of preference:
 *   1. at a paragraph break (a blank line), if that keeps the chunk at least half full;
 *   2. at a sentence end ('.', '!', '?' or '…' followed by space, CJK full stops, or a line
 *      break) past a quarter of the size;
 *   3. at a space between words;
 *   4. anywhere on a character boundary (a word longer than the whole chunk).
 * The next chunk starts about `overlap` units before the previous end, moved forward to the
 * start of a sentence (or else of a word) inside that window, so context carries over
 * without starting mid-word. Leading/trailing whitespace is never part of a chunk.
 *
 * Sizes are counted in Unicode characters, or in approximate tokens where one token is
 * taken as 4 characters (the usual figure for English with BPE/WordPiece vocabularies).
 * Defaults: 512 tokens per chunk (2048 characters) with 50 tokens (200 characters) of
 * overlap, matching the seeds' 512-token encoder window.
 *
 * Pure functions; thread-safe. */
#ifndef RAGD_RAG_CHUNK_H
#define RAGD_RAG_CHUNK_H

#include <stddef.h>

typedef enum chunk_unit {
    CHUNK_TOKENS = 0, /* approximate tokens: 4 characters each */
    CHUNK_CHARS = 1,  /* Unicode characters (code points) */
} chunk_unit_t;

#define CHUNK_DEFAULT_SIZE 512
#define CHUNK_DEFAULT_OVERLAP 50
#define CHUNK_CHARS_PER_TOKEN 4

typedef struct chunk_opts {
    chunk_unit_t unit;
    size_t size;    /* maximum chunk size in `unit`; 0 = CHUNK_DEFAULT_SIZE tokens */
    size_t overlap; /* wanted overlap in `unit`; must be < size/2 (it is clamped) */
} chunk_opts_t;

typedef struct chunk {
    size_t position; /* 0, 1, 2, ... in document order */
    size_t start;    /* byte offset of the first byte in the text */
    size_t end;      /* byte offset one past the last byte */
    size_t chars;    /* Unicode characters in [start, end) */
    size_t tokens;   /* approximate tokens: ceil(chars / 4) */
} chunk_t;

/* Fill opts with the defaults (tokens, 512, 50). Cannot fail. */
void chunk_opts_default(chunk_opts_t *opts);

/* Split text[0..len) (valid UTF-8; invalid bytes are treated as one character each) into
 * chunks. opts may be NULL for the defaults. On success *out is a new array of *n chunks
 * (caller frees with free(); NULL when *n == 0, i.e. text is empty or only whitespace) and
 * 0 is returned. RAGD_EINVAL if size is below 16 characters (4 tokens). */
int chunk_split(const char *text, size_t len, const chunk_opts_t *opts, chunk_t **out, size_t *n);

#endif
