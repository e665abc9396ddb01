// Every file of the extension reaches SQLite through the routine table that
// sqlite3_load_extension hands to our entry point (sqlite3ext.h); the .so
// never links libsqlite3. extension_entry.cpp defines the table pointer
// (SQLITE_EXTENSION_INIT1); everyone else includes this header.
#pragma once

#include <sqlite3ext.h>

#ifndef BGUPDATE_EXTENSION_ENTRY
SQLITE_EXTENSION_INIT3
#endif
