/* notify_int.h - what notify.c and notify_worker.c share, and nothing else includes. */
#ifndef RAGD_OPS_NOTIFY_INT_H
#define RAGD_OPS_NOTIFY_INT_H

/* Wakes this node's delivery worker soon (an event was just written; its transaction may
 * still be open, so the worker waits a moment). A no-op when the worker is not running.
 * Cannot fail. */
void notify_kick(void);

#endif
