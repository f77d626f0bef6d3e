/* quant_configure: the caller's RAGD_ISA and RAGD_VECTOR_BITS (its configuration, .env
 * included) are in force over the process environment's, and the width set before the table
 * is built is the one it is built with. Its own binary: the table is built once a process. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>

#include "engine/quant.h"

static void test_settings_over_environment(void **state)
{
    (void)state;
    setenv("RAGD_ISA", "avx512", 1);
    setenv("RAGD_VECTOR_BITS", "512", 1);
    enum quant_isa cpu = quant_best_isa();
    /* a width set before the table is built is the width it is built with */
    quant_configure("", "256");
    const struct quant_decode_choice *c = quant_decode_choice();
    if (cpu >= QUANT_ISA_AVX512) {
        assert_int_equal(c->bits, 256);
        assert_int_equal(c->why, QUANT_WHY_ENV);
        assert_int_equal(quant_traits(GGML_TYPE_Q8_0)->isa[QUANT_ISA_AVX512].dot_bits, 256);
    } else {
        assert_int_equal(c->why, QUANT_WHY_NO_AVX512);
    }
    /* the ISA cap: the setting over the environment's, then back to it */
    quant_configure("portable", NULL);
    assert_int_equal(quant_best_isa(), QUANT_ISA_PORTABLE);
    if (cpu >= QUANT_ISA_AVX2) {
        quant_configure("avx2", NULL);
        assert_int_equal(quant_best_isa(), QUANT_ISA_AVX2);
    }
    quant_configure(NULL, NULL);
    assert_int_equal(quant_best_isa(), cpu);
    setenv("RAGD_ISA", "portable", 1);
    assert_int_equal(quant_best_isa(), QUANT_ISA_PORTABLE);
    unsetenv("RAGD_ISA");
    unsetenv("RAGD_VECTOR_BITS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings_over_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
