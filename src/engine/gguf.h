/* gguf.h - GGUF (version 2 and 3) model files: a strict reader over an mmap'd file and a
 * streaming writer.
 *
 * Reader: gguf_open maps the file and validates all of it up front (header, every key/value
 * including nested arrays, the tensor table, alignment and that every tensor's bytes lie
 * inside the file), so that later accessors cannot read out of bounds. Values point into the
 * mapping: they stay valid until gguf_close. Only little-endian files are supported.
 *
 * Writer: declare key/values and tensors, then gguf_writer_begin writes the header and the
 * tensor table, and the tensors' bytes follow one by one in declaration order, so that files of
 * several GB are written without holding them in memory. */
#ifndef RAGD_GGUF_H
#define RAGD_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- metadata value types (numbering of the GGUF format) ---- */
enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
};

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

/* A decoded metadata value. Strings are not NUL-terminated. For arrays, `raw` points at the
 * packed little-endian elements of fixed-size types; arrays of strings and arrays of arrays
 * have `items` (n elements) instead. */
struct gguf_value {
    enum gguf_type type;
    union {
        uint64_t u64; /* UINT8/16/32/64, BOOL */
        int64_t i64;  /* INT8/16/32/64 */
        double f64;   /* FLOAT32/64 */
        struct {
            const char *ptr;
            size_t len;
        } str;
        struct {
            enum gguf_type elem_type;
            uint64_t n;
            const void *raw;                /* fixed-size element types */
            const struct gguf_value *items; /* STRING and ARRAY element types */
        } arr;
    } v;
};

struct gguf_tensor {
    const char *name; /* NUL-terminated copy owned by the gguf_t */
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the contiguous dimension; unused dims are 1 */
    uint32_t type;             /* ggml type id, see quant.h */
    uint64_t offset;           /* from the start of the data section */
    size_t nbytes;
    const void *data; /* inside the mapping */
};

typedef struct gguf gguf_t;

/* Opens and validates path. Returns 0 with *out (free with gguf_close), or RAGD_EIO (cannot
 * open/map), RAGD_EFORMAT (malformed: err receives a one-line reason when err != NULL). */
int gguf_open(const char *path, gguf_t **out, char *err, size_t err_len);

/* As gguf_open, but the file is read into private memory aligned to 2 MiB and marked for
 * transparent huge pages (where the kernel allows them) instead of being mapped: reading all
 * the weights, as every decoding step does, then walks far fewer page-table entries. Costs the
 * file's size in memory of this process alone (a mapping shares the page cache). Falls back to
 * gguf_open when that memory cannot be had or the file cannot be read whole. */
int gguf_open_resident(const char *path, gguf_t **out, char *err, size_t err_len);

/* The same over a caller-owned buffer, which must outlive the gguf_t (tests, fuzzing). */
int gguf_open_mem(const void *data, size_t len, gguf_t **out, char *err, size_t err_len);

void gguf_close(gguf_t *g); /* NULL is a no-op */
/* Asks the kernel to read a mapped file in and map all of its pages now, so that the first
 * forward pass does not stop on a page fault for every weight page it touches. A hint: a
 * kernel without MADV_POPULATE_READ, or a file not mapped, is left as it is. */
void gguf_prefault(const gguf_t *g);

uint32_t gguf_version(const gguf_t *g);
size_t gguf_n_kv(const gguf_t *g);
const char *gguf_kv_key(const gguf_t *g, size_t i); /* NUL-terminated, owned by g */
const struct gguf_value *gguf_kv_value(const gguf_t *g, size_t i);
/* The value of key, or NULL if absent. */
const struct gguf_value *gguf_get(const gguf_t *g, const char *key);

/* Typed getters. Return 0, RAGD_ENOTFOUND if the key is absent, or RAGD_EFORMAT if it has an
 * incompatible type or does not fit. Integers convert between widths when the value fits. */
int gguf_get_u64(const gguf_t *g, const char *key, uint64_t *out);
int gguf_get_u32(const gguf_t *g, const char *key, uint32_t *out);
int gguf_get_i64(const gguf_t *g, const char *key, int64_t *out);
int gguf_get_f32(const gguf_t *g, const char *key, float *out);
int gguf_get_bool(const gguf_t *g, const char *key, int *out);
/* *out is a NUL-terminated copy: caller frees with free(). */
int gguf_get_str(const gguf_t *g, const char *key, char **out);
/* An array value (any element type). */
int gguf_get_arr(const gguf_t *g, const char *key, const struct gguf_value **out);

/* Element i of a fixed-size numeric array as a double / int64 (i < n; cannot fail). */
double gguf_arr_f64(const struct gguf_value *arr, uint64_t i);
int64_t gguf_arr_i64(const struct gguf_value *arr, uint64_t i);

size_t gguf_n_tensors(const gguf_t *g);
const struct gguf_tensor *gguf_tensor(const gguf_t *g, size_t i);
const struct gguf_tensor *gguf_find_tensor(const gguf_t *g, const char *name); /* or NULL */

const char *gguf_type_name(enum gguf_type t);

/* Writes v as JSON-ish text (strings quoted and escaped, arrays longer than max_items
 * abbreviated) to f. Cannot fail. */
void gguf_value_print(FILE *f, const struct gguf_value *v, size_t max_items);

/* ---- writer ---- */

typedef struct gguf_writer gguf_writer_t;

gguf_writer_t *gguf_writer_create(void); /* never NULL */
void gguf_writer_free(gguf_writer_t *w); /* closes the file if open; NULL is a no-op */

/* Metadata. Strings and arrays are copied. Keys must be unique (a repeated key replaces). */
void gguf_writer_set_u32(gguf_writer_t *w, const char *key, uint32_t v);
void gguf_writer_set_i32(gguf_writer_t *w, const char *key, int32_t v);
void gguf_writer_set_f32(gguf_writer_t *w, const char *key, float v);
void gguf_writer_set_bool(gguf_writer_t *w, const char *key, int v);
void gguf_writer_set_str(gguf_writer_t *w, const char *key, const char *s);
/* An array of n strings (lens[i] bytes each). */
void gguf_writer_set_arr_str(gguf_writer_t *w, const char *key, const char *const *strs,
                             const size_t *lens, size_t n);
/* An array of n fixed-size elements of type t (packed little-endian in data). */
void gguf_writer_set_arr(gguf_writer_t *w, const char *key, enum gguf_type t, const void *data,
                         size_t n);
/* Copies any value (nested arrays included) from a reader. */
void gguf_writer_set_value(gguf_writer_t *w, const char *key, const struct gguf_value *v);

/* Declares the next tensor. Returns RAGD_EINVAL for a bad shape/type (ne[0] not a multiple of
 * the type's block size, unknown type, more than 4 dims). */
int gguf_writer_add_tensor(gguf_writer_t *w, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne);

/* Creates path and writes header, metadata and the tensor table. RAGD_EIO on failure. */
int gguf_writer_begin(gguf_writer_t *w, const char *path);
/* Appends bytes of the tensor being written (declaration order); a tensor may be written in
 * several calls. RAGD_EINVAL if nbytes exceeds what is left of it, RAGD_EIO on failure. */
int gguf_writer_write_tensor(gguf_writer_t *w, const void *data, size_t nbytes);
/* Checks that every tensor was written and closes the file. RAGD_EIO / RAGD_EINVAL. */
int gguf_writer_finish(gguf_writer_t *w);

#endif
