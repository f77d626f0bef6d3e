/* The SQLite-to-PostgreSQL statement translation used by the PostgreSQL backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

char *db_pg_translate(const char *sql, int *nparams);

static void expect(const char *in, const char *out, int n)
{
    int got = -1;
    char *t = db_pg_translate(in, &got);
    assert_string_equal(t, out);
    assert_int_equal(got, n);
    free(t);
}

static void test_translation(void **state)
{
    (void)state;
    expect("SELECT a FROM t WHERE x = ? AND y = ?", "SELECT a FROM t WHERE x = $1 AND y = $2", 2);
    expect("SELECT '?' , ? FROM t", "SELECT '?' , $1 FROM t", 1);
    expect("SELECT 'it''s ?' FROM t WHERE a = ?", "SELECT 'it''s ?' FROM t WHERE a = $1", 1);
    expect("INSERT OR IGNORE INTO t(a) VALUES (?);",
           "INSERT INTO t(a) VALUES ($1) ON CONFLICT DO NOTHING", 1);
    expect("WHERE email LIKE lower(?)", "WHERE email ILIKE lower($1)", 1);
    expect("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER, v BLOB, r REAL,"
           " INTEGERS TEXT, likes INTEGER)",
           "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, n BIGINT, v BYTEA, r DOUBLE PRECISION,"
           " INTEGERS TEXT, likes BIGINT)",
           0);
    expect("BEGIN IMMEDIATE", "BEGIN; SELECT pg_advisory_xact_lock(727200)", 0);
    expect("ON CONFLICT(key) DO UPDATE SET value = excluded.value",
           "ON CONFLICT(key) DO UPDATE SET value = excluded.value", 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_translation)};
    return cmocka_run_group_tests_name("pg_translate", tests, NULL, NULL);
}
