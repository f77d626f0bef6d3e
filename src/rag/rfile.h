/* rfile.h - versioned, checksummed binary files for the retrieval indexes.
 *
 * Layout (little-endian):
 *   0   magic[8]        e.g. "RAGDBM25"
 *   8   u32 version     format version of the payload, checked by the caller
 *   12  u32 flags       reserved, 0
 *   16  u64 payload_len bytes after the header
 *   24  u32 payload_crc CRC-32 (IEEE) of the payload
 *   28  u32 header_crc  CRC-32 of bytes 0..28
 *   32  payload
 * A file is written to "<path>.tmp", flushed with fsync and renamed over <path>, so a
 * crash leaves either the old or the new file. A reader validates the header, the file
 * size and, when the payload has been consumed, its CRC; every get is bounds-checked
 * against payload_len, so a corrupt count cannot make the caller read past the end.
 *
 * Not thread-safe per handle; separate handles are independent. */
#ifndef RAGD_RAG_RFILE_H
#define RAGD_RAG_RFILE_H

#include <stddef.h>
#include <stdint.h>

#define RFILE_HEADER_SIZE 32

typedef struct rfile_writer rfile_writer_t;
typedef struct rfile_reader rfile_reader_t;

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32): crc = rfile_crc32(crc, p, n), starting
 * from 0. Cannot fail. */
uint32_t rfile_crc32(uint32_t crc, const void *p, size_t n);

/* Start writing path (through path.tmp). magic is 8 bytes. RAGD_EIO if the temporary file
 * cannot be created. On success *w must be finished with rfile_write_commit or
 * rfile_write_abort. */
int rfile_write_open(const char *path, const char magic[8], uint32_t version, rfile_writer_t **w);
/* Append bytes / a little-endian value. Errors are remembered and reported by commit. */
void rfile_put(rfile_writer_t *w, const void *p, size_t n);
void rfile_put_u32(rfile_writer_t *w, uint32_t v);
void rfile_put_u64(rfile_writer_t *w, uint64_t v);
void rfile_put_f32(rfile_writer_t *w, float v);
/* Finish: header, fsync, rename. Frees w in all cases. 0 or RAGD_EIO (path untouched). */
int rfile_write_commit(rfile_writer_t *w);
/* Drop the temporary file and free w; NULL is a no-op. */
void rfile_write_abort(rfile_writer_t *w);

/* Open path and check magic, header CRC and size. Returns RAGD_ENOTFOUND if the file does
 * not exist, RAGD_EIO if it cannot be read, RAGD_EFORMAT if it is not a valid file of this
 * magic. *version receives the payload version. */
int rfile_read_open(const char *path, const char magic[8], uint32_t *version, rfile_reader_t **r);
/* Open an in-memory image of a file (same checks); data must outlive the reader. */
int rfile_read_open_mem(const void *data, size_t len, const char magic[8], uint32_t *version,
                        rfile_reader_t **r);
/* Read exactly n bytes; RAGD_EFORMAT if fewer remain in the payload, RAGD_EIO on a read
 * error. After an error every later get fails too. */
int rfile_get(rfile_reader_t *r, void *p, size_t n);
int rfile_get_u32(rfile_reader_t *r, uint32_t *v);
int rfile_get_u64(rfile_reader_t *r, uint64_t *v);
int rfile_get_f32(rfile_reader_t *r, float *v);
/* Payload bytes not read yet. */
uint64_t rfile_remaining(const rfile_reader_t *r);
/* Check that the whole payload was read and its CRC matches: 0 or RAGD_EFORMAT. */
int rfile_read_finish(rfile_reader_t *r);
/* Close and free; NULL is a no-op. */
void rfile_read_close(rfile_reader_t *r);

#endif
