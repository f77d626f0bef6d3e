#include "engine/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mem.h"
#include "engine/quant.h"

#define GGUF_MAGIC "GGUF"
/* Nesting limit for arrays of arrays: real files use one level; deeper ones are hostile. */
#define MAX_NESTING 8

struct kv {
    char *key;
    struct gguf_value val;
};

struct gguf {
    const uint8_t *base;
    size_t size;
    int mapped; /* base is a mapping of map_len bytes at map (the file, or a private copy) */
    void *map;
    size_t map_len;
    uint32_t version;
    size_t alignment;
    size_t n_kv;
    struct kv *kvs;
    size_t n_tensors;
    struct gguf_tensor *tensors;
    /* Owner of every items[] array allocated while decoding nested values. */
    struct gguf_value **blocks;
    size_t n_blocks, cap_blocks;
};

/* ---- bounded cursor ---- */

struct cur {
    const uint8_t *p;
    size_t len, pos;
    char *err;
    size_t err_len;
};

static int fail(struct cur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct cur *c, const char *fmt, ...)
{
    if (c->err && c->err_len) {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(c->err, c->err_len, "gguf: ");
        if (n > 0 && (size_t)n < c->err_len) vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return RAGD_EFORMAT;
}

static int take(struct cur *c, size_t n, const uint8_t **out)
{
    if (n > c->len - c->pos)
        return fail(c, "truncated at byte %zu (need %zu more bytes, file has %zu)", c->pos, n,
                    c->len - c->pos);
    *out = c->p + c->pos;
    c->pos += n;
    return 0;
}

static int rd_u32(struct cur *c, uint32_t *v)
{
    const uint8_t *p = NULL;
    int rc = take(c, 4, &p);
    if (rc) return rc;
    memcpy(v, p, 4);
    return 0;
}

static int rd_u64(struct cur *c, uint64_t *v)
{
    const uint8_t *p = NULL;
    int rc = take(c, 8, &p);
    if (rc) return rc;
    memcpy(v, p, 8);
    return 0;
}

static int rd_str(struct cur *c, const char **s, size_t *len, uint32_t version)
{
    uint64_t n;
    int rc;
    if (version == 1) {
        uint32_t n32;
        rc = rd_u32(c, &n32);
        n = n32;
    } else {
        rc = rd_u64(c, &n);
    }
    if (rc) return rc;
    if (n > c->len - c->pos)
        return fail(c, "string of %llu bytes at byte %zu runs past the end of the file",
                    (unsigned long long)n, c->pos);
    const uint8_t *p = NULL;
    take(c, (size_t)n, &p);
    *s = (const char *)p;
    *len = (size_t)n;
    return 0;
}

static size_t type_size(enum gguf_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_BOOL:
        return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16:
        return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_FLOAT32:
        return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64:
    case GGUF_TYPE_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

const char *gguf_type_name(enum gguf_type t)
{
    static const char *names[] = {"u8",   "i8",  "u16",   "i16", "u32", "i32", "f32",
                                  "bool", "str", "array", "u64", "i64", "f64"};
    return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "?";
}

static void scalar_from_raw(struct gguf_value *v, enum gguf_type t, const uint8_t *p)
{
    v->type = t;
    switch (t) {
    case GGUF_TYPE_UINT8:
        v->v.u64 = p[0];
        break;
    case GGUF_TYPE_BOOL:
        v->v.u64 = p[0] != 0;
        break;
    case GGUF_TYPE_INT8:
        v->v.i64 = (int8_t)p[0];
        break;
    case GGUF_TYPE_UINT16: {
        uint16_t x;
        memcpy(&x, p, 2);
        v->v.u64 = x;
        break;
    }
    case GGUF_TYPE_INT16: {
        int16_t x;
        memcpy(&x, p, 2);
        v->v.i64 = x;
        break;
    }
    case GGUF_TYPE_UINT32: {
        uint32_t x;
        memcpy(&x, p, 4);
        v->v.u64 = x;
        break;
    }
    case GGUF_TYPE_INT32: {
        int32_t x;
        memcpy(&x, p, 4);
        v->v.i64 = x;
        break;
    }
    case GGUF_TYPE_FLOAT32: {
        float x;
        memcpy(&x, p, 4);
        v->v.f64 = x;
        break;
    }
    case GGUF_TYPE_UINT64: {
        uint64_t x;
        memcpy(&x, p, 8);
        v->v.u64 = x;
        break;
    }
    case GGUF_TYPE_INT64: {
        int64_t x;
        memcpy(&x, p, 8);
        v->v.i64 = x;
        break;
    }
    case GGUF_TYPE_FLOAT64: {
        double x;
        memcpy(&x, p, 8);
        v->v.f64 = x;
        break;
    }
    default:
        break;
    }
}

static struct gguf_value *new_items(gguf_t *g, uint64_t n)
{
    if (g->n_blocks == g->cap_blocks) {
        g->cap_blocks = g->cap_blocks ? 2 * g->cap_blocks : 16;
        g->blocks = xrealloc(g->blocks, g->cap_blocks * sizeof *g->blocks);
    }
    struct gguf_value *items = xcalloc(n ? (size_t)n : 1, sizeof *items);
    g->blocks[g->n_blocks++] = items;
    return items;
}

static int rd_value(gguf_t *g, struct cur *c, enum gguf_type t, struct gguf_value *v, int depth)
{
    int rc;
    if ((unsigned)t >= GGUF_TYPE_COUNT)
        return fail(c, "unknown value type %u at byte %zu", (unsigned)t, c->pos);
    v->type = t;
    size_t sz = type_size(t);
    if (sz) {
        const uint8_t *p = NULL;
        if ((rc = take(c, sz, &p))) return rc;
        scalar_from_raw(v, t, p);
        return 0;
    }
    if (t == GGUF_TYPE_STRING) return rd_str(c, &v->v.str.ptr, &v->v.str.len, g->version);
    /* array */
    if (depth >= MAX_NESTING) return fail(c, "arrays nested deeper than %d levels", MAX_NESTING);
    uint32_t et;
    uint64_t n;
    if ((rc = rd_u32(c, &et))) return rc;
    if (g->version == 1) {
        uint32_t n32;
        rc = rd_u32(c, &n32);
        n = n32;
    } else {
        rc = rd_u64(c, &n);
    }
    if (rc) return rc;
    if (et >= GGUF_TYPE_COUNT) return fail(c, "array of unknown type %u at byte %zu", et, c->pos);
    v->v.arr.elem_type = (enum gguf_type)et;
    v->v.arr.n = n;
    v->v.arr.raw = NULL;
    v->v.arr.items = NULL;
    size_t esz = type_size((enum gguf_type)et);
    size_t remaining = c->len - c->pos;
    if (esz) {
        if (n > remaining / esz)
            return fail(c, "array of %llu %s elements at byte %zu runs past the end of the file",
                        (unsigned long long)n, gguf_type_name((enum gguf_type)et), c->pos);
        const uint8_t *p = NULL;
        take(c, (size_t)n * esz, &p);
        v->v.arr.raw = p;
        return 0;
    }
    /* Each string or nested array takes at least 8 bytes: bounds n before allocating. */
    if (n > remaining / 8)
        return fail(c, "array of %llu elements at byte %zu cannot fit in the file",
                    (unsigned long long)n, c->pos);
    struct gguf_value *items = new_items(g, n);
    for (uint64_t i = 0; i < n; i++)
        if ((rc = rd_value(g, c, (enum gguf_type)et, &items[i], depth + 1))) return rc;
    v->v.arr.items = items;
    return 0;
}

static int parse(gguf_t *g, char *err, size_t err_len)
{
    struct cur c = {.p = g->base, .len = g->size, .err = err, .err_len = err_len};
    const uint8_t *magic = NULL;
    int rc;
    if (g->size < 4 || memcmp(g->base, GGUF_MAGIC, 4))
        return fail(&c, "not a GGUF file (bad magic)");
    take(&c, 4, &magic);
    if ((rc = rd_u32(&c, &g->version))) return rc;
    if (g->version < 2 || g->version > 3)
        return fail(&c, "unsupported GGUF version %u (supported: 2, 3)", g->version);
    uint64_t n_tensors, n_kv;
    if ((rc = rd_u64(&c, &n_tensors)) || (rc = rd_u64(&c, &n_kv))) return rc;
    /* A key/value needs >= 12 bytes, a tensor info >= 24: reject absurd counts up front. */
    if (n_kv > (g->size - c.pos) / 12)
        return fail(&c, "header claims %llu key/values, more than the file can hold",
                    (unsigned long long)n_kv);
    if (n_tensors > (g->size - c.pos) / 24)
        return fail(&c, "header claims %llu tensors, more than the file can hold",
                    (unsigned long long)n_tensors);
    g->kvs = xcalloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kvs);
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < n_kv; i++) {
        const char *k;
        size_t klen;
        uint32_t t;
        if ((rc = rd_str(&c, &k, &klen, g->version))) return rc;
        if (klen == 0 || memchr(k, 0, klen))
            return fail(&c, "key/value %llu has an empty or invalid key", (unsigned long long)i);
        struct kv *kv = &g->kvs[g->n_kv];
        kv->key = xstrndup(k, klen);
        g->n_kv++;
        for (size_t j = 0; j + 1 < g->n_kv; j++)
            if (!strcmp(g->kvs[j].key, kv->key)) return fail(&c, "duplicate key '%s'", kv->key);
        if ((rc = rd_u32(&c, &t))) return rc;
        if ((rc = rd_value(g, &c, (enum gguf_type)t, &kv->val, 0))) return rc;
        if (!strcmp(kv->key, "general.alignment")) {
            if (kv->val.type != GGUF_TYPE_UINT32)
                return fail(&c, "general.alignment must be a u32");
            uint64_t a = kv->val.v.u64;
            if (a == 0 || (a & (a - 1)) || a > (1u << 20))
                return fail(&c, "general.alignment %llu is not a power of two <= 1 MiB",
                            (unsigned long long)a);
            g->alignment = (size_t)a;
        }
    }
    g->tensors = xcalloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    for (uint64_t i = 0; i < n_tensors; i++) {
        struct gguf_tensor *t = &g->tensors[i];
        const char *name;
        size_t nlen;
        if ((rc = rd_str(&c, &name, &nlen, g->version))) return rc;
        if (nlen == 0 || nlen > 256 || memchr(name, 0, nlen))
            return fail(&c, "tensor %llu has an empty, overlong or invalid name",
                        (unsigned long long)i);
        t->name = xstrndup(name, nlen);
        g->n_tensors++;
        for (size_t j = 0; j + 1 < g->n_tensors; j++)
            if (!strcmp(g->tensors[j].name, t->name))
                return fail(&c, "duplicate tensor '%s'", t->name);
        if ((rc = rd_u32(&c, &t->n_dims))) return rc;
        if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
            return fail(&c, "tensor '%s' has %u dimensions (1..4 allowed)", t->name, t->n_dims);
        uint64_t nelem = 1;
        for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
            uint64_t ne = 1;
            if (d < t->n_dims && (rc = rd_u64(&c, &ne))) return rc;
            if (ne == 0 || ne > ((uint64_t)1 << 40) || nelem > UINT64_MAX / ne ||
                nelem * ne > ((uint64_t)1 << 42))
                return fail(&c, "tensor '%s' has an invalid shape", t->name);
            nelem *= ne;
            t->ne[d] = (int64_t)ne;
        }
        if ((rc = rd_u32(&c, &t->type)) || (rc = rd_u64(&c, &t->offset))) return rc;
        const struct quant_type_info *ti = quant_type_info(t->type);
        if (!ti) return fail(&c, "tensor '%s' has unknown type %u", t->name, t->type);
        if (t->ne[0] % ti->block != 0)
            return fail(&c,
                        "tensor '%s': row length %lld is not a multiple of the %s block "
                        "size %zu",
                        t->name, (long long)t->ne[0], ti->name, ti->block);
        t->nbytes = (size_t)(nelem / ti->block * ti->block_bytes);
        if (t->offset % g->alignment)
            return fail(&c, "tensor '%s': offset %llu is not aligned to %zu", t->name,
                        (unsigned long long)t->offset, g->alignment);
    }
    size_t data_start = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (data_start > g->size && g->n_tensors) return fail(&c, "truncated before the tensor data");
    size_t data_len = data_start <= g->size ? g->size - data_start : 0;
    for (size_t i = 0; i < g->n_tensors; i++) {
        struct gguf_tensor *t = &g->tensors[i];
        if (t->offset > data_len || t->nbytes > data_len - t->offset)
            return fail(&c,
                        "tensor '%s' (%zu bytes at offset %llu) lies beyond the end of the "
                        "file (%zu data bytes)",
                        t->name, t->nbytes, (unsigned long long)t->offset, data_len);
        t->data = g->base + data_start + t->offset;
    }
    return 0;
}

static void free_parsed(gguf_t *g)
{
    for (size_t i = 0; i < g->n_kv; i++)
        free(g->kvs[i].key);
    free(g->kvs);
    for (size_t i = 0; i < g->n_tensors; i++)
        free((char *)g->tensors[i].name);
    free(g->tensors);
    for (size_t i = 0; i < g->n_blocks; i++)
        free(g->blocks[i]);
    free(g->blocks);
}

int gguf_open_mem(const void *data, size_t len, gguf_t **out, char *err, size_t err_len)
{
    gguf_t *g = xcalloc(1, sizeof *g);
    g->base = data;
    g->size = len;
    int rc = parse(g, err, err_len);
    if (rc) {
        free_parsed(g);
        free(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* Parses the size bytes at p, which lie in the mapping of map_len bytes at map; the gguf_t
 * then owns the mapping (unmapped here if parsing fails). */
static int open_owned(const uint8_t *p, size_t size, void *map, size_t map_len, gguf_t **out,
                      char *err, size_t err_len)
{
    gguf_t *g;
    int rc = gguf_open_mem(p, size, &g, err, err_len);
    if (rc) {
        munmap(map, map_len);
        return rc;
    }
    g->mapped = 1;
    g->map = map, g->map_len = map_len;
    *out = g;
    return 0;
}

int gguf_open(const char *path, gguf_t **out, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err) snprintf(err, err_len, "gguf: cannot open %s: %s", path, strerror(errno));
        return RAGD_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        if (err) snprintf(err, err_len, "gguf: %s is not a regular file", path);
        close(fd);
        return RAGD_EIO;
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        if (err) snprintf(err, err_len, "gguf: %s is empty", path);
        return RAGD_EFORMAT;
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        if (err) snprintf(err, err_len, "gguf: cannot map %s: %s", path, strerror(errno));
        return RAGD_EIO;
    }
    return open_owned(p, size, p, size, out, err, err_len);
}

/* 2 MiB: the huge page the private copy is aligned to */
#define HUGE_ALIGN ((size_t)2 << 20)

int gguf_open_resident(const char *path, gguf_t **out, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size == 0) {
        if (fd >= 0) close(fd);
        return gguf_open(path, out, err, err_len); /* its errors */
    }
    size_t size = (size_t)st.st_size, len = size + HUGE_ALIGN;
    uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        close(fd);
        return gguf_open(path, out, err, err_len);
    }
    uint8_t *p = (uint8_t *)(((uintptr_t)m + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
#ifdef MADV_HUGEPAGE
    (void)madvise(p, size, MADV_HUGEPAGE);
#endif
    size_t off = 0;
    while (off < size) {
        size_t want = size - off < HUGE_ALIGN * 16 ? size - off : HUGE_ALIGN * 16;
        ssize_t k = pread(fd, p + off, want, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        off += (size_t)k;
    }
    close(fd);
    if (off < size) { /* the file shrank or could not be read: map it as usual */
        munmap(m, len);
        return gguf_open(path, out, err, err_len);
    }
    (void)mprotect(m, len, PROT_READ); /* the weights are never written */
    return open_owned(p, size, m, len, out, err, err_len);
}

void gguf_close(gguf_t *g)
{
    if (!g) return;
    if (g->mapped) munmap(g->map, g->map_len);
    free_parsed(g);
    free(g);
}

void gguf_prefault(const gguf_t *g)
{
#ifdef MADV_POPULATE_READ
    if (g && g->mapped) (void)madvise((void *)g->base, g->size, MADV_POPULATE_READ);
#else
    (void)g;
#endif
}

uint32_t gguf_version(const gguf_t *g)
{
    return g->version;
}
size_t gguf_n_kv(const gguf_t *g)
{
    return g->n_kv;
}
const char *gguf_kv_key(const gguf_t *g, size_t i)
{
    return g->kvs[i].key;
}
const struct gguf_value *gguf_kv_value(const gguf_t *g, size_t i)
{
    return &g->kvs[i].val;
}
size_t gguf_n_tensors(const gguf_t *g)
{
    return g->n_tensors;
}
const struct gguf_tensor *gguf_tensor(const gguf_t *g, size_t i)
{
    return &g->tensors[i];
}

const struct gguf_value *gguf_get(const gguf_t *g, const char *key)
{
    for (size_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kvs[i].key, key)) return &g->kvs[i].val;
    return NULL;
}

const struct gguf_tensor *gguf_find_tensor(const gguf_t *g, const char *name)
{
    for (size_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

static int is_unsigned(enum gguf_type t)
{
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 ||
           t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_BOOL;
}

static int is_signed(enum gguf_type t)
{
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 ||
           t == GGUF_TYPE_INT64;
}

int gguf_get_i64(const gguf_t *g, const char *key, int64_t *out)
{
    const struct gguf_value *v = gguf_get(g, key);
    if (!v) return RAGD_ENOTFOUND;
    if (is_unsigned(v->type)) {
        if (v->v.u64 > INT64_MAX) return RAGD_EFORMAT;
        *out = (int64_t)v->v.u64;
        return 0;
    }
    if (is_signed(v->type)) {
        *out = v->v.i64;
        return 0;
    }
    return RAGD_EFORMAT;
}

int gguf_get_u64(const gguf_t *g, const char *key, uint64_t *out)
{
    int64_t x;
    const struct gguf_value *v = gguf_get(g, key);
    if (v && is_unsigned(v->type)) {
        *out = v->v.u64;
        return 0;
    }
    int rc = gguf_get_i64(g, key, &x);
    if (rc) return rc;
    if (x < 0) return RAGD_EFORMAT;
    *out = (uint64_t)x;
    return 0;
}

int gguf_get_u32(const gguf_t *g, const char *key, uint32_t *out)
{
    uint64_t x;
    int rc = gguf_get_u64(g, key, &x);
    if (rc) return rc;
    if (x > UINT32_MAX) return RAGD_EFORMAT;
    *out = (uint32_t)x;
    return 0;
}

int gguf_get_f32(const gguf_t *g, const char *key, float *out)
{
    const struct gguf_value *v = gguf_get(g, key);
    if (!v) return RAGD_ENOTFOUND;
    if (v->type == GGUF_TYPE_FLOAT32 || v->type == GGUF_TYPE_FLOAT64)
        *out = (float)v->v.f64;
    else if (is_unsigned(v->type))
        *out = (float)v->v.u64;
    else if (is_signed(v->type))
        *out = (float)v->v.i64;
    else
        return RAGD_EFORMAT;
    return 0;
}

int gguf_get_bool(const gguf_t *g, const char *key, int *out)
{
    const struct gguf_value *v = gguf_get(g, key);
    if (!v) return RAGD_ENOTFOUND;
    if (is_unsigned(v->type))
        *out = v->v.u64 != 0;
    else if (is_signed(v->type))
        *out = v->v.i64 != 0;
    else
        return RAGD_EFORMAT;
    return 0;
}

int gguf_get_str(const gguf_t *g, const char *key, char **out)
{
    const struct gguf_value *v = gguf_get(g, key);
    if (!v) return RAGD_ENOTFOUND;
    if (v->type != GGUF_TYPE_STRING) return RAGD_EFORMAT;
    *out = xstrndup(v->v.str.ptr, v->v.str.len);
    return 0;
}

int gguf_get_arr(const gguf_t *g, const char *key, const struct gguf_value **out)
{
    const struct gguf_value *v = gguf_get(g, key);
    if (!v) return RAGD_ENOTFOUND;
    if (v->type != GGUF_TYPE_ARRAY) return RAGD_EFORMAT;
    *out = v;
    return 0;
}

static void arr_elem(const struct gguf_value *arr, uint64_t i, struct gguf_value *e)
{
    size_t esz = type_size(arr->v.arr.elem_type);
    scalar_from_raw(e, arr->v.arr.elem_type, (const uint8_t *)arr->v.arr.raw + i * esz);
}

double gguf_arr_f64(const struct gguf_value *arr, uint64_t i)
{
    struct gguf_value e = {0};
    arr_elem(arr, i, &e);
    if (e.type == GGUF_TYPE_FLOAT32 || e.type == GGUF_TYPE_FLOAT64) return e.v.f64;
    return is_signed(e.type) ? (double)e.v.i64 : (double)e.v.u64;
}

int64_t gguf_arr_i64(const struct gguf_value *arr, uint64_t i)
{
    struct gguf_value e = {0};
    arr_elem(arr, i, &e);
    if (e.type == GGUF_TYPE_FLOAT32 || e.type == GGUF_TYPE_FLOAT64) {
        /* A float outside int64_t's range (or NaN) has no integer value: saturate rather
         * than convert, which would be undefined behaviour. */
        double d = e.v.f64;
        if (d != d) return 0;
        if (d >= 9223372036854775807.0) return INT64_MAX;
        if (d <= -9223372036854775808.0) return INT64_MIN;
        return (int64_t)d;
    }
    return is_signed(e.type) ? e.v.i64 : (int64_t)e.v.u64;
}

static void print_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\t')
            fputs("\\t", f);
        else if (ch == '\r')
            fputs("\\r", f);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

void gguf_value_print(FILE *f, const struct gguf_value *v, size_t max_items)
{
    switch (v->type) {
    case GGUF_TYPE_STRING:
        print_str(f, v->v.str.ptr, v->v.str.len);
        return;
    case GGUF_TYPE_BOOL:
        fputs(v->v.u64 ? "true" : "false", f);
        return;
    case GGUF_TYPE_FLOAT32:
    case GGUF_TYPE_FLOAT64:
        fprintf(f, "%.9g", v->v.f64);
        return;
    case GGUF_TYPE_ARRAY: {
        fputc('[', f);
        uint64_t n = v->v.arr.n, shown = n < max_items ? n : max_items;
        for (uint64_t i = 0; i < shown; i++) {
            if (i) fputs(", ", f);
            if (v->v.arr.items) {
                gguf_value_print(f, &v->v.arr.items[i], max_items);
            } else {
                struct gguf_value e;
                arr_elem(v, i, &e);
                gguf_value_print(f, &e, max_items);
            }
        }
        if (shown < n)
            fprintf(f, "%s\"... %llu more\"", shown ? ", " : "", (unsigned long long)(n - shown));
        fputc(']', f);
        return;
    }
    default:
        if (is_signed(v->type))
            fprintf(f, "%lld", (long long)v->v.i64);
        else
            fprintf(f, "%llu", (unsigned long long)v->v.u64);
    }
}

/* ---- writer ---- */

struct wkv {
    char *key;
    uint8_t *bytes; /* the serialised type + value */
    size_t len;
};

struct wtensor {
    char *name;
    uint32_t type, n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    size_t nbytes;
    uint64_t offset;
};

struct gguf_writer {
    struct wkv *kvs;
    size_t n_kv, cap_kv;
    struct wtensor *tensors;
    size_t n_tensors, cap_tensors;
    FILE *f;
    size_t next;        /* tensor being written */
    size_t cur_written; /* its bytes written so far */
    int failed;
};

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = xrealloc(b->p, b->cap);
    }
    if (n) /* an empty array has no data pointer */
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_u32(struct buf *b, uint32_t v)
{
    buf_put(b, &v, 4);
}
static void buf_u64(struct buf *b, uint64_t v)
{
    buf_put(b, &v, 8);
}
static void buf_str(struct buf *b, const char *s, size_t n)
{
    buf_u64(b, n);
    buf_put(b, s, n);
}

gguf_writer_t *gguf_writer_create(void)
{
    return xcalloc(1, sizeof(gguf_writer_t));
}

void gguf_writer_free(gguf_writer_t *w)
{
    if (!w) return;
    if (w->f) fclose(w->f);
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].bytes);
    }
    free(w->kvs);
    for (size_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->tensors);
    free(w);
}

static void set_kv(gguf_writer_t *w, const char *key, struct buf *b)
{
    for (size_t i = 0; i < w->n_kv; i++) {
        if (!strcmp(w->kvs[i].key, key)) {
            free(w->kvs[i].bytes);
            w->kvs[i].bytes = b->p;
            w->kvs[i].len = b->len;
            return;
        }
    }
    if (w->n_kv == w->cap_kv) {
        w->cap_kv = w->cap_kv ? 2 * w->cap_kv : 32;
        w->kvs = xrealloc(w->kvs, w->cap_kv * sizeof *w->kvs);
    }
    w->kvs[w->n_kv++] = (struct wkv){xstrdup(key), b->p, b->len};
}

static void set_scalar(gguf_writer_t *w, const char *key, enum gguf_type t, const void *p)
{
    struct buf b = {0};
    buf_u32(&b, t);
    buf_put(&b, p, type_size(t));
    set_kv(w, key, &b);
}

void gguf_writer_set_u32(gguf_writer_t *w, const char *key, uint32_t v)
{
    set_scalar(w, key, GGUF_TYPE_UINT32, &v);
}

void gguf_writer_set_i32(gguf_writer_t *w, const char *key, int32_t v)
{
    set_scalar(w, key, GGUF_TYPE_INT32, &v);
}

void gguf_writer_set_f32(gguf_writer_t *w, const char *key, float v)
{
    set_scalar(w, key, GGUF_TYPE_FLOAT32, &v);
}

void gguf_writer_set_bool(gguf_writer_t *w, const char *key, int v)
{
    uint8_t b = v != 0;
    set_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

void gguf_writer_set_str(gguf_writer_t *w, const char *key, const char *s)
{
    struct buf b = {0};
    buf_u32(&b, GGUF_TYPE_STRING);
    buf_str(&b, s, strlen(s));
    set_kv(w, key, &b);
}

void gguf_writer_set_arr_str(gguf_writer_t *w, const char *key, const char *const *strs,
                             const size_t *lens, size_t n)
{
    struct buf b = {0};
    buf_u32(&b, GGUF_TYPE_ARRAY);
    buf_u32(&b, GGUF_TYPE_STRING);
    buf_u64(&b, n);
    for (size_t i = 0; i < n; i++)
        buf_str(&b, strs[i], lens[i]);
    set_kv(w, key, &b);
}

void gguf_writer_set_arr(gguf_writer_t *w, const char *key, enum gguf_type t, const void *data,
                         size_t n)
{
    struct buf b = {0};
    buf_u32(&b, GGUF_TYPE_ARRAY);
    buf_u32(&b, t);
    buf_u64(&b, n);
    buf_put(&b, data, n * type_size(t));
    set_kv(w, key, &b);
}

static void put_value(struct buf *b, const struct gguf_value *v, int with_type)
{
    if (with_type) buf_u32(b, v->type);
    size_t sz = type_size(v->type);
    if (sz) {
        uint8_t tmp[8];
        switch (v->type) {
        case GGUF_TYPE_FLOAT32: {
            float x = (float)v->v.f64;
            memcpy(tmp, &x, 4);
            break;
        }
        case GGUF_TYPE_FLOAT64:
            memcpy(tmp, &v->v.f64, 8);
            break;
        default:
            if (is_signed(v->type))
                memcpy(tmp, &v->v.i64, 8); /* little-endian: the low bytes come first */
            else
                memcpy(tmp, &v->v.u64, 8);
        }
        buf_put(b, tmp, sz);
        return;
    }
    if (v->type == GGUF_TYPE_STRING) {
        buf_str(b, v->v.str.ptr, v->v.str.len);
        return;
    }
    buf_u32(b, v->v.arr.elem_type);
    buf_u64(b, v->v.arr.n);
    if (v->v.arr.items) {
        for (uint64_t i = 0; i < v->v.arr.n; i++)
            put_value(b, &v->v.arr.items[i], 0);
    } else {
        buf_put(b, v->v.arr.raw, (size_t)v->v.arr.n * type_size(v->v.arr.elem_type));
    }
}

void gguf_writer_set_value(gguf_writer_t *w, const char *key, const struct gguf_value *v)
{
    struct buf b = {0};
    put_value(&b, v, 1);
    set_kv(w, key, &b);
}

int gguf_writer_add_tensor(gguf_writer_t *w, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne)
{
    const struct quant_type_info *ti = quant_type_info(type);
    if (!ti || n_dims < 1 || n_dims > GGUF_MAX_DIMS || ne[0] % (int64_t)ti->block)
        return RAGD_EINVAL;
    struct wtensor t = {.name = NULL, .type = type, .n_dims = n_dims};
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] <= 0) return RAGD_EINVAL;
        nelem *= (uint64_t)t.ne[d];
    }
    t.nbytes = (size_t)(nelem / ti->block * ti->block_bytes);
    uint64_t off = 0;
    if (w->n_tensors) {
        const struct wtensor *p = &w->tensors[w->n_tensors - 1];
        off = (p->offset + p->nbytes + GGUF_DEFAULT_ALIGNMENT - 1) / GGUF_DEFAULT_ALIGNMENT *
              GGUF_DEFAULT_ALIGNMENT;
    }
    t.offset = off;
    t.name = xstrdup(name);
    if (w->n_tensors == w->cap_tensors) {
        w->cap_tensors = w->cap_tensors ? 2 * w->cap_tensors : 64;
        w->tensors = xrealloc(w->tensors, w->cap_tensors * sizeof *w->tensors);
    }
    w->tensors[w->n_tensors++] = t;
    return 0;
}

static int pad_to(FILE *f, size_t align)
{
    long pos = ftell(f);
    if (pos < 0) return RAGD_EIO;
    static const uint8_t zeros[GGUF_DEFAULT_ALIGNMENT];
    size_t pad = (align - (size_t)pos % align) % align;
    return pad && fwrite(zeros, 1, pad, f) != pad ? RAGD_EIO : 0;
}

int gguf_writer_begin(gguf_writer_t *w, const char *path)
{
    struct buf b = {0};
    buf_put(&b, GGUF_MAGIC, 4);
    buf_u32(&b, 3);
    buf_u64(&b, w->n_tensors);
    buf_u64(&b, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        buf_str(&b, w->kvs[i].key, strlen(w->kvs[i].key));
        buf_put(&b, w->kvs[i].bytes, w->kvs[i].len);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        const struct wtensor *t = &w->tensors[i];
        buf_str(&b, t->name, strlen(t->name));
        buf_u32(&b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            buf_u64(&b, (uint64_t)t->ne[d]);
        buf_u32(&b, t->type);
        buf_u64(&b, t->offset);
    }
    w->f = fopen(path, "wb");
    if (!w->f) {
        free(b.p);
        return RAGD_EIO;
    }
    int rc = fwrite(b.p, 1, b.len, w->f) == b.len ? 0 : RAGD_EIO;
    free(b.p);
    if (!rc) rc = pad_to(w->f, GGUF_DEFAULT_ALIGNMENT);
    w->next = 0;
    w->cur_written = 0;
    return rc;
}

int gguf_writer_write_tensor(gguf_writer_t *w, const void *data, size_t nbytes)
{
    if (!w->f || w->next >= w->n_tensors || nbytes > w->tensors[w->next].nbytes - w->cur_written)
        return RAGD_EINVAL;
    if (fwrite(data, 1, nbytes, w->f) != nbytes) return RAGD_EIO;
    w->cur_written += nbytes;
    if (w->cur_written < w->tensors[w->next].nbytes) return 0;
    w->cur_written = 0;
    w->next++;
    return w->next < w->n_tensors ? pad_to(w->f, GGUF_DEFAULT_ALIGNMENT) : 0;
}

int gguf_writer_finish(gguf_writer_t *w)
{
    if (!w->f) return RAGD_EINVAL;
    int rc = w->next == w->n_tensors ? 0 : RAGD_EINVAL;
    if (fclose(w->f) && !rc) rc = RAGD_EIO;
    w->f = NULL;
    return rc;
}
