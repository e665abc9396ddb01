// The one bgupdate version (the top-level VERSION file, passed in by the
// build): the PostgreSQL extension's SQL version, the library that checks it,
// the SQLite extension's bgupdate_version() and the tool's --version.
#pragma once

namespace bgupdate {

const char* version();

}  // namespace bgupdate
