#include "partitions.h"

namespace bgupdate {

std::vector<PartitionNode> SqlRole::partition_tree(const std::string& table) {
    std::string sql = dialect().partition_tree_sql(table);
    std::vector<PartitionNode> out;
    if (sql.empty()) return out;
    for (auto& r : query(sql)) {
        PartitionNode n;
        n.schema = r[0].as_text();
        n.name = r[1].as_text();
        n.parent_schema = r[2].as_text();
        n.parent = r[3].as_text();
        n.leaf = r[4].kind == Value::Kind::Text ? (r[4].text == "t" || r[4].text == "true") : r[4].as_int() != 0;
        n.level = static_cast<int>(r[5].as_int());
        out.push_back(std::move(n));
    }
    return out;
}

std::vector<PartitionNode> leaf_partitions(const std::vector<PartitionNode>& tree) {
    std::vector<PartitionNode> out;
    for (auto& n : tree)
        if (n.leaf) out.push_back(n);
    return out;
}

std::optional<PartitionNode> find_partition(const std::vector<PartitionNode>& tree, const std::string& qualified) {
    for (auto& n : tree)
        if (n.qualified() == qualified) return n;
    return std::nullopt;
}

std::string quoted_relation(const Dialect& d, const std::string& schema, const std::string& name) {
    return schema.empty() ? d.ident(name) : d.ident(schema) + "." + d.ident(name);
}

std::string quoted_relation(const Dialect& d, const PartitionNode& node) {
    return quoted_relation(d, node.schema, node.name);
}

std::string relation_of(const std::string& table) {
    auto dot = table.find('.');
    if (dot != std::string::npos && table.find('.', dot + 1) == std::string::npos) return table.substr(dot + 1);
    return table;
}

std::string partition_as_parent(const Dialect& d, const PartitionNode& leaf, const std::string& parent_table) {
    return quoted_relation(d, leaf) + " AS " + d.ident(relation_of(parent_table));
}

}  // namespace bgupdate
