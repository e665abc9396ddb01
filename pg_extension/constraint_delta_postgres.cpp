#include "constraint_delta_postgres.h"

#include "batch_transaction.h"
#include "constraint.h"
#include "dialect.h"
#include "registration.h"
#include "store.h"

namespace bgupdate_pg {

using namespace bgupdate;

int64_t NotValidConstraintDelta::add_constraint_and_enqueue(const ConstraintDeltaArgs& a, const Settings& settings) {
    Engine& engine = engine_;
    const Dialect& d = engine.dialect();
    Registrar checks(engine);
    Registrar::require_name(a.update_name, "update_name");
    Registrar::require_name(a.constraint_name, "constraint_name");
    Constraint c = Constraint::parse(a.constraint_json);
    checks.require_columns(a.table, c.own_columns(), "constraint column");
    Store store(engine);
    in_batch(engine, settings, [&] {
        engine.exec("ALTER TABLE " + d.table(a.table) + " ADD CONSTRAINT " + d.ident(a.constraint_name) + " " +
                    c.clause(d) + " NOT VALID");
        store.enqueue(QueueRow{a.update_name, "{}", std::nullopt, a.ordering});
    });
    return 0;
}

}  // namespace bgupdate_pg
