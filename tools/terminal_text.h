// Text that came from the database (update names, errors, hold reasons) is
// escaped before the tool prints it for a person: any role can queue an
// update named "\e[2J\e[1;1Hall complete", and a terminal would obey it.
// --json output is escaped by JSON itself and does not go through here.
#pragma once

#include <string>

namespace bgtool {

// `text` with every character that a terminal would act on written as an
// escape: C0 controls and DEL (\n, \r, \t, \e spelled \x1b, ...), C1 controls
// (U+0080..U+009F, \u009b), Unicode line separators and bidirectional
// overrides (\u202e), bytes that are not UTF-8 (\xff); a backslash doubles,
// so that what is printed is unambiguous.
std::string for_terminal(const std::string& text);

}  // namespace bgtool
