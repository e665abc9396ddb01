#include "keyset.h"

#include "../dialect.h"
#include "../errors.h"

namespace bgupdate {

static std::string row_literal(const Dialect& d, const Row& row) {
    std::vector<std::string> parts;
    for (auto& v : row) parts.push_back(d.literal(v));
    return join(parts, ", ");
}

// SQLite orders values of different storage classes NULL < numbers < text <
// blob: a bound of a later class than every key (the text 'abc' for integer
// keys) is past all rows, and the scan would complete having touched none.
static int storage_rank(const std::string& type) {
    if (type == "null") return 0;
    if (type == "integer" || type == "real") return 1;
    if (type == "text") return 2;
    return 3;
}

static int value_rank(const Value& v) {
    switch (v.kind) {
        case Value::Kind::Null: return 0;
        case Value::Kind::Integer:
        case Value::Kind::Real: return 1;
        case Value::Kind::Text: return 2;
    }
    return 3;
}

static void require_bound_of_key_type(Engine& engine, const std::string& from, const std::vector<std::string>& keys,
                                      const Row& lower, const std::string& what) {
    const Dialect& d = engine.dialect();
    std::vector<std::string> types, order;
    for (auto& k : keys) {
        types.push_back("typeof(" + d.ident(k) + ")");
        order.push_back(d.ident(k) + " DESC");
    }
    auto rows = engine.query("SELECT " + join(types, ", ") + " FROM " + from + " ORDER BY " +
                             join(order, ", ") + " LIMIT 1");
    if (rows.empty()) return;
    for (size_t i = 0; i < keys.size(); ++i) {
        int bound = value_rank(lower[i]), last = storage_rank(rows[0][i].as_text());
        if (bound < last) return;
        if (bound > last)
            bad_input(what + " holds " + d.literal(lower[i]) + " for key column '" + keys[i] + "', which holds " +
                      rows[0][i].as_text() + " values: the bound is of the wrong type");
    }
}

static std::string key_tuple(const Dialect& d, const std::vector<std::string>& keys) {
    std::vector<std::string> quoted;
    for (auto& k : keys) quoted.push_back(d.ident(k));
    return keys.size() == 1 ? quoted[0] : "(" + join(quoted, ", ") + ")";
}

// "key <op> (values)" for a bound of the key's arity, the values inlined.
static std::string compare(const Dialect& d, const std::vector<std::string>& keys, const char* op, const Row& bound) {
    std::string lit = row_literal(d, bound);
    return key_tuple(d, keys) + " " + op + " " + (keys.size() == 1 ? lit : "(" + lit + ")");
}

// The same with the values bound: the statement's text is then the same
// from one batch to the next, and prepared once.
static std::string compare(const std::vector<std::string>& keys, const char* op, const Row& bound,
                           BoundValues& values) {
    std::vector<std::string> holes;
    for (auto& v : bound) holes.push_back(values.add(v));
    std::string list = join(holes, ", ");
    return key_tuple(values.dialect(), keys) + " " + op + " " + (keys.size() == 1 ? list : "(" + list + ")");
}

std::string keyset_range_predicate(const Dialect& d, const KeysetScope& scope, const std::vector<std::string>& keys) {
    std::vector<std::string> preds;
    if (scope.min) preds.push_back(compare(d, keys, ">=", *scope.min));
    if (scope.max) preds.push_back(compare(d, keys, "<=", *scope.max));
    return preds.empty() ? "TRUE" : join(preds, " AND ");
}

std::optional<Row> largest_key(Engine& engine, const std::string& from, const std::vector<std::string>& keys) {
    const Dialect& d = engine.dialect();
    std::vector<std::string> quoted, order;
    for (auto& k : keys) {
        quoted.push_back(d.ident(k));
        order.push_back(d.ident(k) + " DESC");
    }
    auto rows = engine.query("SELECT " + join(quoted, ", ") + " FROM " + from + " ORDER BY " + join(order, ", ") +
                             " LIMIT 1");
    if (rows.empty()) return std::nullopt;
    return rows[0];
}

KeysetBatch next_keyset_batch(Engine& engine, const KeysetScope& scope, const std::vector<std::string>& keys,
                              const std::optional<Row>& lower, int64_t batch_size, const std::string& what) {
    const Dialect& d = engine.dialect();
    std::vector<std::string> quoted;
    for (auto& k : keys) quoted.push_back(d.ident(k));
    std::string key_list = join(quoted, ", ");

    if (lower) {
        if (lower->size() != keys.size())
            bad_input(what + " has " + std::to_string(lower->size()) + " values but the key has " +
                      std::to_string(keys.size()) + " columns");
        for (size_t i = 0; i < keys.size(); ++i)
            if ((*lower)[i].is_null())
                bad_input(what + " holds null for key column '" + keys[i] + "': keys are never NULL");
    }
    // The batch's start and the fixed end of the range (rows added beyond it
    // are not this update's), written with the values of `values`.
    auto start_and_end = [&](BoundValues& values, bool with_end) {
        std::vector<std::string> preds;
        if (lower) preds.push_back(compare(keys, ">", *lower, values));
        else if (scope.min) preds.push_back(compare(keys, ">=", *scope.min, values));
        if (with_end && scope.max) preds.push_back(compare(keys, "<=", *scope.max, values));
        return preds;
    };

    BoundValues probe_values(d);
    std::vector<std::string> probe_preds = start_and_end(probe_values, true);
    std::string where = probe_preds.empty() ? "" : " WHERE " + join(probe_preds, " AND ");
    // The offset is bound too: the batch size changes from batch to batch.
    const std::string offset = probe_values.add(Value::of(batch_size - 1));
    auto rows = engine.query("SELECT " + key_list + " FROM " + scope.from + where + " ORDER BY " + key_list +
                                 " LIMIT 1 OFFSET " + offset,
                             probe_values.values());
    // The last batch of a scan: make sure it is the last because the keys ran
    // out, not because the bound is of a type that sorts after every key.
    if (rows.empty() && lower && d.is_sqlite()) require_bound_of_key_type(engine, scope.from, keys, *lower, what);
    KeysetBatch batch;
    BoundValues values(d);
    // With a batch end, a fixed max is implied (upper <= max).
    std::vector<std::string> preds = start_and_end(values, rows.empty());
    if (!rows.empty()) {
        batch.upper = rows[0];
        preds.push_back(compare(keys, "<=", *batch.upper, values));
    }
    batch.range = preds.empty() ? "TRUE" : join(preds, " AND ");
    batch.params = values.values();
    return batch;
}

}  // namespace bgupdate
