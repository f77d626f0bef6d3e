/* shape.h - a compact notation for the JSON shapes of response bodies, compiled to JSON Schema
 * (draft 2020-12, as OpenAPI 3.1 uses it).
 *
 * Routes declare what they answer next to their handler in this notation (struct route's
 * `response`), and the OpenAPI document is built from it; the HTTP suite validates every
 * response it receives against that document, so a shape that drifts from the code fails a
 * test. Grammar:
 *
 *   shape  := alt ('|' alt)*                  any of the alternatives ("string|null")
 *   alt    := object | '[' shape ']' | 'literal' | $Name | type
 *   object := '{' [member (',' member)*] [',' '...'] '}'
 *   member := name ['?'] ':' shape            '?': the member may be absent
 *           | '*' ':' shape                   any other member names, with values of shape
 *   type   := string | int | number | bool | null | any | object | binary
 *
 * An object lists every member it may have unless it ends with "...". A 'literal' is a fixed
 * string; several of them joined with '|' are an enum. $Name refers to
 * #/components/schemas/Name. Spaces are free between tokens. */
#ifndef RAGD_SHAPE_H
#define RAGD_SHAPE_H

#include <jansson.h>
#include <stddef.h>

/* Compiles the shape in text[0..len) to a JSON Schema object. Returns 0 and *out (caller
 * json_decref()s), or RAGD_EFORMAT with a message in err (what is wrong and where). */
int shape_schema(const char *text, size_t len, json_t **out, char *err, size_t errcap);

#endif
