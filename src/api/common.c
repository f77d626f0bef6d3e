#include <stdarg.h>
#include <stdio.h>

#include "api/api.h"

void api_generation_busy(struct req *r)
{
    http_header(r, "Retry-After", "5");
    http_error(r, 503, "GENERATION_BUSY",
               "Every generation slot is busy and the queue is full; retry shortly");
}

void api_invalid(struct req *r, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_json(r, 422,
              json_pack("{s:s, s:s, s:s, s:s}", "detail", msg, "code", "VALIDATION_ERROR",
                        "field", field, "request_id", req_id(r)));
}
