/* Unit tests for rag/vec_kernels: every kernel this CPU can run agrees with a double-precision
 * reference for lengths that exercise the main loop, the short loop and the tail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "rag/vec_kernels.c"

static uint64_t rs = 777;
static float frand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((rs >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void check(rag_dot_fn fn, const char *name)
{
    static const uint32_t lens[] = {0,  1,  3,  7,  8,   15,  16,  17,  31,
                                    33, 63, 64, 65, 100, 384, 768, 1023};
    float a[1024 + 1], b[1024 + 1];
    for (size_t t = 0; t < sizeof lens / sizeof *lens; t++) {
        uint32_t n = lens[t];
        /* offset by one float: the kernels must not assume alignment */
        for (uint32_t i = 0; i <= n; i++) {
            a[i] = frand();
            b[i] = frand();
        }
        double ref = 0, mag = 0;
        for (uint32_t i = 0; i < n; i++) {
            ref += (double)a[i + 1] * b[i + 1];
            mag += fabs((double)a[i + 1] * b[i + 1]);
        }
        float got = fn(a + 1, b + 1, n);
        if (!(fabs(got - ref) <= 1e-5 * (mag + 1)))
            fail_msg("%s n=%u: got %.8f, want %.8f", name, n, got, ref);
    }
}

static void test_portable(void **state)
{
    (void)state;
    check(dot_portable, "portable");
}

static void test_simd(void **state)
{
    (void)state;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) check(dot_avx2, "avx2");
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        check(dot_avx512, "avx512");
#endif
    check(rag_dot_kernel(), rag_dot_kernel_name());
}

static void test_choice(void **state)
{
    (void)state;
    const char *name = rag_dot_kernel_name();
    assert_true(!strcmp(name, "avx512") || !strcmp(name, "avx2") || !strcmp(name, "portable"));
    assert_non_null(rag_dot_kernel());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_portable),
        cmocka_unit_test(test_simd),
        cmocka_unit_test(test_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
