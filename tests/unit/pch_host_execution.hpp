// Precompiled for the unit tests that run the CUDA backend on the CPU (cuda_*.cpp, nan_cuda.cpp;
// tests/CMakeLists.txt, CTNN_UNIT_TEST_PCH): ctnn with CTNN_HOST_EXECUTION, as those tests
// define it before their first include.
#pragma once
#define CTNN_HOST_EXECUTION 1 // as cuda_checks.hpp and nan_cuda.cpp define it
#include "pch.hpp"
