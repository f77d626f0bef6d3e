/* Writes the rag_index_load seeds with ragd's own index writers: small BM25 and HNSW files,
 * each as a whole file image and as a payload to be wrapped in a valid header (the target's
 * first byte: bit 0 = HNSW, bit 1 = wrapped). Usage: make_index_seeds OUTDIR
 * (fuzz/seeds/generate.sh builds and runs it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag/bm25.h"
#include "rag/hnsw.h"
#include "rag/rfile.h"

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len);
    *n = fread(buf, 1, (size_t)len, f);
    fclose(f);
    return buf;
}

/* OUTDIR/name = mode byte + the file image (from offset skip on). */
static int emit(const char *dir, const char *name, unsigned char mode, const char *src, size_t skip)
{
    size_t n;
    unsigned char *img = slurp(src, &n);
    if (!img || n < skip) return 1;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    fputc(mode, f);
    fwrite(img + skip, 1, n - skip, f);
    free(img);
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_index_seeds OUTDIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char tmp[] = "/tmp/ragd-index-seeds-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) return 1;
    static const char *const docs[] = {"the harbour lighthouse keeps ships off the rocks",
                                       "a b c zz 1 codes like E11.9 and ABC-123",
                                       "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 words", NULL};
    bm25_t *b;
    if (bm25_create(NULL, &b)) return 1;
    for (int i = 0; docs[i]; i++)
        bm25_add(b, (uint64_t)i + 1, docs[i], strlen(docs[i]));
    bm25_remove(b, 2);
    int bad = bm25_save(b, tmp) || emit(dir, "bm25_file", 0x00, tmp, 0) ||
              emit(dir, "bm25_payload", 0x02, tmp, RFILE_HEADER_SIZE);
    bm25_free(b);

    hnsw_opts_t o;
    hnsw_opts_default(&o);
    o.dim = 4;
    o.M = 4;
    o.ef_construction = 8;
    hnsw_t *h;
    if (hnsw_create(&o, &h)) return 1;
    for (int i = 0; i < 12; i++) {
        float v[4] = {1.0f + (float)i, (float)(i % 3), (float)(i % 5) - 2.0f, 0.5f};
        hnsw_insert(h, (uint64_t)i + 1, v);
    }
    hnsw_delete(h, 3);
    bad |= hnsw_save(h, tmp) || emit(dir, "hnsw_file", 0x01, tmp, 0) ||
           emit(dir, "hnsw_payload", 0x03, tmp, RFILE_HEADER_SIZE);
    hnsw_free(h);
    remove(tmp);
    return bad;
}
