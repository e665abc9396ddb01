// User SQL fragments (a batched update's SET list and condition, an index
// update's condition) are pasted into statements the core composes. Before
// anything is run, each is checked to be one piece, never executed:
//   1. here, lexically, the same on both engines: not empty, no NUL byte, no
//      unterminated string, identifier, comment or dollar quote (an open
//      comment would swallow the key range after it), parentheses balanced
//      at every point (a ')' may not close the parenthesis the core opens
//      around a condition), no ';' outside strings and comments, and on
//      PostgreSQL no backslash in a '...' string (where it ends would depend
//      on standard_conforming_strings; E'...' is unambiguous);
//   2. by the engine's own parser (Engine::check_fragment): exactly one
//      condition / one SET list of that table, with no FROM, WHERE or
//      RETURNING smuggled in, and the names and types resolved (typos fail).
// At run time every fragment is composed as below: a newline after it (a
// trailing `--` comment ends there) and conditions inside parentheses.
#pragma once

#include <string>

#include "dialect.h"
#include "engine.h"

namespace bgupdate {

enum class FragmentKind { Condition, IndexPredicate, SetList };

// Throws BadInput naming `what` (e.g. "where_clause of 'x'") and the problem.
void check_fragment_text(const std::string& fragment, const std::string& what, Dialect::Kind kind);

// Both checks (lexical, then the engine's parser) on a fragment read from the
// registry before a batch runs it: a row written there directly (not through
// register_*) is held to the same rules. Throws BadInput naming `what`.
void check_stored_fragment(Engine& engine, FragmentKind kind, const std::string& table, const std::string& fragment,
                           const std::string& what);

// How a checked fragment is pasted into a statement.
inline std::string compose_condition(const std::string& fragment) { return "(\n" + fragment + "\n)"; }
inline std::string compose_set_list(const std::string& fragment) { return fragment + "\n"; }

}  // namespace bgupdate
