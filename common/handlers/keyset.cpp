#include "keyset.h"

#include "../dialect.h"
#include "../errors.h"

namespace bgupdate {

static std::string row_literal(const Dialect& d, const Row& row) {
    std::vector<std::string> parts;
    for (auto& v : row) parts.push_back(d.literal(v));
    return join(parts, ", ");
}

KeysetBatch next_keyset_batch(Engine& engine, const std::string& table, const std::vector<std::string>& keys,
                              const std::optional<Row>& lower, int64_t batch_size) {
    const Dialect& d = engine.dialect();
    std::vector<std::string> quoted;
    for (auto& k : keys) quoted.push_back(d.ident(k));
    std::string key_list = join(quoted, ", ");
    std::string key_tuple = keys.size() == 1 ? key_list : "(" + key_list + ")";

    std::vector<std::string> preds;
    if (lower) {
        if (lower->size() != keys.size())
            bad_input("progress lower_bound has " + std::to_string(lower->size()) + " values but the key has " +
                      std::to_string(keys.size()) + " columns");
        std::string lit = row_literal(d, *lower);
        preds.push_back(key_tuple + " > " + (keys.size() == 1 ? lit : "(" + lit + ")"));
    }
    std::string where = preds.empty() ? "" : " WHERE " + join(preds, " AND ");

    auto rows = engine.query("SELECT " + key_list + " FROM " + d.table(table) + where + " ORDER BY " + key_list +
                             " LIMIT 1 OFFSET " + std::to_string(batch_size - 1));
    KeysetBatch batch;
    if (!rows.empty()) {
        batch.upper = rows[0];
        std::string lit = row_literal(d, rows[0]);
        preds.push_back(key_tuple + " <= " + (keys.size() == 1 ? lit : "(" + lit + ")"));
    }
    batch.range = preds.empty() ? "TRUE" : join(preds, " AND ");
    return batch;
}

}  // namespace bgupdate
