/* tickets.c (api) - /tickets: the support desk's agents list, read, update and answer the
 * tickets that escalation opens (support/tickets.h).
 *
 * Access, the same way as the organization routes: every route needs a signed-in user
 * (widget credentials are refused by the auth guard). The members of a ticket's
 * organization whose organization role is owner, admin or agent may use it; a member with
 * the role member gets 403 ORG_PERMISSION_DENIED; anyone else gets 404 TICKET_NOT_FOUND
 * (a ticket's existence is not revealed). A platform admin whose role has tickets.manage
 * acts as an agent of every organization. GET /tickets lists the caller's organization's
 * tickets (a platform admin: every organization's, or one by organization_id); a user in
 * no organization gets 403 ORG_PERMISSION_DENIED. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/tickets_routes.h"
#include "auth/roles.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/tickets.h"
#include "support/orgs.h"
#include "support/tickets.h"

static const char *const statuses[] = {"open", "pending", "resolved", "closed", NULL};
static const char *const priorities[] = {"LOW", "MEDIUM", "HIGH", "URGENT", NULL};

static int in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; s && list[i]; i++)
        if (!strcmp(s, list[i])) return 1;
    return 0;
}

static int platform_agent(const struct user *u)
{
    return roles_allows(u->role, "tickets.manage");
}

static void denied(struct req *r, const char *role)
{
    http_error_json(r, 403, "ORG_PERMISSION_DENIED",
                    json_pack("{s:s, s:s, s:s}", "message",
                              "Your organization role does not allow working on tickets",
                              "required", "tickets.read", "role", role));
}

static void ticket_free(void *p)
{
    store_ticket_clear(p);
    free(p);
}

/* The ticket of the path if the caller may work on it, or an answer (404 / 403). The slot
 * owns it. */
static struct store_ticket *ticket_access(struct req *r)
{
    const struct user *u = api_user(r);
    const char *id = req_param(r, "id");
    struct store_ticket *t = xcalloc(1, sizeof *t);
    req_set_slot(r, SLOT_APP, t, ticket_free);
    int rc = uuid_valid(id) ? store_ticket_get(id, t) : RAGD_ENOTFOUND;
    char role[16] = "";
    if (!rc && !platform_agent(u)) rc = store_org_member_role(t->organization_id, u->id, role);
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "TICKET_NOT_FOUND", "No such ticket of your organization");
        return NULL;
    }
    if (rc) {
        http_store_error(r, rc);
        return NULL;
    }
    if (role[0] && !orgs_role_allows(role, "tickets.read")) {
        denied(r, role);
        return NULL;
    }
    return t;
}

/* ---- rendering ---- */

static json_t *opt(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static json_t *sla_json(const struct store_ticket *t, const struct tickets_rules *rules)
{
    struct tickets_sla s;
    tickets_sla_of(t, rules, time_now_ms(), &s);
    char a[32], b[32];
    return json_pack("{s:s, s:s, s:b, s:b}", "first_response_due_at",
                     time_iso(s.first_response_due_ms, a), "resolution_due_at",
                     time_iso(s.resolution_due_ms, b), "first_response_breached",
                     s.first_response_breached, "resolution_breached", s.resolution_breached);
}

static json_t *ticket_json(const struct store_ticket *t, const struct tickets_rules *rules)
{
    json_t *conv =
        json_pack("{s:s, s:s, s:o, s:s, s:o}", "id", t->conversation_id, "status", t->conv_status,
                  "contact_email", opt(t->contact_email), "visitor_id", t->visitor_id, "sentiment",
                  t->sentiment_label[0]
                      ? json_pack("{s:s, s:f, s:f, s:I}", "label", t->sentiment_label, "score",
                                  t->sentiment_score, "polarity", t->sentiment_polarity,
                                  "visitor_messages", (json_int_t)t->visitor_messages)
                      : json_null());
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:o, s:o, s:o,"
                     " s:o, s:o}",
                     "id", t->id, "conversation_id", t->conversation_id, "organization_id",
                     t->organization_id, "category", t->category, "status", t->status, "priority",
                     t->priority, "assigned_to", opt(t->assigned_to), "assignee_email",
                     opt(t->assignee_email), "subject", t->subject, "reason", t->reason,
                     "created_at", t->created_at, "updated_at", t->updated_at, "first_response_at",
                     opt(t->first_response_at), "resolved_at", opt(t->resolved_at), "closed_at",
                     opt(t->closed_at), "conversation", conv, "sla", sla_json(t, rules));
}

/* The rules of org_id, read once per organization of a list. */
struct rules_cache {
    char org[37];
    struct tickets_rules rules;
};

static const struct tickets_rules *rules_for(struct rules_cache *c, const char *org_id)
{
    if (strcmp(c->org, org_id)) {
        struct store_org o;
        int ok = !store_org_read(org_id, &o);
        tickets_rules_of(ok ? &o : NULL, &c->rules);
        if (ok) store_org_clear(&o);
        snprintf(c->org, sizeof c->org, "%s", org_id);
    }
    return &c->rules;
}

/* ---- GET /tickets ---- */

static void list(struct req *r)
{
    const struct user *u = api_user(r);
    const char *org = req_query(r, "organization_id");
    char role[16] = "";
    if (org && *org) {
        int rc = uuid_valid(org) ? store_org_member_role(org, u->id, role) : RAGD_ENOTFOUND;
        if (rc == RAGD_ENOTFOUND && uuid_valid(org) && platform_agent(u)) rc = 0;
        if (rc == RAGD_ENOTFOUND) {
            http_error(r, 404, "ORGANIZATION_NOT_FOUND", "No such organization of yours");
            return;
        }
        if (rc) {
            http_store_error(r, rc);
            return;
        }
    } else if (platform_agent(u)) {
        org = NULL; /* every organization */
    } else if (u->organization_id[0]) {
        org = u->organization_id;
        int rc = store_org_member_role(org, u->id, role);
        if (rc && rc != RAGD_ENOTFOUND) {
            http_store_error(r, rc);
            return;
        }
        if (rc) snprintf(role, sizeof role, "member");
    } else {
        http_error(r, 404, "NOT_IN_ORGANIZATION", "You belong to no organization");
        return;
    }
    if (platform_agent(u)) role[0] = '\0';
    if (role[0] && !orgs_role_allows(role, "tickets.read")) {
        denied(r, role);
        return;
    }

    struct store_ticket_filter f = {.org_id = org};
    f.status = req_query(r, "status");
    f.priority = req_query(r, "priority");
    f.category = req_query(r, "category");
    f.q = req_query(r, "q");
    const char *assignee = req_query(r, "assignee");
    if (f.status && !in_list(f.status, statuses)) {
        api_invalid(r, "status", "status is open, pending, resolved or closed");
        return;
    }
    if (f.priority && !in_list(f.priority, priorities)) {
        api_invalid(r, "priority", "priority is LOW, MEDIUM, HIGH or URGENT");
        return;
    }
    if (f.category && (!*f.category || strlen(f.category) > 80)) {
        api_invalid(r, "category", "category is 1 to 80 characters");
        return;
    }
    if (f.q && strlen(f.q) > 200) {
        api_invalid(r, "q", "q is at most 200 characters");
        return;
    }
    if (assignee) {
        if (!strcmp(assignee, "me"))
            f.assignee = u->id;
        else if (!strcmp(assignee, "none"))
            f.unassigned = 1;
        else if (uuid_valid(assignee))
            f.assignee = assignee;
        else {
            api_invalid(r, "assignee", "assignee is a user id, \"me\" or \"none\"");
            return;
        }
    }
    long long limit, offset;
    if (req_query_int(r, "limit", 50, 1, 200, &limit) ||
        req_query_int(r, "offset", 0, 0, 1000000, &offset))
        return;
    f.limit = limit;
    f.offset = offset;
    struct store_ticket *ts;
    size_t n;
    int64_t total;
    int rc = store_tickets_list(&f, &ts, &n, &total);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    struct rules_cache *cache = xcalloc(1, sizeof *cache);
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, ticket_json(&ts[i], rules_for(cache, ts[i].organization_id)));
    free(cache);
    store_tickets_free(ts, n);
    http_json(r, 200,
              json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)total, "limit",
                        (json_int_t)limit, "offset", (json_int_t)offset, "items", items));
}

/* ---- GET /tickets/{id} ---- */

static json_t *ticket_full(const struct store_ticket *t)
{
    struct tickets_rules rules;
    struct store_org o;
    int ok = !store_org_read(t->organization_id, &o);
    tickets_rules_of(ok ? &o : NULL, &rules);
    if (ok) store_org_clear(&o);
    json_t *out = ticket_json(t, &rules);
    struct store_tmsg *ms = NULL;
    size_t n = 0;
    json_t *transcript = json_array(), *trail = json_array(), *events = json_array();
    if (!store_ticket_transcript(t->conversation_id, &ms, &n)) {
        for (size_t i = 0; i < n; i++) {
            const struct store_tmsg *m = &ms[i];
            json_t *j = json_pack("{s:s, s:s, s:s, s:b, s:o, s:s}", "id", m->id, "role", m->role,
                                  "body", m->body, "internal", m->internal, "author_id",
                                  opt(m->author_id), "created_at", m->created_at);
            if (m->sentiment_label[0]) {
                json_t *sj = json_pack("{s:s, s:f, s:f, s:s}", "label", m->sentiment_label, "score",
                                       m->sentiment_score, "polarity", m->sentiment_polarity,
                                       "priority", m->sentiment_priority);
                json_object_set(j, "sentiment", sj);
                json_object_set_new(sj, "message_id", json_string(m->id));
                json_object_set_new(sj, "created_at", json_string(m->created_at));
                json_array_append_new(trail, sj);
            }
            if (!strcmp(m->role, "assistant")) {
                json_object_set_new(j, "confidence",
                                    m->confidence >= 0 ? json_real(m->confidence) : json_null());
                json_object_set_new(j, "feedback",
                                    m->feedback > 0   ? json_string("helpful")
                                    : m->feedback < 0 ? json_string("not_helpful")
                                                      : json_null());
                json_object_set_new(j, "tokens",
                                    m->tokens >= 0 ? json_integer(m->tokens) : json_null());
                json_object_set_new(j, "latency_ms",
                                    m->latency_ms >= 0 ? json_integer(m->latency_ms) : json_null());
            }
            json_array_append_new(transcript, j);
        }
        store_tmsgs_free(ms, n);
    }
    struct store_tevent *ev = NULL;
    if (!store_ticket_events(t->id, &ev, &n)) {
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                events, json_pack("{s:s, s:o, s:o, s:o, s:o, s:s}", "kind", ev[i].kind, "actor_id",
                                  opt(ev[i].actor_id), "from", opt(ev[i].from_value), "to",
                                  opt(ev[i].to_value), "detail", opt(ev[i].detail), "created_at",
                                  ev[i].created_at));
        store_tevents_free(ev, n);
    }
    json_object_set_new(out, "transcript", transcript);
    json_object_set_new(out, "sentiment_trail", trail);
    json_object_set_new(out, "events", events);
    return out;
}

static void get_one(struct req *r)
{
    struct store_ticket *t = ticket_access(r);
    if (t) http_json(r, 200, ticket_full(t));
}

/* ---- PATCH /tickets/{id} ---- */

static const struct jv_field patch_fields[] = {
    {"status", JV_STRING, 0, 0, 0, 0, statuses,
     "open, pending, resolved or closed (open -> pending | resolved | closed, pending -> open | "
     "resolved | closed, resolved -> open | closed, closed -> open)"},
    {"priority", JV_STRING, 0, 0, 0, 0, priorities, "LOW, MEDIUM, HIGH or URGENT"},
    {"assigned_to", JV_ANY, 0, 0, 0, 1, NULL,
     "A user id of an owner, admin or agent of the ticket's organization, \"me\", or null to "
     "unassign"},
    {NULL},
};
static const struct jv_schema patch_schema = {patch_fields, 0};

static void patch(struct req *r)
{
    struct store_ticket *t = ticket_access(r);
    if (!t) return;
    const struct user *u = api_user(r);
    json_t *b = req_json(r);
    const char *status = jv_str(b, "status", NULL), *priority = jv_str(b, "priority", NULL);
    json_t *av = json_object_get(b, "assigned_to");
    const char *assignee = NULL;
    if (av) {
        if (json_is_null(av)) {
            assignee = "";
        } else if (json_is_string(av)) {
            assignee = json_string_value(av);
            if (!strcmp(assignee, "me")) assignee = u->id;
            if (!uuid_valid(assignee) || !store_ticket_assignable(t->organization_id, assignee)) {
                api_invalid(r, "assigned_to",
                            "assigned_to must be an owner, admin or agent of the ticket's "
                            "organization");
                return;
            }
        } else {
            api_invalid(r, "assigned_to", "assigned_to is a user id, \"me\" or null");
            return;
        }
    }
    if (!status && !priority && !av) {
        api_invalid(r, "body", "give status, priority or assigned_to");
        return;
    }
    if (status && !tickets_transition_ok(t->status, status)) {
        http_error_json(r, 409, "INVALID_STATUS_TRANSITION",
                        json_pack("{s:s, s:s, s:s}", "message",
                                  "A ticket cannot go from this status to that one", "from",
                                  t->status, "to", status));
        return;
    }
    int rc =
        store_ticket_update(t->id, status ? t->status : NULL, status, priority, assignee, u->id);
    if (rc == RAGD_ECONFLICT) {
        http_error(r, 409, "TICKET_CHANGED", "The ticket changed meanwhile; read it again");
        return;
    }
    struct store_ticket fresh;
    if (!rc) rc = store_ticket_get(t->id, &fresh);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    api_audit(r, "ticket.update", "ticket", t->id, b);
    http_json(r, 200, ticket_full(&fresh));
    store_ticket_clear(&fresh);
}

/* ---- POST /tickets/{id}/messages ---- */

static const struct jv_field reply_fields[] = {
    {"body", JV_STRING, 1, 1, 10000, 0, NULL, "The reply"},
    {"internal", JV_BOOL, 0, 0, 0, 1, NULL,
     "true: a note for agents, never shown to the visitor (default false: a reply the visitor "
     "sees in the widget)"},
    {NULL},
};
static const struct jv_schema reply_schema = {reply_fields, 0};

static void reply(struct req *r)
{
    struct store_ticket *t = ticket_access(r);
    if (!t) return;
    json_t *b = req_json(r);
    int internal = jv_bool(b, "internal", 0);
    if (!strcmp(t->status, "closed") && !internal) {
        http_error(r, 409, "TICKET_CLOSED", "The ticket is closed: reopen it to reply");
        return;
    }
    char mid[37];
    int rc = store_ticket_reply(t->id, api_user(r)->id, jv_str(b, "body", ""), internal, mid);
    struct store_ticket fresh;
    if (!rc) rc = store_ticket_get(t->id, &fresh);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *d = json_pack("{s:s, s:b}", "message_id", mid, "internal", internal);
    api_audit(r, internal ? "ticket.note" : "ticket.reply", "ticket", t->id, d);
    json_decref(d);
    struct tickets_rules rules;
    struct store_org o;
    int ok = !store_org_read(fresh.organization_id, &o);
    tickets_rules_of(ok ? &o : NULL, &rules);
    if (ok) store_org_clear(&o);
    http_json(r, 201,
              json_pack("{s:s, s:s, s:b, s:s, s:o}", "id", mid, "ticket_id", t->id, "internal",
                        internal, "role", "agent", "ticket", ticket_json(&fresh, &rules)));
    store_ticket_clear(&fresh);
}

const struct route tickets_routes[] = {
    {.method = "GET",
     .pattern = "/tickets",
     .handler = list,
     .access = ACCESS_USER,
     .rate = "api",
     .tag = "tickets",
     .summary = "Tickets of your organization, newest first (owner, admin, agent); query: "
                "status, priority, assignee (a user id, me, none), category (keyword: every "
                "keyword:<word>), q (text in the subject or transcript), limit, offset, "
                "organization_id (platform admins)",
     .response_doc = "{total, limit, offset, items: [ticket with sla]}",
     .response = "{total: int, limit: int, offset: int, items: [$Ticket]}"},
    {.method = "GET",
     .pattern = "/tickets/{id}",
     .handler = get_one,
     .access = ACCESS_USER,
     .rate = "api",
     .tag = "tickets",
     .summary = "A ticket with its conversation's transcript (internal notes included), the "
                "sentiment trail, its history and its SLA",
     .response_doc = "{id, category, status, priority, assigned_to, ..., sla, transcript, "
                     "sentiment_trail, events}",
     .response = "$TicketDetail"},
    {.method = "PATCH",
     .pattern = "/tickets/{id}",
     .handler = patch,
     .access = ACCESS_USER,
     .rate = "api",
     .body = &patch_schema,
     .tag = "tickets",
     .summary = "Change a ticket's status (valid transitions only: 409 otherwise), priority "
                "or assignee",
     .response_doc = "the ticket, as GET returns it",
     .response = "$TicketDetail"},
    {.method = "POST",
     .pattern = "/tickets/{id}/messages",
     .handler = reply,
     .access = ACCESS_USER,
     .rate = "api",
     .body = &reply_schema,
     .tag = "tickets",
     .summary = "Reply to the visitor (shown in the widget's conversation; the first sets "
                "first_response_at) or add an internal note",
     .ok_status = 201,
     .response_doc = "{id, ticket_id, internal, role, ticket}",
     .response = "{id: string, ticket_id: string, internal: bool, role: 'agent', ticket: $Ticket}"},
    {NULL},
};
