# Build settings for ctnn's own targets: tests, examples, benchmarks and header tests.
# None of this reaches ctnn::ctnn, so consumers never inherit our warnings or sanitizers.

if(MSVC)
    set(CTNN_WARNING_FLAGS /W4 /permissive-)
else()
    set(CTNN_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow)
endif()
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12/13 report out-of-bounds accesses inside libstdc++ (e.g. memmove in vector::insert)
    # that only exist on paths the optimizer invents at -O2/-O3. Keep them as warnings, not errors.
    list(APPEND CTNN_WARNING_FLAGS -Wno-error=array-bounds -Wno-error=stringop-overflow
                                   -Wno-error=stringop-overread -Wno-error=restrict)
    if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm)")
        # GCC for ARM notes every small aggregate passed by value whose calling convention
        # changed in GCC 10 (-Wpsabi): only code mixing objects of GCC < 10 and >= 10 is affected,
        # and ctnn is header-only, compiled by one compiler.
        list(APPEND CTNN_WARNING_FLAGS -Wno-psabi)
    endif()
endif()

# GCC's garbage collector runs whenever its heap grew by ggc-min-expand percent over
# ggc-min-heapsize (KiB), by default sized for small machines: a test TU that instantiates many
# models spent ~10% of its compile collecting. Collecting only past 2 GiB: tests/unit/conv.cpp
# 44.9 -> 38.9 s at -O1 (ci), 43.9 -> 40.3 s at -O0 with ASan; peak memory 1.8 -> 2.2 GiB per
# compile (docs/building.md); no gain measured for nvcc (its host compile is a small part of a
# .cu file's time). Only ctnn's own C++ targets: consumers never see it.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    set(CTNN_GCC_MEMORY_FLAGS --param=ggc-min-expand=400 --param=ggc-min-heapsize=2097152)
else()
    set(CTNN_GCC_MEMORY_FLAGS "")
endif()

# ctnn_sanitize(<target> <sanitizers>)
#
# Compiles and links <target> with -fsanitize=<sanitizers> (a comma-separated list, e.g.
# address,undefined): every target under CTNN_SANITIZE, the unit tests alone under
# CTNN_UNIT_TEST_SANITIZE (tests/CMakeLists.txt).
function(ctnn_sanitize target sanitizers)
    # -fno-sanitize-recover: a UBSan finding ends the program, so the test fails.
    set(flags -fsanitize=${sanitizers} -fno-sanitize-recover=all -fno-omit-frame-pointer)
    target_compile_options(${target} PRIVATE ${flags})
    target_link_options(${target} PRIVATE ${flags})
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        # GCC's variable tracking of assignments (on with -g at -O1 and above) is superlinear
        # in function size, and ASan's checks make the unrolled SIMD kernels large: without
        # it a unit test with the CNN's convolution kernels compiled in 52 s instead of 335 s.
        # Reports keep their file:line stack traces; only some locals print as <optimized out>.
        target_compile_options(${target} PRIVATE -fno-var-tracking-assignments)
        if(sanitizers MATCHES "address")
            # ASan's checks as calls (__asan_load4, ...) rather than inline code: the same
            # checks and reports, compiled ~18% faster (tests/unit/conv.cpp at -O0: 52 s ->
            # 43 s; without any sanitizer 35 s), run somewhat slower.
            target_compile_options(${target} PRIVATE
                                   --param=asan-instrumentation-with-call-threshold=0)
        endif()
    endif()
endfunction()

# ctnn_target_defaults(<target> [NO_SANITIZE] [WERROR])
#
# Links ctnn::ctnn, turns off compiler extensions, adds CTNN_WARNING_FLAGS (as errors when
# CTNN_WARNINGS_AS_ERRORS is ON, or always with WERROR) and the CTNN_SANITIZE sanitizers (unless
# NO_SANITIZE).
function(ctnn_target_defaults target)
    cmake_parse_arguments(PARSE_ARGV 1 arg "NO_SANITIZE;WERROR" "" "")
    target_link_libraries(${target} PRIVATE ctnn::ctnn)
    target_compile_options(${target} PRIVATE ${CTNN_WARNING_FLAGS} ${CTNN_GCC_MEMORY_FLAGS})
    # The target CPU (a cross build's -mcpu, CTNN_CPU_FLAGS): tests run on it too.
    target_compile_options(${target} PRIVATE ${CTNN_CPU_FLAG_LIST})
    if(arg_WERROR OR CTNN_WARNINGS_AS_ERRORS)
        if(CMAKE_VERSION VERSION_LESS 3.24)
            # CMake 3.22 (Ubuntu 22.04, JetPack 6) has no COMPILE_WARNING_AS_ERROR.
            target_compile_options(${target} PRIVATE $<IF:$<CXX_COMPILER_ID:MSVC>,/WX,-Werror>)
        else()
            set_property(TARGET ${target} PROPERTY COMPILE_WARNING_AS_ERROR ON)
        endif()
    endif()
    set_property(TARGET ${target} PROPERTY CXX_EXTENSIONS OFF)
    if(CTNN_SANITIZE AND NOT arg_NO_SANITIZE)
        ctnn_sanitize(${target} "${CTNN_SANITIZE}")
    endif()
endfunction()

# ctnn_add_executable(<name> <source> [NO_SANITIZE])
#
# One program from one source file, with ctnn_target_defaults.
function(ctnn_add_executable name source)
    add_executable(${name} "${source}")
    ctnn_target_defaults(${name} ${ARGN})
endfunction()

# ctnn_speed_flags(<target>)
#
# With CTNN_NATIVE_ARCH (the default for a top-level build that is not cross-compiling), compiles
# <target> for this CPU (-march=native: AVX2/AVX-512 for Eigen's GEMM); with it or CTNN_CPU_FLAGS
# (a named target CPU, which ctnn_target_defaults adds to every target) also -fno-math-errno
# (lets GCC vectorize the sqrt in the Adam update). Used for examples and benchmarks; tests stay
# portable.
function(ctnn_speed_flags target)
    if((CTNN_NATIVE_ARCH OR CTNN_CPU_FLAGS) AND NOT MSVC)
        target_compile_options(${target} PRIVATE -fno-math-errno)
    endif()
    if(CTNN_NATIVE_ARCH AND NOT MSVC)
        target_compile_options(${target} PRIVATE -march=native)
        if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
            # GCC 12's own avx512fintrin.h (_mm512_unpacklo_ps, inlined into Eigen's GEMM packing)
            # trips -Wmaybe-uninitialized on AVX-512 machines: a known false positive of GCC 12
            # (its `__m512 __Y = __Y;` idiom), not a finding in ctnn or Eigen.
            target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
        endif()
    endif()
endfunction()
