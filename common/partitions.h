// Declarative partitions of a table (PostgreSQL; SQLite has none): the tree
// as the engine reports it (Engine::partition_tree), and what the handlers
// that work partition by partition share.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dialect.h"
#include "engine.h"

namespace bgupdate {

// The leaf partitions of a tree (the tables that hold rows), in tree order.
std::vector<PartitionNode> leaf_partitions(const std::vector<PartitionNode>& tree);
// The node named "schema.name" (PartitionNode::qualified), if it is in the tree.
std::optional<PartitionNode> find_partition(const std::vector<PartitionNode>& tree, const std::string& qualified);
// "schema"."name", quoted for SQL.
std::string quoted_relation(const Dialect& d, const std::string& schema, const std::string& name);
std::string quoted_relation(const Dialect& d, const PartitionNode& node);
// The relation name of a user table name ("schema.table" -> "table"), split
// as Dialect::table splits it; what table claims are keyed on.
std::string relation_of(const std::string& table_name);
// A partition read as its parent: `"schema"."leaf" AS "parent"`, so that a
// fragment written against the parent (a set_clause naming parent.column)
// resolves the same way in a batch on one partition.
std::string partition_as_parent(const Dialect& d, const PartitionNode& leaf, const std::string& parent_table);

}  // namespace bgupdate
