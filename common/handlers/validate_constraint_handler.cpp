// Synapse's constraint validation: PostgreSQL ALTER TABLE … VALIDATE
// CONSTRAINT; SQLite has no NOT VALID constraints, so it completes as a no-op
// (kept so that the same deltas run on both engines).
#include "../dialect.h"
#include "handler.h"

namespace bgupdate {
namespace {

class ValidateConstraintHandler : public Handler {
public:
    explicit ValidateConstraintHandler(const Json& spec)
        : constraint_(spec_string(spec, "constraint_name")), table_(spec_string(spec, "table")) {}

    int64_t run_batch(BatchContext& ctx) override {
        const Dialect& d = ctx.engine.dialect();
        if (d.is_postgres())
            ctx.engine.exec_unbounded("ALTER TABLE " + d.table(table_) + " VALIDATE CONSTRAINT " + d.ident(constraint_));
        ctx.complete();
        return 1;
    }
    std::optional<int64_t> estimate_total(Engine&) override { return 1; }

private:
    std::string constraint_, table_;
};

}  // namespace

std::unique_ptr<Handler> make_validate_constraint_handler(const Json& spec) {
    return std::make_unique<ValidateConstraintHandler>(spec);
}

}  // namespace bgupdate
