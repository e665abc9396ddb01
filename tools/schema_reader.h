// Reads schema directories from disk into the core's SchemaDirectory:
//   DIR/full_schemas/<version>/*   and   DIR/delta/<version>/*   (one directory, Synapse's layout)
//   DIR/{common,main,state,…}/…     (a parent of such directories: each child is one)
//   DIR/<version>/*                 (a plain directory of per-version deltas)
#pragma once

#include <string>
#include <vector>

#include "schema_migration.h"

namespace bgtool {

std::vector<bgupdate::SchemaDirectory> read_schema_directories(const std::vector<std::string>& paths);
std::string read_file(const std::string& path);

}  // namespace bgtool
