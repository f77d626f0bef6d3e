/* libFuzzer target: loading corrupt BM25 and HNSW index files.
 *
 * Input byte 0 picks the index (even: BM25, odd: HNSW); bit 1 picks the mode: the rest is
 * either a whole file image (header, checksums and all), or only a payload that is wrapped
 * in a valid header with a correct CRC, so the fuzzer gets past the checksum and exercises
 * the structural checks. A load must fail cleanly or give an index that works: one more entry
 * goes in (under an id the file may already hold: that one is then taken out first, as a
 * second add of an id is refused) and is found.
 *
 * Build: clang -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc fuzz/rag_index_load.c
 * \
 *   src/rag/bm25.c src/rag/hnsw.c src/rag/rfile.c src/rag/idmap.c src/core/mem.c \
 *   src/core/error.c -lutf8proc -lm -pthread */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "rag/bm25.h"
#include "rag/hnsw.h"
#include "rag/rfile.h"

static unsigned char *wrap(const char magic[8], const uint8_t *p, size_t n, size_t *out_len)
{
    unsigned char *f = malloc(RFILE_HEADER_SIZE + n + 1);
    uint32_t version = 1, flags = 0, crc = rfile_crc32(0, p, n);
    uint64_t len = n;
    memcpy(f, magic, 8);
    memcpy(f + 8, &version, 4);
    memcpy(f + 12, &flags, 4);
    memcpy(f + 16, &len, 8);
    memcpy(f + 24, &crc, 4);
    uint32_t hc = rfile_crc32(0, f, 28);
    memcpy(f + 28, &hc, 4);
    memcpy(f + RFILE_HEADER_SIZE, p, n);
    *out_len = RFILE_HEADER_SIZE + n;
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    bool hnsw = data[0] & 1, wrapped = data[0] & 2;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    unsigned char *img = NULL;
    if (wrapped) {
        img = wrap(hnsw ? "RAGDHNSW" : "RAGDBM25", p, n, &n);
        p = img;
    }
    if (hnsw) {
        hnsw_t *h = NULL;
        if (hnsw_load_mem(p, n, &h) == 0) {
            uint32_t dim = hnsw_dim(h);
            float *v = calloc(dim, sizeof *v);
            v[0] = 1.0f;
            rag_hit_t hits[8];
            size_t nh;
            hnsw_search(h, v, 8, 0, NULL, NULL, hits, &nh);
            int rc = hnsw_insert(h, 0xFFFFFFFFFFull, v);
            if (rc == RAGD_EEXIST && !hnsw_delete(h, 0xFFFFFFFFFFull))
                rc = hnsw_insert(h, 0xFFFFFFFFFFull, v);
            if (rc) abort();
            hnsw_search(h, v, 8, 0, NULL, NULL, hits, &nh);
            if (nh == 0) abort(); /* the vector just inserted must be found */
            free(v);
            hnsw_free(h);
        } else if (h) {
            abort();
        }
    } else {
        bm25_t *b = NULL;
        if (bm25_load_mem(p, n, &b) == 0) {
            rag_hit_t hits[8];
            size_t nh;
            bm25_search(b, "a b c zz 1", 10, 8, NULL, NULL, hits, &nh);
            int rc = bm25_add(b, 0xFFFFFFFFFFull, "fuzzed token", 12);
            if (rc == RAGD_EEXIST && !bm25_remove(b, 0xFFFFFFFFFFull))
                rc = bm25_add(b, 0xFFFFFFFFFFull, "fuzzed token", 12);
            if (rc) abort();
            bm25_search(b, "fuzzed", 6, 8, NULL, NULL, hits, &nh);
            if (nh == 0) abort();
            bm25_remove(b, 0xFFFFFFFFFFull);
            bm25_free(b);
        } else if (b) {
            abort();
        }
    }
    free(img);
    return 0;
}
