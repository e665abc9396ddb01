// Synapse's constraint validation: PostgreSQL ALTER TABLE … VALIDATE
// CONSTRAINT; SQLite has no NOT VALID constraints, so it completes as a no-op
// (kept so that the same deltas run on both engines).
// A partitioned table is validated partition by partition, one leaf per
// batch (each scan is its own transaction, with its own progress entry):
// PostgreSQL lets a CHECK constraint be validated on each partition, and the
// table's own VALIDATE then skips the partitions already validated, so the
// last batch scans nothing. (PostgreSQL 15 refuses a NOT VALID foreign key on
// a partitioned table, so a foreign key there is always valid already.)
#include "../dialect.h"
#include "../partitions.h"
#include "handler.h"
#include "../errors.h"
#include "../registration.h"
#include "../sql_arguments.h"

namespace bgupdate {
namespace {

class ValidateConstraintHandler : public Handler {
public:
    explicit ValidateConstraintHandler(const Json& spec)
        : constraint_(spec_string(spec, "constraint_name")), table_(spec_string(spec, "table")) {}

    int64_t run_batch(BatchContext& ctx) override {
        const Dialect& d = ctx.engine.dialect();
        if (auto validate = d.validate_constraint_sql(d.table(table_), constraint_); !validate.empty()) {
            if (auto sql = d.unvalidated_partitions_sql(table_, constraint_); !sql.empty()) {
                auto rows = ctx.engine.query(sql);
                if (!rows.empty()) {
                    std::string leaf = quoted_relation(d, rows[0][0].as_text(), rows[0][1].as_text());
                    ctx.engine.exec_unbounded(d.validate_constraint_sql(leaf, constraint_));
                    Json p = ctx.progress.deep_copy();
                    Json parts = p.at("partitions");
                    if (!parts.is_object()) {
                        parts = Json::object();
                        p.set("partitions", parts);
                    }
                    parts.set((rows[0][0].as_text() + "." + rows[0][1].as_text()).c_str(), "validated");
                    ctx.save_progress(p);
                    return 1;
                }
            }
            ctx.engine.exec_unbounded(validate);
        }
        ctx.complete();
        return 1;
    }
    // One item per partition still to validate, plus the table's own step.
    std::optional<int64_t> estimate_total(Engine& engine) override {
        const Dialect& d = engine.dialect();
        auto sql = d.unvalidated_partitions_sql(table_, constraint_);
        if (sql.empty()) return 1;
        return static_cast<int64_t>(engine.query(sql).size()) + 1;
    }

private:
    std::string constraint_, table_;
};

}  // namespace

std::unique_ptr<Handler> make_validate_constraint_handler(const Json& spec) {
    return std::make_unique<ValidateConstraintHandler>(spec);
}


// ---- registration (register_validate_constraint)

void register_validate_constraint(Registrar& r, const RegistrationArguments& args) {
    std::string update_name = args.text("update_name");
    std::string constraint_name = args.text("constraint_name");
    std::string table = args.text("table");
    Registrar::require_name(update_name, "update_name");
    Registrar::require_name(constraint_name, "constraint_name");
    r.require_table(table);
    Json spec = Json::object();
    spec.set("constraint_name", constraint_name);
    spec.set("table", table);
    r.pin_table(spec, table);
    r.save(update_name, HandlerKind::ValidateConstraint, spec);
}

}  // namespace bgupdate
