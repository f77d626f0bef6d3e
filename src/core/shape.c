/* shape.c - the shape notation (shape.h) compiled to JSON Schema by recursive descent. */
#include "core/shape.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

enum { MAX_DEPTH = 24 };

struct parser {
    const char *s, *end, *p;
    char *err;
    size_t errcap;
    int failed, depth;
};

static void fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct parser *ps, const char *fmt, ...)
{
    if (ps->failed) return;
    ps->failed = 1;
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->errcap, "%s at offset %d of \"%.*s\"", msg, (int)(ps->p - ps->s),
             (int)(ps->end - ps->s), ps->s);
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && isspace((unsigned char)*ps->p))
        ps->p++;
}

/* Consumes c (after spaces) if it is next. */
static int eat(struct parser *ps, char c)
{
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return 1;
    }
    return 0;
}

static int name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

/* Reads a name into buf; returns its length (0 when none is next). */
static size_t read_name(struct parser *ps, char *buf, size_t cap)
{
    skip_ws(ps);
    const char *q = ps->p;
    while (q < ps->end && name_char(*q))
        q++;
    size_t n = (size_t)(q - ps->p);
    if (n == 0 || n >= cap) {
        if (n) fail(ps, "name too long");
        return 0;
    }
    memcpy(buf, ps->p, n);
    buf[n] = '\0';
    ps->p = q;
    return n;
}

static json_t *parse_shape(struct parser *ps);

static json_t *type_schema(struct parser *ps, const char *t)
{
    static const struct {
        const char *name, *type;
    } types[] = {{"string", "string"}, {"int", "integer"}, {"number", "number"},
                 {"bool", "boolean"},  {"null", "null"},   {"object", "object"}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(t, types[i].name)) return json_pack("{s:s}", "type", types[i].type);
    if (!strcmp(t, "any")) return json_object();
    if (!strcmp(t, "binary")) return json_pack("{s:s, s:s}", "type", "string", "format", "binary");
    fail(ps, "unknown type '%s'", t);
    return NULL;
}

static json_t *parse_object(struct parser *ps)
{
    json_t *props = json_object(), *req = json_array(), *extra = NULL;
    int open = 0;
    if (!eat(ps, '}')) {
        do {
            skip_ws(ps);
            if (ps->end - ps->p >= 3 && !strncmp(ps->p, "...", 3)) {
                ps->p += 3;
                open = 1;
                break;
            }
            if (eat(ps, '*')) {
                if (!eat(ps, ':')) fail(ps, "':' expected after '*'");
                if (ps->failed) break;
                json_decref(extra);
                extra = parse_shape(ps);
                continue;
            }
            char name[64];
            if (!read_name(ps, name, sizeof name)) {
                fail(ps, "member name expected");
                break;
            }
            int optional = eat(ps, '?');
            if (!eat(ps, ':')) {
                fail(ps, "':' expected after '%s'", name);
                break;
            }
            if (json_object_get(props, name)) {
                fail(ps, "member '%s' twice", name);
                break;
            }
            json_t *v = parse_shape(ps);
            if (!v) break;
            json_object_set_new(props, name, v);
            if (!optional) json_array_append_new(req, json_string(name));
        } while (!ps->failed && eat(ps, ','));
        if (!ps->failed && !eat(ps, '}')) fail(ps, "'}' expected");
    }
    if (ps->failed) {
        json_decref(props);
        json_decref(req);
        json_decref(extra);
        return NULL;
    }
    json_t *o = json_pack("{s:s}", "type", "object");
    if (json_object_size(props))
        json_object_set_new(o, "properties", props);
    else
        json_decref(props);
    if (json_array_size(req))
        json_object_set_new(o, "required", req);
    else
        json_decref(req);
    if (extra)
        json_object_set_new(o, "additionalProperties", extra);
    else if (!open)
        json_object_set_new(o, "additionalProperties", json_false());
    return o;
}

static json_t *parse_alt(struct parser *ps)
{
    skip_ws(ps);
    if (ps->p >= ps->end) {
        fail(ps, "shape expected");
        return NULL;
    }
    char c = *ps->p;
    if (c == '{' || c == '[') {
        if (++ps->depth > MAX_DEPTH) {
            fail(ps, "nested too deeply");
            return NULL;
        }
        ps->p++;
        json_t *v;
        if (c == '{') {
            v = parse_object(ps);
        } else {
            json_t *items = parse_shape(ps);
            if (items && !eat(ps, ']')) fail(ps, "']' expected");
            v = ps->failed ? NULL : json_pack("{s:s, s:o}", "type", "array", "items", items);
            if (!v) json_decref(items);
        }
        ps->depth--;
        return v;
    }
    if (c == '\'') {
        const char *q = memchr(ps->p + 1, '\'', (size_t)(ps->end - ps->p - 1));
        if (!q) {
            fail(ps, "unterminated literal");
            return NULL;
        }
        json_t *v = json_pack("{s:[s%]}", "enum", ps->p + 1, (size_t)(q - ps->p - 1));
        ps->p = q + 1;
        return v;
    }
    if (c == '$') {
        ps->p++;
        char name[64], ref[96];
        if (!read_name(ps, name, sizeof name)) {
            fail(ps, "schema name expected after '$'");
            return NULL;
        }
        snprintf(ref, sizeof ref, "#/components/schemas/%s", name);
        return json_pack("{s:s}", "$ref", ref);
    }
    char t[32];
    if (!read_name(ps, t, sizeof t)) {
        fail(ps, "unexpected '%c'", c);
        return NULL;
    }
    return type_schema(ps, t);
}

/* A plain {"type": t} (nothing else), or {"enum": [...]}: the kinds that merge in a union. */
static int plain_type(json_t *s)
{
    return json_object_size(s) == 1 && json_is_string(json_object_get(s, "type"));
}
static int plain_enum(json_t *s)
{
    return json_object_size(s) == 1 && json_is_array(json_object_get(s, "enum"));
}

/* Joins alternatives: only types -> {"type": [...]}; only literals (and null) -> one enum;
 * anything else -> anyOf, with null folded into the rest where it can be. */
static json_t *join(json_t *alts)
{
    size_t n = json_array_size(alts), i;
    if (n == 1) {
        json_t *one = json_incref(json_array_get(alts, 0));
        json_decref(alts);
        return one;
    }
    int types = 1, enums = 1;
    json_t *a;
    json_array_foreach(alts, i, a)
    {
        int is_null =
            plain_type(a) && !strcmp(json_string_value(json_object_get(a, "type")), "null");
        if (!plain_type(a)) types = 0;
        if (!plain_enum(a) && !is_null) enums = 0;
    }
    json_t *out;
    if (types) {
        json_t *list = json_array();
        json_array_foreach(alts, i, a) json_array_append(list, json_object_get(a, "type"));
        out = json_pack("{s:o}", "type", list);
    } else if (enums) {
        json_t *list = json_array();
        json_array_foreach(alts, i, a)
        {
            json_t *e = json_object_get(a, "enum");
            if (e)
                json_array_extend(list, e);
            else
                json_array_append_new(list, json_null());
        }
        out = json_pack("{s:o}", "enum", list);
    } else {
        out = json_pack("{s:O}", "anyOf", alts);
    }
    json_decref(alts);
    return out;
}

static json_t *parse_shape(struct parser *ps)
{
    json_t *alts = json_array();
    do {
        json_t *a = parse_alt(ps);
        if (!a) break;
        json_array_append_new(alts, a);
    } while (eat(ps, '|'));
    if (ps->failed) {
        json_decref(alts);
        return NULL;
    }
    return join(alts);
}

int shape_schema(const char *text, size_t len, json_t **out, char *err, size_t errcap)
{
    struct parser ps = {.s = text, .end = text + len, .p = text, .err = err, .errcap = errcap};
    *out = NULL;
    json_t *s = parse_shape(&ps);
    skip_ws(&ps);
    if (s && ps.p < ps.end) fail(&ps, "unexpected '%c'", *ps.p);
    if (ps.failed) {
        json_decref(s);
        return RAGD_EFORMAT;
    }
    *out = s;
    return 0;
}
