// Synapse's validate_constraint_and_delete_rows: scan the table in key order
// in batches, deleting rows that break the constraint ("check"), then
// validate it ("validate"). If validation still finds a bad row (one slipped
// in before the constraint existed), scan again from the start.
// Progress: {"state": "check"|"validate", "lower_bound": [...]}.
#include "../constraint.h"
#include "../dialect.h"
#include "../errors.h"
#include "handler.h"
#include "keyset.h"

namespace bgupdate {
namespace {

class ValidateAndDeleteRowsHandler : public Handler {
public:
    explicit ValidateAndDeleteRowsHandler(const Json& spec)
        : table_(spec_string(spec, "table")),
          constraint_name_(spec_string(spec, "constraint_name")),
          constraint_(Constraint::parse(spec.at("constraint").dump())),
          keys_(spec_string_list(spec, "unique_columns")) {}

    int64_t run_batch(BatchContext& ctx) override {
        auto state = ctx.progress.get_string("state").value_or("check");
        if (state == "validate") return validate(ctx);
        if (state != "check")
            bad_input("progress of '" + ctx.update_name + "' has state '" + state + "' (expected check or validate)");
        return check(ctx);
    }

    std::optional<int64_t> estimate_total(Engine& engine) override { return table_rows(engine, table_); }
    bool estimate_is_rough(Engine& engine) override { return !table_has_statistics(engine, table_); }

private:
    int64_t check(BatchContext& ctx) {
        const Dialect& d = ctx.engine.dialect();
        const std::string what = "progress lower_bound of '" + ctx.update_name + "'";
        std::optional<Row> lower;
        Json bound = ctx.progress.at("lower_bound");
        if (!bound.is_null()) lower = json_to_values(bound, what);
        KeysetBatch batch = next_keyset_batch(ctx.engine, table_, keys_, lower, ctx.batch_size, what);
        ctx.engine.exec("DELETE FROM " + d.table(table_) + " WHERE " + batch.range + " AND NOT (" +
                        constraint_.row_check(d, table_) + ")");
        Json p = Json::object();
        if (batch.upper) {
            p.set("state", "check");
            p.set("lower_bound", values_to_json(*batch.upper));
            ctx.save_progress(p);
            return ctx.batch_size;
        }
        p.set("state", "validate");
        ctx.save_progress(p);
        return ctx.engine.query("SELECT count(*) FROM " + d.table(table_) + " WHERE " + batch.range)[0][0].as_int();
    }

    int64_t validate(BatchContext& ctx) {
        const Dialect& d = ctx.engine.dialect();
        if (d.is_postgres()) {
            try {
                ctx.engine.exec("ALTER TABLE " + d.table(table_) + " VALIDATE CONSTRAINT " + d.ident(constraint_name_));
            } catch (const Error& e) {
                if (e.kind() != ErrorKind::Integrity) throw;
                // A bad row got in before the constraint existed: scan again from the start.
                throw ProgressReset{"{\"state\":\"check\"}", std::string("validation found rows breaking ") +
                                                                  constraint_name_ + ", rescanning: " + e.what()};
            }
        }
        ctx.complete();
        return 0;
    }

    std::string table_, constraint_name_;
    Constraint constraint_;
    std::vector<std::string> keys_;
};

}  // namespace

std::unique_ptr<Handler> make_validate_and_delete_rows_handler(const Json& spec) {
    return std::make_unique<ValidateAndDeleteRowsHandler>(spec);
}

}  // namespace bgupdate
