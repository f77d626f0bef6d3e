/* store_int.c - helpers shared by the store's modules. */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int store_rows_collect(db_rows_t *r, size_t elem_size, store_row_fn row,
                       store_rows_free_fn free_arr, void **out, size_t *n)
{
    return store_page_collect(r, elem_size, row, free_arr, -1, NULL, out, n);
}

int store_page_collect(db_rows_t *r, size_t elem_size, store_row_fn row,
                       store_rows_free_fn free_arr, int total_col, int64_t *total, void **out,
                       size_t *n)
{
    RAGD_ASSERT(elem_size > 0);
    char *arr = NULL;
    size_t cap = 0, k = 0;
    int more;
    if (total) *total = 0;
    while ((more = db_rows_next(r)) == 1) {
        if (k == cap) arr = xrealloc(arr, (cap = cap ? cap * 2 : 16) * elem_size);
        void *e = arr + k * elem_size;
        memset(e, 0, elem_size);
        row(r, e);
        if (total) *total = db_col_int(r, total_col);
        k++;
    }
    db_rows_free(r);
    if (more < 0) {
        if (free_arr)
            free_arr(arr, k);
        else
            free(arr);
        *out = NULL;
        *n = 0;
        return RAGD_EDB;
    }
    *out = arr;
    *n = k;
    return 0;
}

char *store_like_pattern(const char *s, const char *pre, const char *post)
{
    struct sbuf b;
    sb_init(&b);
    sb_adds(&b, pre);
    for (; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\') sb_add(&b, "\\", 1);
        sb_add(&b, s, 1);
    }
    sb_adds(&b, post);
    return sb_take(&b);
}
