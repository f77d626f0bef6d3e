/* analytics_routes.h - GET /analytics, an organization's support-desk analytics
 * (src/api/analytics.c). */
#ifndef RAGD_ANALYTICS_ROUTES_H
#define RAGD_ANALYTICS_ROUTES_H

#include "http/http.h"

extern const struct route analytics_routes[];

#endif
