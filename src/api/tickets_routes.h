/* tickets_routes.h - /tickets: the agents' ticket routes (src/api/tickets.c). */
#ifndef RAGD_TICKETS_ROUTES_H
#define RAGD_TICKETS_ROUTES_H

#include "http/http.h"

extern const struct route tickets_routes[];

#endif
