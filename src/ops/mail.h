/* mail.h - outgoing e-mail over SMTP (libcurl), sent on a worker thread of its own.
 *
 * Settings (read by mail_init): SMTP_HOST (unset or empty: mail is disabled), SMTP_PORT
 * (587; 465 means implicit TLS), SMTP_USER and SMTP_PASSWORD (optional login), SMTP_FROM
 * (the sender address, "ragd@localhost" when unset). STARTTLS is used whenever the server
 * offers it; connecting is bounded by 10 s and a whole delivery by 30 s.
 *
 * Delivery is best effort: a message that the server refuses, or that cannot be sent
 * before the timeouts, is logged (recipient, subject and the error; never the password or
 * the body, which may carry a secret token) and dropped. Operational notifications go
 * through the durable outbox of ops/notify.h instead, which sends with mail_send_sync and
 * retries until the server accepts. */
#ifndef RAGD_OPS_MAIL_H
#define RAGD_OPS_MAIL_H

#include <stddef.h>

/* Reads the settings above. Returns 0, or RAGD_EINVAL with a message in err (a bad
 * SMTP_PORT). Call once at start, before any mail_send. Starts no thread. */
int mail_init(char *err, size_t errcap);

/* 1 when SMTP_HOST is set, else 0. */
int mail_enabled(void);

/* Queues a plain-text (UTF-8) message for to and returns at once; the mail thread (started
 * on the first call) sends it. The arguments are copied. Returns 0, RAGD_EINVAL (mail
 * disabled, or to / subject empty or holding a line break or angle bracket), or
 * RAGD_ELIMIT when too many messages are waiting. Safe from any thread. */
int mail_send(const char *to, const char *subject, const char *body);

/* Sends one message now, on the calling thread, and returns when the server has accepted it
 * (0: its final answer to the message was 250) or refused it (RAGD_EIO, the reason in err:
 * libcurl's text, never the password). RAGD_EINVAL with a reason in err when mail is
 * disabled or to / subject are not header-safe (as for mail_send). Bounded by the
 * timeouts above. Safe from any thread. */
int mail_send_sync(const char *to, const char *subject, const char *body, char *err, size_t errcap);

/* Sends what is queued, then stops the mail thread. Safe when it never started; mail_send
 * may start it again afterwards. */
void mail_stop(void);

#endif
