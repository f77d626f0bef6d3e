#include "llm/toolfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"

enum { MAX_FORCED_TOOLS = 16 };

static const char tools_head[] =
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
static const char tools_tail[] =
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": "
    "<function-name>, \"arguments\": <args-json-object>}\n</tool_call>";

/* ---- storage ---- */

static const char *keep(struct toolfmt *f, char *s)
{
    if (f->n_strs == f->cap_strs) {
        f->cap_strs = f->cap_strs ? f->cap_strs * 2 : 16;
        f->strs = xrealloc(f->strs, f->cap_strs * sizeof *f->strs);
    }
    f->strs[f->n_strs++] = s;
    return s;
}

struct parts {
    struct chatml_part *v;
    size_t n, cap;
};

static void part(struct parts *p, const char *text, int tmpl)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->v = xrealloc(p->v, p->cap * sizeof *p->v);
    }
    p->v[p->n++] = (struct chatml_part){text, tmpl};
}

/* Appends a message made of parts p (ownership of p->v moves to f). */
static void add_parts_msg(struct toolfmt *f, const char *role, struct parts *p)
{
    f->parts = xrealloc(f->parts, (f->n_parts_arrays + 1) * sizeof *f->parts);
    f->parts[f->n_parts_arrays++] = p->v;
    f->msgs[f->n_msgs++] =
        (struct chatml_msg){.role = role, .content = "", .parts = p->v, .n_parts = p->n};
}

void toolfmt_free(struct toolfmt *f)
{
    for (size_t i = 0; i < f->n_parts_arrays; i++)
        free(f->parts[i]);
    free(f->parts);
    for (size_t i = 0; i < f->n_strs; i++)
        free(f->strs[i]);
    free(f->strs);
    free(f->msgs);
    grammar_free(f->grammar);
    memset(f, 0, sizeof *f);
}

/* ---- rendering ---- */

static const char *fn_name(const json_t *tool)
{
    return json_string_value(json_object_get(json_object_get(tool, "function"), "name"));
}

/* The JSON text of an assistant call's arguments: a string is used as it is (OpenAI sends
 * them as JSON text), anything else is serialized. */
static const char *call_arguments(struct toolfmt *f, const json_t *fn)
{
    const json_t *a = json_object_get(fn, "arguments");
    if (json_is_string(a)) return json_string_value(a);
    if (!a) return "{}";
    return keep(f, json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY));
}

static void render(struct toolfmt *f, const struct prov_request *req, int with_tools)
{
    size_t n = req->n_messages;
    f->msgs = xcalloc(n + 1, sizeof *f->msgs);
    size_t i = 0;
    if (with_tools) {
        struct parts p = {0};
        if (n && !strcmp(req->messages[0].role, "system")) {
            part(&p, req->messages[0].content, 0);
            part(&p, "\n\n", 1);
            i = 1;
        }
        part(&p, tools_head, 1);
        size_t k;
        const json_t *tool;
        json_array_foreach((json_t *)req->tools, k, tool)
        {
            part(&p, "\n", 1);
            part(&p, keep(f, json_dumps(tool, JSON_ENCODE_ANY)), 0);
        }
        part(&p, tools_tail, 1);
        add_parts_msg(f, "system", &p);
    }
    for (; i < n; i++) {
        const struct prov_message *m = &req->messages[i];
        if (!strcmp(m->role, "tool")) {
            /* consecutive results make one user turn */
            struct parts p = {0};
            for (; i < n && !strcmp(req->messages[i].role, "tool"); i++) {
                part(&p, p.n ? "\n<tool_response>\n" : "<tool_response>\n", 1);
                part(&p, req->messages[i].content ? req->messages[i].content : "", 0);
                part(&p, "\n</tool_response>", 1);
            }
            i--;
            add_parts_msg(f, "user", &p);
        } else if (!strcmp(m->role, "assistant") && json_array_size(m->tool_calls)) {
            struct parts p = {0};
            const char *content = m->content ? m->content : "";
            part(&p, content, 0);
            size_t k;
            const json_t *call;
            json_array_foreach((json_t *)m->tool_calls, k, call)
            {
                const json_t *fn = json_object_get(call, "function");
                const char *name = json_string_value(json_object_get(fn, "name"));
                part(&p,
                     k || content[0] ? "\n<tool_call>\n{\"name\": \""
                                     : "<tool_call>\n{\"name\": \"",
                     1);
                part(&p, name ? name : "", 0);
                part(&p, "\", \"arguments\": ", 1);
                part(&p, call_arguments(f, fn), 0);
                part(&p, "}\n</tool_call>", 1);
            }
            add_parts_msg(f, "assistant", &p);
        } else {
            f->msgs[f->n_msgs++] = (struct chatml_msg){m->role, m->content ? m->content : ""};
        }
    }
}

/* ---- grammars ---- */

static int compile(struct toolfmt *f, const json_t *schema, const char *what, char *err,
                   size_t errcap)
{
    char why[256] = "";
    if (grammar_compile(schema, &f->grammar, why, sizeof why))
        return ragd_errf(err, errcap, RAGD_ENOTSUP, "%s: %s", what, why);
    return 0;
}

/* {"name": <const>, "arguments": <parameters>} for one tool. */
static json_t *call_schema(const json_t *tool)
{
    const json_t *params = json_object_get(json_object_get(tool, "function"), "parameters");
    json_t *args = params ? json_deep_copy(params) : json_pack("{s:s}", "type", "object");
    return json_pack("{s:s, s:{s:{s:s}, s:o}, s:[ss], s:b}", "type", "object", "properties", "name",
                     "const", fn_name(tool), "arguments", args, "required", "name", "arguments",
                     "additionalProperties", 0);
}

static int forced_grammar(struct toolfmt *f, const struct prov_request *req, const char *only,
                          char *err, size_t errcap)
{
    json_t *alts = json_array();
    size_t k;
    const json_t *tool;
    json_array_foreach((json_t *)req->tools, k, tool)
    {
        if (only && strcmp(only, fn_name(tool) ? fn_name(tool) : "")) continue;
        json_array_append_new(alts, call_schema(tool));
    }
    int rc = 0;
    if (!json_array_size(alts)) {
        rc = ragd_errf(err, errcap, RAGD_ENOTSUP,
                       "tool_choice names the function '%s', which "
                       "is not in tools",
                       only ? only : "");
    } else if (json_array_size(alts) > MAX_FORCED_TOOLS) {
        rc = ragd_errf(err, errcap, RAGD_ENOTSUP,
                       "tool_choice required works with at most %d tools on the local model",
                       MAX_FORCED_TOOLS);
    } else {
        json_t *schema = json_array_size(alts) == 1 ? json_incref(json_array_get(alts, 0))
                                                    : json_pack("{s:O}", "anyOf", alts);
        rc = compile(f, schema, "tools[].function.parameters", err, errcap);
        json_decref(schema);
    }
    json_decref(alts);
    return rc;
}

int toolfmt_prepare(const struct prov_request *req, struct toolfmt *f, char *err, size_t errcap)
{
    memset(f, 0, sizeof *f);
    const json_t *tc = req->tool_choice;
    int has_tools = json_array_size(req->tools) > 0;
    const char *choice = json_is_string(tc) ? json_string_value(tc) : tc ? "function" : "auto";
    const char *only = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
    if (tc && !json_is_null(tc) && !has_tools)
        return ragd_errf(err, errcap, RAGD_ENOTSUP, "tool_choice needs tools");
    int with_tools = has_tools && strcmp(choice, "none");
    render(f, req, with_tools);
    int rc = 0;
    if (with_tools && (!strcmp(choice, "required") || !strcmp(choice, "function"))) {
        f->mode = TOOLFMT_FORCED;
        f->prefill = "<tool_call>\n";
        rc = forced_grammar(f, req, !strcmp(choice, "function") ? (only ? only : "") : NULL, err,
                            errcap);
    } else {
        const json_t *rf = req->response_format;
        const char *type = json_string_value(json_object_get(rf, "type"));
        if (type && !strcmp(type, "json_object")) {
            f->mode = TOOLFMT_JSON;
            rc = compile(f, NULL, "response_format", err, errcap);
        } else if (type && !strcmp(type, "json_schema")) {
            f->mode = TOOLFMT_JSON;
            const json_t *schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
            rc = compile(f, schema, "response_format.json_schema.schema", err, errcap);
        } else if (with_tools) {
            f->mode = TOOLFMT_AUTO;
        }
    }
    if (rc) toolfmt_free(f);
    return rc;
}

/* ---- parsing calls back ---- */

static void new_call(struct prov_result *res, const char *name, const json_t *args)
{
    res->tool_calls = xrealloc(res->tool_calls, (res->n_tool_calls + 1) * sizeof *res->tool_calls);
    struct prov_tool_call *c = &res->tool_calls[res->n_tool_calls++];
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[24];
    rand_bytes(rnd, sizeof rnd);
    memcpy(c->id, "call_", 5);
    for (size_t i = 0; i < sizeof rnd; i++)
        c->id[5 + i] = alnum[rnd[i] % (sizeof alnum - 1)];
    c->id[5 + sizeof rnd] = 0;
    c->name = xstrdup(name);
    if (json_is_string(args))
        c->arguments = xstrdup(json_string_value(args));
    else if (args)
        c->arguments = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    else
        c->arguments = xstrdup("{}");
}

/* One call's JSON: 1 when it is {"name": string, "arguments": ...}. */
static int take_call(struct prov_result *res, const char *s, size_t n)
{
    json_t *j = json_loadb(s, n, 0, NULL);
    const char *name = json_string_value(json_object_get(j, "name"));
    int ok = json_is_object(j) && name && name[0];
    if (ok) new_call(res, name, json_object_get(j, "arguments"));
    json_decref(j);
    return ok;
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

void toolfmt_finish(const struct toolfmt *f, struct prov_result *res)
{
    if (!res->text) return;
    if (f->mode == TOOLFMT_FORCED) {
        if (take_call(res, res->text, strlen(res->text))) res->text[0] = 0;
        return;
    }
    if (f->mode != TOOLFMT_AUTO) return;
    static const char open[] = "<tool_call>", close[] = "</tool_call>";
    char *first = strstr(res->text, open);
    if (!first) return;
    for (const char *p = first; p && *p;) {
        const char *body = p + strlen(open);
        const char *end = strstr(body, close);
        size_t n = end ? (size_t)(end - body) : strlen(body);
        take_call(res, body, n);
        p = end ? strstr(end + strlen(close), open) : NULL;
    }
    if (!res->n_tool_calls) return;
    size_t len = (size_t)(first - res->text);
    while (len && is_space(res->text[len - 1]))
        len--;
    res->text[len] = 0;
}

size_t toolfmt_visible(enum toolfmt_mode mode, const char *text, size_t len)
{
    if (mode == TOOLFMT_FORCED) return 0;
    if (mode != TOOLFMT_AUTO) return len;
    static const char open[] = "<tool_call>";
    size_t k = sizeof open - 1;
    for (size_t i = 0; i + k <= len; i++)
        if (!memcmp(text + i, open, k)) return i;
    for (size_t h = k - 1; h > 0; h--)
        if (h <= len && !memcmp(text + len - h, open, h)) return len - h;
    return len;
}
