/* tickets.c (store) - tickets and the sentiment trail (store/tickets.h). */
#include "store/tickets.h"

#include "store/store.h"

/* Version 410 is the schema the escalation, ticket and analytics code share:
 * - each widget message carries its sentiment (visitor messages), and the tokens and
 *   response time of an answer (assistant messages);
 * - each conversation carries its sentiment summary (the latest label and the mean score);
 * - a ticket is one escalation of one conversation, with its SLA timestamps. */
static const struct store_migration migrations[] = {
    {410, "support: message sentiment, answer cost, tickets",
     "ALTER TABLE widget_messages ADD COLUMN sentiment_label TEXT;"
     "ALTER TABLE widget_messages ADD COLUMN sentiment_score REAL;"
     "ALTER TABLE widget_messages ADD COLUMN sentiment_priority TEXT;"
     "ALTER TABLE widget_messages ADD COLUMN tokens INTEGER;"
     "ALTER TABLE widget_messages ADD COLUMN latency_ms INTEGER;"
     "ALTER TABLE widget_conversations ADD COLUMN sentiment_label TEXT;"
     "ALTER TABLE widget_conversations ADD COLUMN sentiment_score REAL;"
     "ALTER TABLE widget_conversations ADD COLUMN visitor_messages INTEGER NOT NULL DEFAULT 0;"
     "CREATE INDEX widget_messages_org_role ON widget_messages(org_id, role, created_at);"
     "CREATE INDEX widget_conversations_org_created ON widget_conversations(org_id, created_at);"
     "CREATE TABLE tickets ("
     " id TEXT PRIMARY KEY,"
     " conversation_id TEXT NOT NULL REFERENCES widget_conversations(id) ON DELETE CASCADE,"
     " organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
     " category TEXT NOT NULL,"
     " status TEXT NOT NULL DEFAULT 'open'"
     "  CHECK (status IN ('open', 'pending', 'resolved', 'closed')),"
     " priority TEXT NOT NULL CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'URGENT')),"
     " assigned_to TEXT REFERENCES users(id) ON DELETE SET NULL,"
     " subject TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',"
     " created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
     " first_response_at TEXT, resolved_at TEXT, closed_at TEXT);"
     "CREATE INDEX tickets_org_status ON tickets(organization_id, status, created_at);"
     "CREATE INDEX tickets_org_created ON tickets(organization_id, created_at);"
     "CREATE INDEX tickets_assignee ON tickets(assigned_to, status);"
     "CREATE INDEX tickets_conversation ON tickets(conversation_id);"},
};

void store_tickets_register(void)
{
    store_register_migrations(migrations, (int)(sizeof migrations / sizeof migrations[0]));
}
