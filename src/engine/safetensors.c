#include "engine/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mem.h"

struct meta {
    char *key, *val;
};

struct safetensors {
    const uint8_t *base;
    size_t size;
    int mapped;
    size_t n_tensors;
    struct safetensors_tensor *tensors; /* sorted by data offset */
    size_t n_meta;
    struct meta *meta;
};

static const struct {
    const char *name;
    size_t size;
} dtypes[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1},       [ST_U8] = {"U8", 1},           [ST_I8] = {"I8", 1},
    [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_I16] = {"I16", 2},
    [ST_U16] = {"U16", 2},         [ST_F16] = {"F16", 2},         [ST_BF16] = {"BF16", 2},
    [ST_I32] = {"I32", 4},         [ST_U32] = {"U32", 4},         [ST_F32] = {"F32", 4},
    [ST_I64] = {"I64", 8},         [ST_U64] = {"U64", 8},         [ST_F64] = {"F64", 8},
};

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(err, err_len, "safetensors: ");
        if (n > 0 && (size_t)n < err_len) vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return RAGD_EFORMAT;
}

/* ---- parsing ---- */

static int parse_dtype(const char *s, enum st_dtype *out)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (!strcmp(s, dtypes[i].name)) {
            *out = (enum st_dtype)i;
            return 0;
        }
    return -1;
}

/* Reads one tensor entry; its data pointer is set once the data section is known. */
static int parse_tensor(const char *name, json_t *e, struct safetensors_tensor *t, uint64_t *begin,
                        uint64_t *end, char *err, size_t err_len)
{
    if (!json_is_object(e)) return fail(err, err_len, "entry '%s' is not an object", name);
    json_t *dt = json_object_get(e, "dtype"), *shape = json_object_get(e, "shape"),
           *offs = json_object_get(e, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(shape) || !json_is_array(offs))
        return fail(err, err_len, "tensor '%s' lacks dtype, shape or data_offsets", name);
    if (json_object_size(e) != 3) return fail(err, err_len, "tensor '%s' has unknown fields", name);
    if (parse_dtype(json_string_value(dt), &t->dtype))
        return fail(err, err_len, "tensor '%s' has unknown dtype '%s'", name,
                    json_string_value(dt));
    size_t nd = json_array_size(shape);
    if (nd > SAFETENSORS_MAX_DIMS)
        return fail(err, err_len, "tensor '%s' has %zu dimensions (at most %d)", name, nd,
                    SAFETENSORS_MAX_DIMS);
    t->n_dims = (uint32_t)nd;
    uint64_t n = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return fail(err, err_len, "tensor '%s' has an invalid shape", name);
        uint64_t v = (uint64_t)json_integer_value(d);
        if (v && n > (UINT64_MAX >> 4) / v)
            return fail(err, err_len, "tensor '%s' has too many elements", name);
        n *= v;
        t->shape[i] = (int64_t)v;
    }
    for (size_t i = nd; i < SAFETENSORS_MAX_DIMS; i++)
        t->shape[i] = 1;
    t->n_elems = (int64_t)n;
    json_t *b = json_array_get(offs, 0), *e1 = json_array_get(offs, 1);
    if (json_array_size(offs) != 2 || !json_is_integer(b) || !json_is_integer(e1) ||
        json_integer_value(b) < 0 || json_integer_value(e1) < json_integer_value(b))
        return fail(err, err_len, "tensor '%s' has invalid data_offsets", name);
    *begin = (uint64_t)json_integer_value(b);
    *end = (uint64_t)json_integer_value(e1);
    uint64_t want = n * dtypes[t->dtype].size;
    if (*end - *begin != want)
        return fail(err, err_len,
                    "tensor '%s': data_offsets span %llu bytes but shape x %s needs %llu", name,
                    (unsigned long long)(*end - *begin), dtypes[t->dtype].name,
                    (unsigned long long)want);
    t->nbytes = (size_t)want;
    t->name = xstrdup(name);
    return 0;
}

struct span {
    uint64_t begin, end;
    size_t idx;
};

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int parse_meta(safetensors_t *st, json_t *m, char *err, size_t err_len)
{
    if (!json_is_object(m)) return fail(err, err_len, "__metadata__ is not an object");
    st->meta = xcalloc(json_object_size(m) + 1, sizeof *st->meta);
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v)
    {
        if (!json_is_string(v))
            return fail(err, err_len, "__metadata__ value '%s' is not a string", k);
        st->meta[st->n_meta].key = xstrdup(k);
        st->meta[st->n_meta].val = xstrdup(json_string_value(v));
        st->n_meta++;
    }
    return 0;
}

static int parse(safetensors_t *st, char *err, size_t err_len)
{
    if (st->size < 8)
        return fail(err, err_len, "file of %zu bytes is too short for a header", st->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | st->base[i];
    if (hlen < 2 || hlen > SAFETENSORS_MAX_HEADER)
        return fail(err, err_len, "header length %llu is out of range (2..%u)",
                    (unsigned long long)hlen, SAFETENSORS_MAX_HEADER);
    if (hlen > st->size - 8)
        return fail(err, err_len, "truncated: header of %llu bytes but the file has %zu",
                    (unsigned long long)hlen, st->size - 8);
    const char *hdr = (const char *)st->base + 8;
    if (hdr[0] != '{') return fail(err, err_len, "header does not start with '{'");
    json_error_t je;
    json_t *root = json_loadb(hdr, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) return fail(err, err_len, "header JSON: %s (at byte %d)", je.text, je.position);
    int rc = 0;
    struct span *spans = NULL;
    if (!json_is_object(root)) {
        rc = fail(err, err_len, "header is not a JSON object");
        goto out;
    }
    size_t n = json_object_size(root);
    st->tensors = xcalloc(n + 1, sizeof *st->tensors);
    spans = xcalloc(n + 1, sizeof *spans);
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        if (!strcmp(k, "__metadata__")) {
            if ((rc = parse_meta(st, v, err, err_len))) goto out;
            continue;
        }
        struct span *sp = &spans[st->n_tensors];
        if ((rc = parse_tensor(k, v, &st->tensors[st->n_tensors], &sp->begin, &sp->end, err,
                               err_len)))
            goto out;
        sp->idx = st->n_tensors++;
    }
    const uint8_t *data = st->base + 8 + hlen;
    size_t data_len = st->size - 8 - (size_t)hlen;
    qsort(spans, st->n_tensors, sizeof *spans, cmp_span);
    uint64_t pos = 0;
    for (size_t i = 0; i < st->n_tensors; i++) {
        const char *name = st->tensors[spans[i].idx].name;
        if (spans[i].begin < pos) {
            rc = fail(err, err_len, "tensor '%s' overlaps another tensor", name);
            goto out;
        }
        if (spans[i].begin > pos) {
            rc = fail(err, err_len, "hole in the data section before tensor '%s'", name);
            goto out;
        }
        if (spans[i].end > data_len) {
            rc = fail(err, err_len,
                      "truncated: tensor '%s' ends at data byte %llu but the data section has "
                      "%zu bytes",
                      name, (unsigned long long)spans[i].end, data_len);
            goto out;
        }
        st->tensors[spans[i].idx].data = data + spans[i].begin;
        pos = spans[i].end;
    }
    if (pos != data_len) {
        rc = fail(err, err_len, "%llu bytes after the last tensor are not indexed",
                  (unsigned long long)(data_len - pos));
        goto out;
    }
    /* Publish in offset order. */
    struct safetensors_tensor *sorted = xcalloc(st->n_tensors + 1, sizeof *sorted);
    for (size_t i = 0; i < st->n_tensors; i++)
        sorted[i] = st->tensors[spans[i].idx];
    free(st->tensors);
    st->tensors = sorted;
out:
    free(spans);
    json_decref(root);
    return rc;
}

static void free_parsed(safetensors_t *st)
{
    for (size_t i = 0; i < st->n_tensors; i++)
        free((char *)st->tensors[i].name);
    free(st->tensors);
    for (size_t i = 0; i < st->n_meta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].val);
    }
    free(st->meta);
}

/* ---- open / close ---- */

int safetensors_open_mem(const void *data, size_t len, safetensors_t **out, char *err,
                         size_t err_len)
{
    safetensors_t *st = xcalloc(1, sizeof *st);
    st->base = data;
    st->size = len;
    int rc = parse(st, err, err_len);
    if (rc) {
        free_parsed(st);
        free(st);
        return rc;
    }
    *out = st;
    return 0;
}

int safetensors_open(const char *path, safetensors_t **out, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err) snprintf(err, err_len, "safetensors: cannot open %s: %s", path, strerror(errno));
        return RAGD_EIO;
    }
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        if (err) snprintf(err, err_len, "safetensors: %s is not a regular file", path);
        close(fd);
        return RAGD_EIO;
    }
    size_t size = (size_t)sb.st_size;
    if (size == 0) {
        close(fd);
        if (err) snprintf(err, err_len, "safetensors: %s is empty", path);
        return RAGD_EFORMAT;
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        if (err) snprintf(err, err_len, "safetensors: cannot map %s: %s", path, strerror(errno));
        return RAGD_EIO;
    }
    safetensors_t *st;
    int rc = safetensors_open_mem(p, size, &st, err, err_len);
    if (rc) {
        munmap(p, size);
        return rc;
    }
    st->mapped = 1;
    *out = st;
    return 0;
}

void safetensors_close(safetensors_t *st)
{
    if (!st) return;
    if (st->mapped) munmap((void *)st->base, st->size);
    free_parsed(st);
    free(st);
}

/* ---- accessors ---- */

size_t safetensors_n_tensors(const safetensors_t *st)
{
    return st->n_tensors;
}

const struct safetensors_tensor *safetensors_tensor(const safetensors_t *st, size_t i)
{
    return &st->tensors[i];
}

const struct safetensors_tensor *safetensors_find(const safetensors_t *st, const char *name)
{
    for (size_t i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

const char *safetensors_metadata(const safetensors_t *st, const char *key)
{
    for (size_t i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta[i].key, key)) return st->meta[i].val;
    return NULL;
}

/* ---- writer ---- */

struct safetensors_writer {
    json_t *header; /* tensor entries and __metadata__ */
    json_t *meta;
    uint64_t total, written;
    FILE *f;
};

safetensors_writer_t *safetensors_writer_create(void)
{
    safetensors_writer_t *w = xcalloc(1, sizeof *w);
    w->header = json_object();
    if (!w->header) panic("safetensors: out of memory");
    return w;
}

void safetensors_writer_free(safetensors_writer_t *w)
{
    if (!w) return;
    if (w->f) fclose(w->f);
    json_decref(w->header);
    json_decref(w->meta);
    free(w);
}

int safetensors_writer_add(safetensors_writer_t *w, const char *name, enum st_dtype dtype,
                           uint32_t n_dims, const int64_t *shape)
{
    if ((unsigned)dtype >= ST_DTYPE_COUNT || n_dims > SAFETENSORS_MAX_DIMS || w->f ||
        !strcmp(name, "__metadata__") || json_object_get(w->header, name))
        return RAGD_EINVAL;
    uint64_t n = 1;
    json_t *sh = json_array();
    for (uint32_t i = 0; i < n_dims; i++) {
        if (shape[i] < 0 || (shape[i] && n > (UINT64_MAX >> 4) / (uint64_t)shape[i])) {
            json_decref(sh);
            return RAGD_EINVAL;
        }
        n *= (uint64_t)shape[i];
        json_array_append_new(sh, json_integer(shape[i]));
    }
    uint64_t begin = w->total, end = begin + n * dtypes[dtype].size;
    json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", dtypes[dtype].name, "shape", sh,
                          "data_offsets", (json_int_t)begin, (json_int_t)end);
    if (!e) panic("safetensors: out of memory");
    json_object_set_new(w->header, name, e);
    w->total = end;
    return 0;
}

void safetensors_writer_meta(safetensors_writer_t *w, const char *key, const char *val)
{
    if (!w->meta) w->meta = json_object();
    json_object_set_new(w->meta, key, json_string(val));
}

int safetensors_writer_begin(safetensors_writer_t *w, const char *path)
{
    if (w->f) return RAGD_EINVAL;
    if (w->meta) json_object_set(w->header, "__metadata__", w->meta);
    char *hdr = json_dumps(w->header, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!hdr) panic("safetensors: out of memory");
    size_t len = strlen(hdr), padded = (len + 7) & ~(size_t)7;
    w->f = fopen(path, "wb");
    if (!w->f) {
        free(hdr);
        return RAGD_EIO;
    }
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++)
        lenb[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int ok = fwrite(lenb, 1, 8, w->f) == 8 && fwrite(hdr, 1, len, w->f) == len;
    for (size_t i = len; ok && i < padded; i++)
        ok = fputc(' ', w->f) != EOF;
    free(hdr);
    return ok ? 0 : RAGD_EIO;
}

int safetensors_writer_write(safetensors_writer_t *w, const void *data, size_t nbytes)
{
    if (!w->f || nbytes > w->total - w->written) return RAGD_EINVAL;
    if (nbytes && fwrite(data, 1, nbytes, w->f) != nbytes) return RAGD_EIO;
    w->written += nbytes;
    return 0;
}

int safetensors_writer_finish(safetensors_writer_t *w)
{
    if (!w->f || w->written != w->total) return RAGD_EINVAL;
    int rc = fclose(w->f) ? RAGD_EIO : 0;
    w->f = NULL;
    return rc;
}
