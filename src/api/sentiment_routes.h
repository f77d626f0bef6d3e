/* sentiment_routes.h - POST /sentiment (src/api/sentiment.c). */
#ifndef RAGD_SENTIMENT_ROUTES_H
#define RAGD_SENTIMENT_ROUTES_H

#include "http/http.h"

extern const struct route sentiment_routes[];

#endif
