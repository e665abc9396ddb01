#!/usr/bin/python3
"""tools/bgupdate.1 documents the tool as built: every command and option the
tool's --help lists (and none it does not have), every exit code of
tools/exit_codes.h, and it renders with man(1) without warnings.

Run by test/tools/run.sh; ends with "N passed, N failed"."""
import os
import re
import subprocess
import sys
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
TOOL = os.path.join(REPO, "tools", "bgupdate")
PAGE = os.path.join(REPO, "tools", "bgupdate.1")


def deroff(line):
    """Text of one roff line: no macro name, font escapes or quotes."""
    line = re.sub(r"^\.[A-Z]+\s*", "", line)
    line = re.sub(r"\\f[BIRP]", "", line).replace("\\-", "-").replace("\\e", "\\")
    return line.replace('"', "").strip()


def sections(source):
    out, name = {}, None
    for line in source.splitlines():
        if line.startswith(".SH "):
            name = deroff(line)
            out[name] = []
        elif name:
            out[name].append(line)
    return out


def tags(lines):
    """The tag line of each .TP item (and .TQ, its extra tags)."""
    return [deroff(lines[i + 1]) for i, line in enumerate(lines[:-1]) if line.strip() in (".TP", ".TQ")]


def help_of(*args):
    r = subprocess.run([TOOL, *args, "--help"], capture_output=True, text=True)
    return r.stdout


def subcommands():
    text = help_of()
    block = text.split("Subcommands:", 1)[1]
    return [m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]*)\s", block, re.M)]


def options(text):
    return set(re.findall(r"^\s+(?:-[a-z],)?(--[a-z][a-z-]*)", text, re.M))


class ManPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(PAGE, encoding="utf-8") as f:
            cls.source = f.read()
        cls.sections = sections(cls.source)

    def test_every_command_is_documented_and_no_other(self):
        documented = {t.split()[0] for t in tags(self.sections["COMMANDS"])
                      if not t.startswith("-")}
        self.assertEqual(documented, set(subcommands()))

    def test_every_option_is_documented_and_no_other(self):
        have = options(help_of())
        for cmd in subcommands():
            have |= options(help_of(cmd))
        page = set(re.findall(r"--[a-z][a-z-]*", self.source.replace("\\-", "-")))
        self.assertEqual(page, have)

    def test_each_command_options_are_under_it_or_common(self):
        common = {t.split()[0] for t in tags(self.sections["COMMON OPTIONS"])}
        common |= {w.strip(",") for t in tags(self.sections["COMMON OPTIONS"]) for w in t.split() if w.startswith("--")}
        lines = self.sections["COMMANDS"]
        for cmd in subcommands():
            # The command's item: its .TP up to the next command's .TP (options sit in its .RS block).
            text, inside = [], False
            for i, line in enumerate(lines):
                if line.strip() == ".TP" and i + 1 < len(lines) and not deroff(lines[i + 1]).startswith("-"):
                    inside = deroff(lines[i + 1]).split()[0] == cmd
                if inside:
                    text.append(line)
            own = set(re.findall(r"--[a-z][a-z-]*", "\n".join(text).replace("\\-", "-")))
            for opt in options(help_of(cmd)):
                self.assertTrue(opt in own or opt in common, f"{cmd} {opt} is not documented under {cmd}")

    def test_every_exit_code_is_documented(self):
        with open(os.path.join(REPO, "tools", "exit_codes.h"), encoding="utf-8") as f:
            codes = set(re.findall(r"^\s+k\w+ = ([0-9]+),", f.read(), re.M))
        self.assertEqual(set(tags(self.sections["EXIT STATUS"])), codes)

    def test_help_names_the_same_exit_codes(self):
        text = help_of()
        for code in tags(self.sections["EXIT STATUS"]):
            self.assertRegex(text, rf"\b{code} [a-z]")

    def test_renders_without_warnings(self):
        env = dict(os.environ, MANWIDTH="80", MANPAGER="cat", LC_ALL="C.UTF-8")
        r = subprocess.run(["man", "--warnings", "-l", PAGE], capture_output=True, text=True, env=env)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        for heading in ("NAME", "SYNOPSIS", "COMMANDS", "COMMON OPTIONS", "EXIT STATUS", "ENVIRONMENT"):
            self.assertRegex(r.stdout, rf"(?m)^{heading}$")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    print(f"{result.testsRun - failed - skipped} passed, {failed + skipped} failed")
    sys.exit(1 if failed or skipped else 0)
