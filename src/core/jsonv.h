/* jsonv.h - parsing request bodies and validating them against field specs.
 *
 * Request bodies are parsed strictly: valid UTF-8, no NUL, bounded nesting depth, one
 * top-level object. Field specs double as the request schemas in /openapi.json. */
#ifndef RAGD_JSONV_H
#define RAGD_JSONV_H

#include <jansson.h>
#include <stddef.h>

enum jv_type { JV_STRING, JV_INT, JV_NUMBER, JV_BOOL, JV_OBJECT, JV_ARRAY, JV_ANY };

struct jv_field {
    const char *name;
    enum jv_type type;
    int required;
    double min, max; /* JV_STRING: length in characters; JV_INT/JV_NUMBER: value; JV_ARRAY:
                        items. min == max == 0 means unbounded. */
    int nullable;    /* JSON null accepted (treated as absent) */
    const char *const *choices; /* JV_STRING: NULL-terminated allowed values, or NULL */
    const char *description;
};

struct jv_schema {
    const struct jv_field *fields;
    int allow_unknown; /* unknown fields are an error unless set */
};

enum { JV_MAX_DEPTH = 32 };

/* Parses buf[0..len) as a JSON object. Returns 0 and *out (caller json_decref()s), or
 * RAGD_EFORMAT with a message in err (what is wrong and where). */
int jv_parse_object(const char *buf, size_t len, json_t **out, char *err, size_t errcap);

/* Checks obj against schema. Returns 0, or RAGD_EINVAL with *field naming the offending
 * field (a pointer into the schema or "body") and a message in err. */
int jv_validate(json_t *obj, const struct jv_schema *schema, const char **field, char *err,
                size_t errcap);

/* Convenience getters after validation: the value, or def when absent/null. The string
 * is owned by obj. */
const char *jv_str(json_t *obj, const char *name, const char *def);
long long jv_int(json_t *obj, const char *name, long long def);
double jv_num(json_t *obj, const char *name, double def);
int jv_bool(json_t *obj, const char *name, int def);

/* The JSON Schema (2020-12, as OpenAPI 3.1 uses it: a nullable field has "null" among its
 * types) for a field list, for the OpenAPI document. New reference. */
json_t *jv_schema_json(const struct jv_schema *schema);

#endif
