/* safetensors.h - a strict reader for Hugging Face .safetensors files over an mmap'd file.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON (an object mapping tensor
 * names to {"dtype", "shape", "data_offsets": [begin, end]}, plus an optional "__metadata__"
 * object of string values), then the data section. safetensors_open validates everything up
 * front: the header length, the JSON (duplicate keys rejected), every dtype and shape, that
 * each tensor's byte range equals its element count times the dtype size, lies inside the
 * data section, and that the ranges neither overlap nor leave holes (the format requires the
 * data section to be fully indexed). Accessors then cannot read out of bounds. Tensor data
 * points into the mapping and stays valid until safetensors_close. Little-endian only. */
#ifndef RAGD_SAFETENSORS_H
#define RAGD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

enum st_dtype {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_F8_E4M3,
    ST_F8_E5M2,
    ST_I16,
    ST_U16,
    ST_F16,
    ST_BF16,
    ST_I32,
    ST_U32,
    ST_F32,
    ST_I64,
    ST_U64,
    ST_F64,
    ST_DTYPE_COUNT
};

#define SAFETENSORS_MAX_DIMS 8
/* Largest header accepted (the reference implementation's limit). */
#define SAFETENSORS_MAX_HEADER (100u << 20)

struct safetensors_tensor {
    const char *name; /* NUL-terminated, owned by the safetensors_t */
    enum st_dtype dtype;
    uint32_t n_dims;                     /* 0 for a scalar */
    int64_t shape[SAFETENSORS_MAX_DIMS]; /* shape[0] is the outermost (slowest) dimension */
    int64_t n_elems;
    size_t nbytes;
    const void *data; /* inside the mapping; not necessarily aligned beyond the header's */
};

typedef struct safetensors safetensors_t;

/* Opens and validates path. Returns 0 with *out (free with safetensors_close), RAGD_EIO
 * (cannot open/map) or RAGD_EFORMAT (malformed: err receives a one-line reason when
 * err != NULL). */
int safetensors_open(const char *path, safetensors_t **out, char *err, size_t err_len);
/* The same over a caller-owned buffer, which must outlive the safetensors_t. */
int safetensors_open_mem(const void *data, size_t len, safetensors_t **out, char *err,
                         size_t err_len);
void safetensors_close(safetensors_t *st); /* NULL is a no-op */

size_t safetensors_n_tensors(const safetensors_t *st);
/* Tensors in the order of their data offsets (i < n; cannot fail). */
const struct safetensors_tensor *safetensors_tensor(const safetensors_t *st, size_t i);
/* The tensor called name, or NULL. */
const struct safetensors_tensor *safetensors_find(const safetensors_t *st, const char *name);
/* A "__metadata__" string value (NUL-terminated, owned by st), or NULL if absent. */
const char *safetensors_metadata(const safetensors_t *st, const char *key);

/* ---- writer ----
 * Declare the tensors, then safetensors_writer_begin writes the header (padded with spaces to
 * a multiple of 8 bytes, so that data stays 8-byte aligned) and the tensors' bytes follow in
 * declaration order, in as many calls as convenient. */

typedef struct safetensors_writer safetensors_writer_t;

safetensors_writer_t *safetensors_writer_create(void); /* never NULL */
void safetensors_writer_free(safetensors_writer_t *w); /* closes the file; NULL is a no-op */
/* Declares the next tensor (shape[0] outermost). RAGD_EINVAL for a bad dtype, shape or a
 * repeated name. */
int safetensors_writer_add(safetensors_writer_t *w, const char *name, enum st_dtype dtype,
                           uint32_t n_dims, const int64_t *shape);
/* Adds a "__metadata__" string pair (copied). */
void safetensors_writer_meta(safetensors_writer_t *w, const char *key, const char *val);
/* Creates path and writes the header. RAGD_EIO on failure. */
int safetensors_writer_begin(safetensors_writer_t *w, const char *path);
/* Appends bytes of the tensors in declaration order. RAGD_EINVAL past the last byte. */
int safetensors_writer_write(safetensors_writer_t *w, const void *data, size_t nbytes);
/* Checks that every byte was written and closes the file. RAGD_EINVAL / RAGD_EIO. */
int safetensors_writer_finish(safetensors_writer_t *w);

#endif
