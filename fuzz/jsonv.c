/* Fuzz target for request-body parsing: any bytes through jv_parse_object and, when they
 * parse, validation against a schema with every field type. Must never crash or leak. */
#include <stdint.h>
#include <stdlib.h>

#include "core/jsonv.h"

static const char *const choices[] = {"a", "b", NULL};
static const struct jv_field fields[] = {
    {"s", JV_STRING, 0, 1, 10, 1, NULL, NULL},   {"i", JV_INT, 0, -5, 5, 0, NULL, NULL},
    {"n", JV_NUMBER, 0, 0, 1, 0, NULL, NULL},    {"b", JV_BOOL, 0, 0, 0, 0, NULL, NULL},
    {"o", JV_OBJECT, 0, 0, 0, 0, NULL, NULL},    {"a", JV_ARRAY, 0, 0, 3, 0, NULL, NULL},
    {"c", JV_STRING, 0, 0, 0, 0, choices, NULL}, {NULL},
};
static const struct jv_schema strict = {fields, 0}, loose = {fields, 1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v = NULL;
    char err[256];
    if (jv_parse_object((const char *)data, size, &v, err, sizeof err)) return 0;
    const char *field;
    jv_validate(v, &strict, &field, err, sizeof err);
    jv_validate(v, &loose, &field, err, sizeof err);
    (void)jv_str(v, "s", NULL);
    (void)jv_int(v, "i", 0);
    json_decref(v);
    return 0;
}
