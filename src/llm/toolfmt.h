/* toolfmt.h - tool calling and structured output for the local engine, in Qwen3's format.
 *
 * The conversation is rendered as Qwen3's chat template does it: the tools' signatures in the
 * system turn inside <tools></tools>, a past assistant call as
 * <tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>, and consecutive tool results as
 * one user turn of <tool_response>...</tool_response> blocks. Text from the client (contents,
 * tool signatures, arguments, results) is plain text; only the template's markers may become
 * special tokens.
 *
 * Modes: free text; response_format json_object / json_schema (the reply is constrained by a
 * grammar); tools with tool_choice auto (free text, <tool_call> blocks in it are parsed back);
 * tool_choice required or a named function (the reply opens with "<tool_call>\n" and the call's
 * JSON is constrained by a schema built from the tools' parameters). tool_choice none renders
 * no tools. */
#ifndef RAGD_LLM_TOOLFMT_H
#define RAGD_LLM_TOOLFMT_H

#include <stddef.h>

#include "engine/chatml.h"
#include "engine/grammar.h"
#include "llm/provider.h"

enum toolfmt_mode { TOOLFMT_TEXT, TOOLFMT_JSON, TOOLFMT_AUTO, TOOLFMT_FORCED };

struct toolfmt {
    enum toolfmt_mode mode;
    struct chatml_msg *msgs; /* the rendered conversation [n_msgs] */
    size_t n_msgs;
    grammar_t *grammar;  /* constrained decoding, or NULL */
    const char *prefill; /* template text the reply starts with, or NULL */
    /* storage the messages point into */
    struct chatml_part **parts;
    size_t n_parts_arrays;
    char **strs;
    size_t n_strs, cap_strs;
};

/* Renders req's messages, tools, tool_choice and response_format. Returns 0 with *f filled
 * (toolfmt_free), or RAGD_ENOTSUP with a reason in err for what the local engine cannot
 * honour (an unsupported schema keyword, tool_choice naming an unknown function, tool_choice
 * without tools, more than 16 tools to choose from when a call is forced). */
int toolfmt_prepare(const struct prov_request *req, struct toolfmt *f, char *err, size_t errcap);
void toolfmt_free(struct toolfmt *f); /* cannot fail; a zeroed struct is fine */

/* After generation: in TOOLFMT_AUTO the <tool_call> blocks of res->text become
 * res->tool_calls and res->text keeps what came before them; in TOOLFMT_FORCED res->text is
 * the call's JSON and becomes one tool call (res->text then empty). A block that does not
 * parse stays text. Cannot fail. */
void toolfmt_finish(const struct toolfmt *f, struct prov_result *res);

/* Where the text a stream may show ends: in TOOLFMT_AUTO, before a "<tool_call>" or a
 * possible start of one at the end of text[0..len); in TOOLFMT_FORCED 0; else len. */
size_t toolfmt_visible(enum toolfmt_mode mode, const char *text, size_t len);

#endif
