/* rfile.c - checksummed index files (see rfile.h for the layout). */
#include "rag/rfile.h"

#include "core/error.h"
#include "core/mem.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rfile stores values in host order and assumes a little-endian host"
#endif

/* ---- CRC-32 ---- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

uint32_t rfile_crc32(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const unsigned char *b = p;
    crc = ~crc;
    /* slicing-by-8: eight table lookups per 8 bytes */
    while (n >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, b, 4);
        memcpy(&hi, b + 4, 4);
        lo ^= crc;
        crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
              crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xFF] ^
              crc_table[2][(hi >> 8) & 0xFF] ^ crc_table[1][(hi >> 16) & 0xFF] ^
              crc_table[0][hi >> 24];
        b += 8;
        n -= 8;
    }
    while (n--)
        crc = crc_table[0][(crc ^ *b++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- writer ---- */

struct rfile_writer {
    FILE *f;
    char *path, *tmp;
    char magic[8];
    uint32_t version, crc;
    uint64_t len;
    bool failed;
};

int rfile_write_open(const char *path, const char magic[8], uint32_t version, rfile_writer_t **out)
{
    *out = NULL;
    rfile_writer_t *w = xcalloc(1, sizeof *w);
    w->path = xstrdup(path);
    w->tmp = xasprintf("%s.tmp", path);
    memcpy(w->magic, magic, 8);
    w->version = version;
    w->f = fopen(w->tmp, "wb");
    if (!w->f) {
        free(w->tmp);
        free(w->path);
        free(w);
        return RAGD_EIO;
    }
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    unsigned char zero[RFILE_HEADER_SIZE] = {0};
    if (fwrite(zero, 1, sizeof zero, w->f) != sizeof zero) w->failed = true;
    *out = w;
    return 0;
}

void rfile_put(rfile_writer_t *w, const void *p, size_t n)
{
    if (w->failed || n == 0) return;
    if (fwrite(p, 1, n, w->f) != n) {
        w->failed = true;
        return;
    }
    w->crc = rfile_crc32(w->crc, p, n);
    w->len += n;
}

void rfile_put_u32(rfile_writer_t *w, uint32_t v)
{
    rfile_put(w, &v, sizeof v);
}

void rfile_put_u64(rfile_writer_t *w, uint64_t v)
{
    rfile_put(w, &v, sizeof v);
}

void rfile_put_f32(rfile_writer_t *w, float v)
{
    rfile_put(w, &v, sizeof v);
}

static void make_header(unsigned char h[RFILE_HEADER_SIZE], const char magic[8], uint32_t version,
                        uint64_t len, uint32_t crc)
{
    uint32_t flags = 0;
    memcpy(h, magic, 8);
    memcpy(h + 8, &version, 4);
    memcpy(h + 12, &flags, 4);
    memcpy(h + 16, &len, 8);
    memcpy(h + 24, &crc, 4);
    uint32_t hc = rfile_crc32(0, h, 28);
    memcpy(h + 28, &hc, 4);
}

int rfile_write_commit(rfile_writer_t *w)
{
    unsigned char h[RFILE_HEADER_SIZE];
    make_header(h, w->magic, w->version, w->len, w->crc);
    bool ok = !w->failed && fflush(w->f) == 0 && fseek(w->f, 0, SEEK_SET) == 0 &&
              fwrite(h, 1, sizeof h, w->f) == sizeof h && fflush(w->f) == 0 &&
              fsync(fileno(w->f)) == 0;
    ok = (fclose(w->f) == 0) && ok;
    w->f = NULL;
    if (ok && rename(w->tmp, w->path) != 0) ok = false;
    if (!ok) unlink(w->tmp);
    free(w->tmp);
    free(w->path);
    free(w);
    return ok ? 0 : RAGD_EIO;
}

void rfile_write_abort(rfile_writer_t *w)
{
    if (!w) return;
    if (w->f) fclose(w->f);
    unlink(w->tmp);
    free(w->tmp);
    free(w->path);
    free(w);
}

/* ---- reader ---- */

struct rfile_reader {
    FILE *f;                  /* file source, or NULL */
    const unsigned char *mem; /* memory source */
    uint64_t len, pos;
    uint32_t crc, want_crc;
    int err;
};

static int parse_header(const unsigned char h[RFILE_HEADER_SIZE], const char magic[8],
                        uint64_t avail, uint32_t *version, uint64_t *len, uint32_t *crc)
{
    uint32_t hc;
    memcpy(&hc, h + 28, 4);
    if (memcmp(h, magic, 8) != 0 || rfile_crc32(0, h, 28) != hc) return RAGD_EFORMAT;
    memcpy(version, h + 8, 4);
    memcpy(len, h + 16, 8);
    memcpy(crc, h + 24, 4);
    return *len == avail ? 0 : RAGD_EFORMAT;
}

int rfile_read_open(const char *path, const char magic[8], uint32_t *version, rfile_reader_t **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? RAGD_ENOTFOUND : RAGD_EIO;
    struct stat st;
    unsigned char h[RFILE_HEADER_SIZE];
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return RAGD_EIO;
    }
    if ((uint64_t)st.st_size < RFILE_HEADER_SIZE || fread(h, 1, sizeof h, f) != sizeof h) {
        fclose(f);
        return RAGD_EFORMAT;
    }
    uint64_t len;
    uint32_t crc;
    int rc = parse_header(h, magic, (uint64_t)st.st_size - RFILE_HEADER_SIZE, version, &len, &crc);
    if (rc) {
        fclose(f);
        return rc;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    rfile_reader_t *r = xcalloc(1, sizeof *r);
    r->f = f;
    r->len = len;
    r->want_crc = crc;
    *out = r;
    return 0;
}

int rfile_read_open_mem(const void *data, size_t size, const char magic[8], uint32_t *version,
                        rfile_reader_t **out)
{
    *out = NULL;
    if (size < RFILE_HEADER_SIZE) return RAGD_EFORMAT;
    uint64_t len;
    uint32_t crc;
    int rc = parse_header(data, magic, size - RFILE_HEADER_SIZE, version, &len, &crc);
    if (rc) return rc;
    rfile_reader_t *r = xcalloc(1, sizeof *r);
    r->mem = (const unsigned char *)data + RFILE_HEADER_SIZE;
    r->len = len;
    r->want_crc = crc;
    *out = r;
    return 0;
}

int rfile_get(rfile_reader_t *r, void *p, size_t n)
{
    if (r->err) return r->err;
    if (n > r->len - r->pos) return r->err = RAGD_EFORMAT;
    if (n == 0) return 0;
    if (r->f) {
        if (fread(p, 1, n, r->f) != n) return r->err = ferror(r->f) ? RAGD_EIO : RAGD_EFORMAT;
    } else {
        memcpy(p, r->mem + r->pos, n);
    }
    r->crc = rfile_crc32(r->crc, p, n);
    r->pos += n;
    return 0;
}

int rfile_get_u32(rfile_reader_t *r, uint32_t *v)
{
    return rfile_get(r, v, sizeof *v);
}

int rfile_get_u64(rfile_reader_t *r, uint64_t *v)
{
    return rfile_get(r, v, sizeof *v);
}

int rfile_get_f32(rfile_reader_t *r, float *v)
{
    return rfile_get(r, v, sizeof *v);
}

uint64_t rfile_remaining(const rfile_reader_t *r)
{
    return r->len - r->pos;
}

int rfile_read_finish(rfile_reader_t *r)
{
    if (r->err) return r->err;
    if (r->pos != r->len || r->crc != r->want_crc) return RAGD_EFORMAT;
    return 0;
}

void rfile_read_close(rfile_reader_t *r)
{
    if (!r) return;
    if (r->f) fclose(r->f);
    free(r);
}
