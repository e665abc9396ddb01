#include "version.h"

// common/Makefile defines BGUPDATE_VERSION from ../VERSION and rebuilds this
// file when it changes; a build that forgot to is refused here.
#ifndef BGUPDATE_VERSION
#error "BGUPDATE_VERSION is not defined: build with common/Makefile (it reads the top-level VERSION file)"
#endif

namespace bgupdate {

const char* version() { return BGUPDATE_VERSION; }

}  // namespace bgupdate
