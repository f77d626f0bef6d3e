/* mem.h - allocation policy.
 *
 * xmalloc and friends abort with a message when memory runs out: ragd cannot do useful
 * work without memory and a half-failed allocation path is a bug farm. Code that must
 * degrade instead (request bodies, KV cache growth) uses the try_ variants, which
 * return NULL.
 *
 * mem_fail_after() is the fault-injection hook for tests: after N more successful
 * try_ allocations, the next one fails. */
#ifndef RAGD_MEM_H
#define RAGD_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);               /* never NULL; caller frees with free() */
void *xcalloc(size_t count, size_t n); /* never NULL; zeroed */
void *xrealloc(void *p, size_t n);     /* never NULL */
char *xstrdup(const char *s);          /* never NULL; s must not be NULL */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *try_malloc(size_t n); /* NULL on failure (or injected failure) */
void *try_realloc(void *p, size_t n);

/* Tests only: make the (n+1)th try_ allocation from now fail; n < 0 disables. */
void mem_fail_after(long n);

/* Abort with a message: for states that cannot happen. Never returns. */
void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* RAGD_ASSERT(cond): an invariant that must hold. It stays on in every build (release
 * included), so keep cond cheap; a failure panics with the file, line and condition.
 * RAGD_DEBUG_ASSERT is for checks too costly for release builds (on unless NDEBUG). */
#define RAGD_ASSERT(cond)                                                                          \
    ((cond) ? (void)0 : panic("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__))
#ifdef NDEBUG
#define RAGD_DEBUG_ASSERT(cond) ((void)0)
#else
#define RAGD_DEBUG_ASSERT(cond) RAGD_ASSERT(cond)
#endif

#endif
