#include "core/jsonv.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"

/* Depth is checked before jansson sees the text so deep nesting cannot recurse deeply. */
static int depth_ok(const char *s, size_t n, size_t *where)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        else if (c == '{' || c == '[') {
            if (++depth > JV_MAX_DEPTH) {
                *where = i;
                return 0;
            }
        } else if (c == '}' || c == ']')
            depth--;
    }
    return 1;
}

int jv_parse_object(const char *buf, size_t len, json_t **out, char *err, size_t errcap)
{
    size_t where;
    if (len == 0) {
        snprintf(err, errcap, "request body is empty; a JSON object is required");
        return RAGD_EFORMAT;
    }
    if (!utf8_valid(buf, len)) {
        snprintf(err, errcap, "request body is not valid UTF-8");
        return RAGD_EFORMAT;
    }
    if (!depth_ok(buf, len, &where)) {
        snprintf(err, errcap, "JSON nesting deeper than %d at byte %zu", JV_MAX_DEPTH, where);
        return RAGD_EFORMAT;
    }
    json_error_t je;
    json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        snprintf(err, errcap, "malformed JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return RAGD_EFORMAT;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(err, errcap, "request body must be a JSON object");
        return RAGD_EFORMAT;
    }
    *out = v;
    return 0;
}

static const char *type_name(enum jv_type t)
{
    static const char *n[] = {"string", "integer", "number", "boolean", "object", "array", "any"};
    return n[t];
}

static int type_ok(json_t *v, enum jv_type t)
{
    switch (t) {
    case JV_STRING:
        return json_is_string(v);
    case JV_INT:
        return json_is_integer(v);
    case JV_NUMBER:
        return json_is_number(v);
    case JV_BOOL:
        return json_is_boolean(v);
    case JV_OBJECT:
        return json_is_object(v);
    case JV_ARRAY:
        return json_is_array(v);
    case JV_ANY:
        return 1;
    }
    return 0;
}

int jv_validate(json_t *obj, const struct jv_schema *schema, const char **field, char *err,
                size_t errcap)
{
    const char *key;
    json_t *v;
    if (!schema->allow_unknown) {
        json_object_foreach(obj, key, v)
        {
            const struct jv_field *f = schema->fields;
            while (f->name && strcmp(f->name, key))
                f++;
            if (!f->name) {
                *field = "body";
                snprintf(err, errcap, "unknown field '%.64s'", key);
                return RAGD_EINVAL;
            }
        }
    }
    for (const struct jv_field *f = schema->fields; f->name; f++) {
        *field = f->name;
        v = json_object_get(obj, f->name);
        if (!v || (json_is_null(v) && f->nullable)) {
            if (f->required) {
                snprintf(err, errcap, "field '%s' is required", f->name);
                return RAGD_EINVAL;
            }
            continue;
        }
        if (!type_ok(v, f->type)) {
            snprintf(err, errcap, "field '%s' must be of type %s", f->name, type_name(f->type));
            return RAGD_EINVAL;
        }
        int bounded = f->min != 0 || f->max != 0;
        if (f->type == JV_STRING) {
            size_t n = utf8_len(json_string_value(v), json_string_length(v));
            if (bounded && (n < f->min || n > f->max)) {
                snprintf(err, errcap, "field '%s' must be %g to %g characters long", f->name,
                         f->min, f->max);
                return RAGD_EINVAL;
            }
            if (f->choices) {
                const char *const *c = f->choices;
                while (*c && strcmp(*c, json_string_value(v)))
                    c++;
                if (!*c) {
                    snprintf(err, errcap, "field '%s' must be one of", f->name);
                    for (c = f->choices; *c; c++) {
                        size_t l = strlen(err);
                        snprintf(err + l, errcap - l, "%s %s", c == f->choices ? "" : ",", *c);
                    }
                    return RAGD_EINVAL;
                }
            }
        } else if ((f->type == JV_INT || f->type == JV_NUMBER) && bounded) {
            double x = json_number_value(v);
            if (!isfinite(x) || x < f->min || x > f->max) {
                snprintf(err, errcap, "field '%s' must be between %g and %g", f->name, f->min,
                         f->max);
                return RAGD_EINVAL;
            }
        } else if (f->type == JV_ARRAY && bounded) {
            size_t n = json_array_size(v);
            if (n < f->min || n > f->max) {
                snprintf(err, errcap, "field '%s' must have %g to %g items", f->name, f->min,
                         f->max);
                return RAGD_EINVAL;
            }
        }
    }
    return 0;
}

const char *jv_str(json_t *obj, const char *name, const char *def)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? json_string_value(v) : def;
}

long long jv_int(json_t *obj, const char *name, long long def)
{
    json_t *v = json_object_get(obj, name);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

double jv_num(json_t *obj, const char *name, double def)
{
    json_t *v = json_object_get(obj, name);
    return json_is_number(v) ? json_number_value(v) : def;
}

int jv_bool(json_t *obj, const char *name, int def)
{
    json_t *v = json_object_get(obj, name);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

json_t *jv_schema_json(const struct jv_schema *schema)
{
    json_t *props = json_object(), *req = json_array();
    for (const struct jv_field *f = schema->fields; f->name; f++) {
        json_t *p = json_object();
        json_object_set_new(p, "type", json_string(type_name(f->type)));
        if (f->type == JV_ANY) json_object_del(p, "type");
        int bounded = f->min != 0 || f->max != 0;
        if (bounded && f->type == JV_STRING) {
            json_object_set_new(p, "minLength", json_integer((json_int_t)f->min));
            json_object_set_new(p, "maxLength", json_integer((json_int_t)f->max));
        } else if (bounded && (f->type == JV_INT || f->type == JV_NUMBER)) {
            json_object_set_new(p, "minimum", json_real(f->min));
            json_object_set_new(p, "maximum", json_real(f->max));
        }
        /* JSON Schema 2020-12 (OpenAPI 3.1): null is one more type, or one more choice. */
        if (f->nullable && f->type != JV_ANY)
            json_object_set_new(p, "type", json_pack("[s, s]", type_name(f->type), "null"));
        if (f->choices) {
            json_t *e = json_array();
            for (const char *const *c = f->choices; *c; c++)
                json_array_append_new(e, json_string(*c));
            if (f->nullable) json_array_append_new(e, json_null());
            json_object_set_new(p, "enum", e);
        }
        if (f->description) json_object_set_new(p, "description", json_string(f->description));
        json_object_set_new(props, f->name, p);
        if (f->required) json_array_append_new(req, json_string(f->name));
    }
    json_t *s = json_pack("{s:s, s:o, s:b}", "type", "object", "properties", props,
                          "additionalProperties", schema->allow_unknown);
    if (json_array_size(req))
        json_object_set_new(s, "required", req);
    else
        json_decref(req);
    return s;
}
