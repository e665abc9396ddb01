#include "top_level_utility.h"

#include "error_boundary.h"
#include "statement_count.h"

namespace bgupdate_pg {

// Parse, analyze, plan and run through a portal with isTopLevel = true, as
// exec_simple_query does (pg_cron's worker mode does the same).
// `msg` plays MessageContext's part: parse and plan trees must outlive the
// transactions that CREATE INDEX CONCURRENTLY commits and starts internally.
static void run_statements(const char* sql, const char* search_path, MemoryContext msg) {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    if (search_path)
        set_config_option("search_path", search_path, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
    pgstat_report_activity(STATE_RUNNING, sql);
    MemoryContext ctx = MemoryContextSwitchTo(msg);
    (void)ctx;
    List* parsetrees = pg_parse_query(sql);
    // One statement only: a second one (`...; BEGIN`) would run top-level too.
    if (list_length(parsetrees) != 1)
        ereport(ERROR, (errcode(ERRCODE_SYNTAX_ERROR),
                        errmsg("bgupdate: refusing to run %d statements as one: %.200s", list_length(parsetrees), sql)));
    ListCell* lc;
    foreach (lc, parsetrees) {
        RawStmt* raw = lfirst_node(RawStmt, lc);
        bool snap = analyze_requires_snapshot(raw);
        if (snap) PushActiveSnapshot(GetTransactionSnapshot());
        List* queries = pg_analyze_and_rewrite_fixedparams(raw, sql, nullptr, 0, nullptr);
        List* plans = pg_plan_queries(queries, sql, CURSOR_OPT_PARALLEL_OK, nullptr);
        if (snap) PopActiveSnapshot();
        Portal portal = CreatePortal("", true, true);
        portal->visible = false;
        PortalDefineQuery(portal, nullptr, sql, CreateCommandTag(raw->stmt), plans, nullptr);
        PortalStart(portal, nullptr, 0, InvalidSnapshot);
        DestReceiver* dest = CreateDestReceiver(DestNone);
        QueryCompletion qc;
        InitializeQueryCompletion(&qc);
        (void)PortalRun(portal, FETCH_ALL, true, true, dest, dest, &qc);
        dest->rDestroy(dest);
        PortalDrop(portal, false);
        MemoryContextSwitchTo(msg);
    }
    CommitTransactionCommand();
    pgstat_report_activity(STATE_IDLE, nullptr);
}

void run_top_level(const char* sql, const char* search_path, std::string* failure, int* sqlerrcode) {
    MemoryContext ctx = CurrentMemoryContext;
    MemoryContext msg = AllocSetContextCreate(TopMemoryContext, "bgupdate top-level statement", ALLOCSET_DEFAULT_SIZES);
    char *message = nullptr, *detail = nullptr, *hint = nullptr;
    int code = 0;
    bool failed = false;
    PG_TRY();
    {
        run_statements(sql, search_path, msg);
    }
    PG_CATCH();
    {
        // ErrorContext copy first; the abort below frees transaction memory.
        MemoryContextSwitchTo(TopMemoryContext);
        capture_pg_error(TopMemoryContext, &message, &detail, &hint, &code);
        AbortCurrentTransaction();
        MemoryContextSwitchTo(ctx);
        failed = true;
    }
    PG_END_TRY();
    MemoryContextSwitchTo(ctx);
    MemoryContextDelete(msg);
    if (failed) {
        *failure = message ? message : "unknown error";
        if (detail) *failure += std::string(" (") + detail + ")";
        *sqlerrcode = code;
        pfree(message);
    }
}

}  // namespace bgupdate_pg
