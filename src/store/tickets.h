/* tickets.h - the support desk's tickets and the sentiment trail of widget conversations.
 *
 * Same conventions as store.h: the calling thread's connection, 0 or a negative RAGD_E*
 * code; times named *_at are ISO-8601 UTC text, as in every other support table. */
#ifndef RAGD_STORE_TICKETS_H
#define RAGD_STORE_TICKETS_H

/* Registers the tickets tables (versions 410-429). Call before store_migrate(). */
void store_tickets_register(void);

#endif
