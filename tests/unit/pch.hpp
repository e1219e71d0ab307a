// Precompiled for the unit tests (tests/CMakeLists.txt, CTNN_UNIT_TEST_PCH): what nearly every
// test includes, parsed once per build instead of once per test (~5 s of each test's compile).
// Only headers whose meaning does not depend on the including test: no CTNN_ macro is set here.
#pragma once
#include <ctnn/ctnn.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>
