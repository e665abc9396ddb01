// bgupdate.version(): the version of the loaded library (the top-level
// VERSION file), next to pg_extension.extversion, the installed SQL's. After
// a package upgrade they differ until ALTER EXTENSION bgupdate UPDATE, and the
// library refuses to work until then (sql_functions.cpp).
#include "pg_headers.h"
#include "version.h"

extern "C" {
PG_FUNCTION_INFO_V1(bgupdate_library_version);
// No C++ object lives here: an out-of-memory error may longjmp out safely.
Datum bgupdate_library_version(PG_FUNCTION_ARGS) { PG_RETURN_TEXT_P(cstring_to_text(bgupdate::version())); }
}
