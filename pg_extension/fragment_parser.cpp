// PostgreSQL's own parser for user SQL fragments and for the statements the
// core composes. Nothing here runs a statement:
//   - check_fragment: raw_parser on a probe statement around the fragment,
//     checking the parse tree's shape (one statement; a SELECT with only the
//     fragment as its WHERE, or an UPDATE with no WHERE, FROM, RETURNING or
//     WITH), then parse analysis of that probe (names and types resolve, a
//     condition is boolean, an index predicate is immutable) and the
//     caller's privileges on the table, as executing it would check them.
//   - require_one_statement: raw_parser count, so that a string holding a
//     second statement is refused before SPI (which would run them all) sees it.
#include "fragment_check.h"
#include "error_boundary.h"
#include "spi_engine.h"
#include "statement_count.h"

extern "C" {
#include "executor/executor.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "parser/parser.h"
}

namespace bgupdate_pg {

namespace {

// Why a parse tree is not the expected shape; nullptr when it is.
const char* shape_problem(bgupdate::FragmentKind kind, List* raw) {
    if (list_length(raw) != 1) return "it holds more than one statement";
    Node* stmt = linitial_node(RawStmt, raw)->stmt;
    if (kind == bgupdate::FragmentKind::SetList) {
        if (!IsA(stmt, UpdateStmt)) return "it is not a SET list";
        auto* u = reinterpret_cast<UpdateStmt*>(stmt);
        if (u->whereClause) return "it holds a WHERE clause";
        if (u->fromClause) return "it holds a FROM clause";
        if (u->returningList) return "it holds a RETURNING clause";
        if (u->withClause) return "it holds a WITH clause";
        if (list_length(u->targetList) < 1) return "it sets no column";
        return nullptr;
    }
    if (!IsA(stmt, SelectStmt)) return "it is not one condition";
    auto* s = reinterpret_cast<SelectStmt*>(stmt);
    if (s->op != SETOP_NONE || s->larg || s->rarg) return "it holds a UNION, INTERSECT or EXCEPT";
    if (!s->whereClause || list_length(s->fromClause) != 1 || list_length(s->targetList) != 1)
        return "it is not one condition";
    if (s->groupClause || s->havingClause || s->windowClause || s->sortClause || s->limitCount ||
        s->limitOffset || s->lockingClause || s->withClause || s->distinctClause || s->intoClause || s->valuesLists)
        return "it holds more than one condition";
    return nullptr;
}

}  // namespace

void SpiEngine::check_fragment(bgupdate::FragmentKind kind, const std::string& table, const std::string& fragment) {
    const std::string probe =
        kind == bgupdate::FragmentKind::SetList
            ? "UPDATE " + dialect_.table(table) + " SET " + bgupdate::compose_set_list(fragment)
            : "SELECT 1 FROM " + dialect_.table(table) + " WHERE " + bgupdate::compose_condition(fragment);
    const char* sql = probe.c_str();
    const char* problem = nullptr;
    bool mutable_predicate = false;
    try {
        pg_guard([&] {
            List* raw = raw_parser(sql, RAW_PARSE_DEFAULT);
            problem = shape_problem(kind, raw);
            if (problem) return;
            bool pushed = false;
            if (!ActiveSnapshotSet()) {
                PushActiveSnapshot(GetTransactionSnapshot());
                pushed = true;
            }
            Query* q = parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql, nullptr, 0, nullptr);
            // The privileges the statement will need (as executing it would check), without executing it.
            ExecCheckRTPerms(q->rtable, true);
            if (kind == bgupdate::FragmentKind::IndexPredicate && q->jointree && q->jointree->quals)
                mutable_predicate = contain_mutable_functions_after_planning(reinterpret_cast<Expr*>(q->jointree->quals));
            if (pushed) PopActiveSnapshot();
        });
    } catch (const bgupdate::Error&) {
        // Resources the parser held are released only by aborting the
        // (sub)transaction. Inside a batch (the check before every batch)
        // that is the batch's, which the runner then records as failed;
        // outside one (registration) nothing else may run in the caller's.
        if (in_batch_) after_error();
        else unusable_ = true;
        throw;
    }
    if (problem) throw bgupdate::Error(bgupdate::ErrorKind::BadInput, problem);
    if (mutable_predicate)
        throw bgupdate::Error(bgupdate::ErrorKind::BadInput,
                              "functions in an index predicate must be marked IMMUTABLE");
}

void require_one_statement(const char* sql) {
    MemoryContext parse = AllocSetContextCreate(CurrentMemoryContext, "bgupdate statement count", ALLOCSET_SMALL_SIZES);
    MemoryContext old = MemoryContextSwitchTo(parse);
    int n = list_length(raw_parser(sql, RAW_PARSE_DEFAULT));
    MemoryContextSwitchTo(old);
    MemoryContextDelete(parse);
    if (n != 1)
        ereport(ERROR, (errcode(ERRCODE_SYNTAX_ERROR),
                        errmsg("bgupdate: refusing to run %d statements as one: %.200s", n, sql)));
}

}  // namespace bgupdate_pg
