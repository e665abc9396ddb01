// Declarative backfill (GitLab batched migrations, pgroll): UPDATE the table
// over consecutive key ranges of batch_size rows, with an optional filter.
// Progress: {"lower_bound": [last key done]}.
#include "../dialect.h"
#include "../fragment_check.h"
#include "handler.h"
#include "keyset.h"

namespace bgupdate {
namespace {

class BatchedUpdateHandler : public Handler {
public:
    explicit BatchedUpdateHandler(const Json& spec)
        : table_(spec_string(spec, "table")),
          keys_(spec_string_list(spec, "key_columns")),
          set_clause_(spec_string(spec, "set_clause")),
          where_(spec_optional_string(spec, "where_clause").value_or("")) {}

    int64_t run_batch(BatchContext& ctx) override {
        const Dialect& d = ctx.engine.dialect();
        // Checked at registration; again before every batch, lexically and by
        // the engine's parser (never run), for registry rows written another way.
        check_stored_fragment(ctx.engine, FragmentKind::SetList, table_, set_clause_, "set_clause of '" + ctx.update_name + "'");
        if (!where_.empty())
            check_stored_fragment(ctx.engine, FragmentKind::Condition, table_, where_, "where_clause of '" + ctx.update_name + "'");
        const std::string what = "progress lower_bound of '" + ctx.update_name + "'";
        std::optional<Row> lower;
        Json bound = ctx.progress.at("lower_bound");
        if (!bound.is_null()) lower = json_to_values(bound, what);
        KeysetBatch batch = next_keyset_batch(ctx.engine, table_, keys_, lower, ctx.batch_size, what);
        int64_t changed = ctx.engine.exec("UPDATE " + d.table(table_) + " SET " + compose_set_list(set_clause_) +
                                          "WHERE " + batch.range +
                                          (where_.empty() ? "" : " AND " + compose_condition(where_)));
        if (!batch.upper) {
            ctx.complete();
            return changed;
        }
        Json p = ctx.progress;
        p.set("lower_bound", values_to_json(*batch.upper));
        ctx.save_progress(p);
        return ctx.batch_size;  // rows covered, matching the filter or not: what the batch cost
    }

    std::optional<int64_t> estimate_total(Engine& engine) override { return table_rows(engine, table_); }
    bool estimate_is_rough(Engine& engine) override { return !table_has_statistics(engine, table_); }

private:
    std::string table_;
    std::vector<std::string> keys_;
    std::string set_clause_, where_;
};

}  // namespace

std::unique_ptr<Handler> make_batched_update_handler(const Json& spec) {
    return std::make_unique<BatchedUpdateHandler>(spec);
}

}  // namespace bgupdate
